package events

import "fmt"

// Kind numbers an event type in the log. The numbers are part of the file
// format: never renumber or reuse one.
type Kind uint16

// The event kinds. KindInvalid is never written.
const (
	KindInvalid Kind = iota
	KindGenesis
	KindTick
	KindPingReceived
	KindProposalReceived
	KindSigningSetReceived
	KindChecksumReceived
	KindKeygenCommitReceived
	KindKVEntryReceived
	KindTSSMessageReceived
	KindMessageSent
	KindStakeChecked
	KindDepositObserved
	KindTxConfirmed
	KindTSSSessionStarted
	KindTSSSessionFinished
	KindKeyPublished
	KindKeyAnnouncementReceived
	KindCulpritReportReceived
	KindEvidenceReceived

	// kindCount is one past the highest kind this version knows.
	kindCount
)

var kindNames = [kindCount]string{
	KindInvalid:                 "invalid",
	KindGenesis:                 "genesis",
	KindTick:                    "tick",
	KindPingReceived:            "ping-received",
	KindProposalReceived:        "proposal-received",
	KindSigningSetReceived:      "signing-set-received",
	KindChecksumReceived:        "checksum-received",
	KindKeygenCommitReceived:    "keygen-commit-received",
	KindKVEntryReceived:         "kv-entry-received",
	KindTSSMessageReceived:      "tss-message-received",
	KindMessageSent:             "message-sent",
	KindStakeChecked:            "stake-checked",
	KindDepositObserved:         "deposit-observed",
	KindTxConfirmed:             "tx-confirmed",
	KindTSSSessionStarted:       "tss-session-started",
	KindTSSSessionFinished:      "tss-session-finished",
	KindKeyPublished:            "key-published",
	KindKeyAnnouncementReceived: "key-announcement-received",
	KindCulpritReportReceived:   "culprit-report-received",
	KindEvidenceReceived:        "evidence-received",
}

// Kinds lists every kind this version can read, in number order.
func Kinds() []Kind {
	kinds := make([]Kind, 0, kindCount-1)
	for k := KindInvalid + 1; k < kindCount; k++ {
		kinds = append(kinds, k)
	}
	return kinds
}

// Known reports whether this version can decode events of kind k.
func (k Kind) Known() bool { return k > KindInvalid && k < kindCount }

func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint16(k))
}

// newEvent returns a pointer to a zero event of kind k, ready to decode into.
// A switch, not a map, keeps the replay hot path free of lookups.
func newEvent(k Kind) (Event, error) {
	switch k {
	case KindGenesis:
		return &Genesis{}, nil
	case KindTick:
		return &Tick{}, nil
	case KindPingReceived:
		return &PingReceived{}, nil
	case KindProposalReceived:
		return &ProposalReceived{}, nil
	case KindSigningSetReceived:
		return &SigningSetReceived{}, nil
	case KindChecksumReceived:
		return &ChecksumReceived{}, nil
	case KindKeygenCommitReceived:
		return &KeygenCommitReceived{}, nil
	case KindKVEntryReceived:
		return &KVEntryReceived{}, nil
	case KindTSSMessageReceived:
		return &TSSMessageReceived{}, nil
	case KindMessageSent:
		return &MessageSent{}, nil
	case KindStakeChecked:
		return &StakeChecked{}, nil
	case KindDepositObserved:
		return &DepositObserved{}, nil
	case KindTxConfirmed:
		return &TxConfirmed{}, nil
	case KindTSSSessionStarted:
		return &TSSSessionStarted{}, nil
	case KindTSSSessionFinished:
		return &TSSSessionFinished{}, nil
	case KindKeyPublished:
		return &KeyPublished{}, nil
	case KindKeyAnnouncementReceived:
		return &KeyAnnouncementReceived{}, nil
	case KindCulpritReportReceived:
		return &CulpritReportReceived{}, nil
	case KindEvidenceReceived:
		return &EvidenceReceived{}, nil
	}
	return nil, fmt.Errorf("%w: %d (written by a newer metanode?)", ErrUnknownKind, uint16(k))
}
