package events

import "fmt"

// ReceivedEvent wraps a message that passed validation in the event of
// its type, ready to append.
func ReceivedEvent(m Signed) (Event, error) {
	switch m.Type {
	case TypePing:
		return &PingReceived{Msg: m}, nil
	case TypeProposal:
		return &ProposalReceived{Msg: m}, nil
	case TypeSigningSet:
		return &SigningSetReceived{Msg: m}, nil
	case TypeChecksum:
		return &ChecksumReceived{Msg: m}, nil
	case TypeKeygenCommit:
		return &KeygenCommitReceived{Msg: m}, nil
	case TypeKVEntry:
		return &KVEntryReceived{Msg: m}, nil
	case TypeTSS:
		return &TSSMessageReceived{Msg: m}, nil
	case TypeKey:
		return &KeyAnnouncementReceived{Msg: m}, nil
	case TypeCulprits:
		return &CulpritReportReceived{Msg: m}, nil
	case TypeEvidence:
		return &EvidenceReceived{Msg: m}, nil
	}
	return nil, fmt.Errorf("no event for message type %q", m.Type)
}
