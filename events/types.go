package events

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
)

// Event is one entry of the log. Every event type is a struct of this
// package; its pointer implements Event.
type Event interface {
	Kind() Kind
}

// Genesis is the first event of every log: the node's parameters.
type Genesis struct {
	Params Params `msgpack:"p"`
}

// Tick is a reading of the node's clock. It is the only source of time for
// projections: "now" is the time of the last tick.
type Tick struct {
	Time Time `msgpack:"t"`
}

// The received protocol messages, one kind per message type, each kept as
// the Signed envelope exactly as it arrived (DESIGN.md point 1).
type (
	PingReceived struct {
		Msg Signed `msgpack:"m"`
	}
	ProposalReceived struct {
		Msg Signed `msgpack:"m"`
	}
	SigningSetReceived struct {
		Msg Signed `msgpack:"m"`
	}
	ChecksumReceived struct {
		Msg Signed `msgpack:"m"`
	}
	KeygenCommitReceived struct {
		Msg Signed `msgpack:"m"`
	}
	KVEntryReceived struct {
		Msg Signed `msgpack:"m"`
	}
	TSSMessageReceived struct {
		Msg Signed `msgpack:"m"`
	}
	KeyAnnouncementReceived struct {
		Msg Signed `msgpack:"m"`
	}
	CulpritReportReceived struct {
		Msg Signed `msgpack:"m"`
	}
	EvidenceReceived struct {
		Msg Signed `msgpack:"m"`
	}
)

// MessageSent is a message this node signed and handed to the network.
// Recording it lets a replay check every duty the node executed.
type MessageSent struct {
	Msg Signed `msgpack:"m"`
}

// StakeChecked is the stake chain's answer about one peer's stake tx, as
// read by this node's chain adapter. A projection judges it (amount, age,
// binding) against the parameters; the answer itself holds only facts.
type StakeChecked struct {
	Peer    PeerID `msgpack:"p"`
	StakeTx string `msgpack:"x"`
	Found   bool   `msgpack:"f"`
	// Confirmed and ConfirmedAt describe the tx's first confirmation.
	Confirmed   bool   `msgpack:"c"`
	ConfirmedAt Time   `msgpack:"ca"`
	Amount      uint64 `msgpack:"a"`
	// BoundPeer is the peer id found in the tx's memo / OP_RETURN.
	BoundPeer PeerID `msgpack:"b"`
	Spent     bool   `msgpack:"s"`
	// Error is set when the chain could not be asked; the other fields are then empty.
	Error string `msgpack:"e"`
}

// DepositID names a deposit: "chain:txid:vout".
func DepositID(chain, txid string, vout uint32) string {
	return fmt.Sprintf("%s:%s:%d", chain, txid, vout)
}

// DepositObserved is a deposit to the vault address seen on a chain.
type DepositObserved struct {
	Chain         string `msgpack:"ch"`
	TxID          string `msgpack:"tx"`
	Vout          uint32 `msgpack:"v"`
	Amount        uint64 `msgpack:"a"`
	Sender        string `msgpack:"s"`
	Confirmations uint32 `msgpack:"c"`
	SeenAt        Time   `msgpack:"t"`
	// ConfirmedAt is the chain's time of the block that gave the deposit
	// its required confirmations (zero: not said; the node's own first
	// sight stands in). Every node's adapter reports the same.
	ConfirmedAt Time `msgpack:"ca"`
}

// TxConfirmed is a transaction of ours (a signed payout) confirmed on a chain.
type TxConfirmed struct {
	Chain         string `msgpack:"ch"`
	TxID          string `msgpack:"tx"`
	Height        uint64 `msgpack:"h"`
	Confirmations uint32 `msgpack:"c"`
	// Spends lists the deposits (DepositID) the tx consumed, sorted.
	Spends []string `msgpack:"sp"`
	// Payouts says which swap intent (its bytes: the destination) the tx
	// paid each paid deposit to, so every node consumes the intent the
	// tx actually paid, even one whose own pairing differed. Refunds are
	// not listed.
	Payouts []TxPayout `msgpack:"po"`
}

// TxPayout is one payout output of a confirmed tx.
type TxPayout struct {
	Deposit string `msgpack:"d"`
	Intent  []byte `msgpack:"i"`
}

// SessionKind says which tss-lib protocol a session runs.
type SessionKind uint8

// Session kinds.
const (
	SessionSigning SessionKind = iota + 1
	SessionKeygen
	SessionResharing
)

func (k SessionKind) String() string {
	switch k {
	case SessionSigning:
		return "signing"
	case SessionKeygen:
		return "keygen"
	case SessionResharing:
		return "resharing"
	}
	return "unknown"
}

// TSSSessionStarted is committed before a tss session runs, so an HA
// replica that takes over never starts the same session twice.
type TSSSessionStarted struct {
	Session  Hash        `msgpack:"n"` // the session nonce
	Protocol SessionKind `msgpack:"k"`
	Round    int64       `msgpack:"r"` // signing round or keygen/regroup epoch
	Parties  []PeerID    `msgpack:"p"` // sorted; for resharing the old side
	// NewParties is the new committee of a resharing.
	NewParties []PeerID `msgpack:"np"`
	M0         Hash     `msgpack:"m0"` // the signed doc's digest, for signing
}

// Outcome is how a tss session ended.
type Outcome uint8

// Session outcomes.
const (
	OutcomeSuccess Outcome = iota + 1
	OutcomeFailed          // tss-lib returned an error, with culprits
	OutcomeTimeout         // the deadline passed; culprits from WaitingFor
)

func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeFailed:
		return "failed"
	case OutcomeTimeout:
		return "timeout"
	}
	return "unknown"
}

// TSSSessionFinished is a session's outcome.
type TSSSessionFinished struct {
	Session  Hash     `msgpack:"n"`
	Outcome  Outcome  `msgpack:"o"`
	Culprits []PeerID `msgpack:"c"` // sorted
	// Signature is the assembled signature of a signing session.
	Signature []byte `msgpack:"s"`
	Error     string `msgpack:"e"`
}

// SharePoint is one committee member's public share point X_i = x_i*G.
type SharePoint struct {
	Peer  PeerID `msgpack:"p"`
	Point []byte `msgpack:"x"` // compressed secp256k1 point
	// ShareID is the member's tss-lib party key (big-endian): how signing
	// and a resharing's old side address it.
	ShareID []byte `msgpack:"id"`
}

// KeyPublished is the public data of a key after keygen or regroup: what
// every node needs to verify tss proofs and to watch the vault.
type KeyPublished struct {
	KeyID       Hash         `msgpack:"k"`
	PublicKey   []byte       `msgpack:"pk"` // compressed secp256k1 point
	Address     string       `msgpack:"a"`
	Threshold   int          `msgpack:"t"`
	SharePoints []SharePoint `msgpack:"sp"` // in committee order
	// Session is the keygen or resharing session (the attempt's commit
	// sum) that made the key at this node: the node's own announcement
	// of it, which makes it current only with t more alike (PROTOCOL.md
	// section 5). Zero for the key a network starts on (its genesis),
	// current at once, and in a KeyAnnouncement, which names its session
	// itself.
	Session Hash `msgpack:"n,omitempty"`
}

func (*Genesis) Kind() Kind              { return KindGenesis }
func (*Tick) Kind() Kind                 { return KindTick }
func (*PingReceived) Kind() Kind         { return KindPingReceived }
func (*ProposalReceived) Kind() Kind     { return KindProposalReceived }
func (*SigningSetReceived) Kind() Kind   { return KindSigningSetReceived }
func (*ChecksumReceived) Kind() Kind     { return KindChecksumReceived }
func (*KeygenCommitReceived) Kind() Kind { return KindKeygenCommitReceived }
func (*KVEntryReceived) Kind() Kind      { return KindKVEntryReceived }
func (*TSSMessageReceived) Kind() Kind   { return KindTSSMessageReceived }
func (*MessageSent) Kind() Kind          { return KindMessageSent }
func (*StakeChecked) Kind() Kind         { return KindStakeChecked }
func (*DepositObserved) Kind() Kind      { return KindDepositObserved }
func (*TxConfirmed) Kind() Kind          { return KindTxConfirmed }
func (*TSSSessionStarted) Kind() Kind    { return KindTSSSessionStarted }
func (*TSSSessionFinished) Kind() Kind   { return KindTSSSessionFinished }
func (*KeyPublished) Kind() Kind         { return KindKeyPublished }
func (*KeyAnnouncementReceived) Kind() Kind {
	return KindKeyAnnouncementReceived
}
func (*CulpritReportReceived) Kind() Kind { return KindCulpritReportReceived }
func (*EvidenceReceived) Kind() Kind      { return KindEvidenceReceived }

// Sender returns the signer of a received or sent message, and whether ev
// carries one.
func Sender(ev Event) (PeerID, bool) {
	if m, ok := SignedOf(ev); ok {
		return m.From, true
	}
	return "", false
}

// SignedOf returns the signed message an event carries, if any.
func SignedOf(ev Event) (*Signed, bool) {
	switch e := ev.(type) {
	case *PingReceived:
		return &e.Msg, true
	case *ProposalReceived:
		return &e.Msg, true
	case *SigningSetReceived:
		return &e.Msg, true
	case *ChecksumReceived:
		return &e.Msg, true
	case *KeygenCommitReceived:
		return &e.Msg, true
	case *KVEntryReceived:
		return &e.Msg, true
	case *TSSMessageReceived:
		return &e.Msg, true
	case *KeyAnnouncementReceived:
		return &e.Msg, true
	case *CulpritReportReceived:
		return &e.Msg, true
	case *EvidenceReceived:
		return &e.Msg, true
	case *MessageSent:
		return &e.Msg, true
	}
	return nil, false
}

// KeyIDOf is a key's id: SHA-512/256 over "metanode/v1/key", the group
// key and, per member in committee order, its peer id, share point and
// share id, each length-prefixed. A regroup keeps the group key but
// changes the id.
func KeyIDOf(publicKey []byte, points []SharePoint) Hash {
	h := sha512.New512_256()
	write := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		h.Write(b)
	}
	h.Write([]byte("metanode/v1/key"))
	write(publicKey)
	for _, sp := range points {
		write([]byte(sp.Peer))
		write(sp.Point)
		write(sp.ShareID)
	}
	var id Hash
	h.Sum(id[:0])
	return id
}
