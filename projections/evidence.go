package projections

import (
	"bytes"
	"fmt"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
)

// Equivocation is self-verifying evidence (PROTOCOL.md section 1): two
// different signed messages of one type from one sender for one round or
// epoch. Anyone can check it from the two signatures alone, so a node
// that detects it gossips the pair and every node that receives it
// blocks the sender, whether or not it saw either message itself.
type Equivocation struct {
	Peer  events.PeerID `msgpack:"p"`
	Type  string        `msgpack:"y"`
	Round int64         `msgpack:"n"` // round, or keygen/regroup epoch
	A     events.Signed `msgpack:"a"`
	B     events.Signed `msgpack:"b"`
	// Sent: this node has gossiped the pair, or learnt it from the
	// evidence topic (gossip carries it on from there).
	Sent bool `msgpack:"s"`
}

// maxEquivocations bounds the evidence a node keeps to gossip and show:
// one entry per (peer, type, round), and a peer already blocked for
// equivocation adds none, so only new offenders take room.
const maxEquivocations = 256

// equivocationID is what at most one message of a type may be for: a
// round or epoch, and for a tss broadcast also its session, side and
// tss-lib message type.
type equivocationID struct {
	round int64
	tss   string
}

// equivocationKey says which round or epoch a message of an
// equivocation-checked type is for; false for other types or bodies that
// do not decode.
func equivocationKey(params events.Params, m *events.Signed) (id equivocationID, start events.Time, ok bool) {
	round, start, ok := roundOf(params, m)
	if !ok {
		return equivocationID{}, 0, false
	}
	id.round = round
	if m.Type == events.TypeTSS {
		id.tss, _ = tssBroadcastOf(m)
	}
	return id, start, true
}

// roundOf says which round or epoch a message of an equivocation-checked
// type is for, and when that round or epoch began.
func roundOf(params events.Params, m *events.Signed) (round int64, start events.Time, ok bool) {
	switch m.Type {
	case events.TypeTSS:
		var msg events.TSSMessage
		if _, ok := tssBroadcastOf(m); !ok || events.Unmarshal(m.Body, &msg) != nil {
			return 0, 0, false
		}
		var period time.Duration
		switch msg.Kind {
		case events.SessionSigning:
			period = params.SigningEpoch
		case events.SessionKeygen:
			period = params.KeygenEpoch
		case events.SessionResharing:
			period = params.RegroupInterval
		default:
			return 0, 0, false
		}
		return msg.Round, events.Time(msg.Round * int64(period)), true
	case events.TypeProposal, events.TypeSigningSet, events.TypeChecksum:
		if round, ok = messageRound(m); !ok {
			return 0, 0, false
		}
	case events.TypeKeygenCommit:
		var k events.KeygenCommit
		if events.Unmarshal(m.Body, &k) != nil {
			return 0, 0, false
		}
		period := params.KeygenEpoch
		if k.Regroup {
			period = params.RegroupInterval
		}
		// keygen and regroup epochs never collide: a regroup key is odd
		return 2*k.Epoch + boolInt(k.Regroup), events.Time(k.Epoch * int64(period)), true
	default:
		return 0, 0, false
	}
	return round, events.Time(round * int64(params.SigningEpoch)), true
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// CheckEquivocation verifies a pair as evidence: both signatures valid,
// one sender, one type, one round or epoch, different bodies, and the
// round within the evidence window of now.
func CheckEquivocation(params events.Params, now events.Time, a, b *events.Signed) (round int64, err error) {
	if net.Validate(a) != nil || net.Validate(b) != nil {
		return 0, fmt.Errorf("a signature does not verify")
	}
	if a.From != b.From || a.Type != b.Type {
		return 0, fmt.Errorf("two senders or two types")
	}
	if bytes.Equal(a.Body, b.Body) {
		return 0, fmt.Errorf("the same message twice")
	}
	ia, start, okA := equivocationKey(params, a)
	ib, _, okB := equivocationKey(params, b)
	if !okA || !okB || ia != ib {
		return 0, fmt.Errorf("not two messages for one round")
	}
	if now.Sub(start) > params.BlockEquivocation || start.Sub(now) > params.MaxClockSkew+params.SigningEpoch {
		return 0, fmt.Errorf("round outside the evidence window")
	}
	return ia.round, nil
}

// Equivocated records two different messages of one sender for one round
// or epoch that this node received (seqs: their log records) and blocks
// the sender; the pair is gossiped as evidence (a duty).
func (b *Blocks) Equivocated(seqA, seqB uint64, first, second *events.Signed, round int64, note string) {
	b.addEquivocation(&Equivocation{Peer: first.From, Type: first.Type, Round: round, A: *first, B: *second}, []uint64{seqA, seqB}, note)
}

func (b *Blocks) addEquivocation(e *Equivocation, seqs []uint64, note string) {
	if b.BlockedFor(e.Peer, BlockEquivocation) {
		return // one block at a time; the log keeps every message
	}
	b.Add(Block{Peer: e.Peer, Reason: BlockEquivocation, Evidence: seqs, Round: e.Round, Note: note})
	b.equivocations = append(b.equivocations, e)
	if len(b.equivocations) > maxEquivocations {
		b.equivocations = b.equivocations[len(b.equivocations)-maxEquivocations:]
	}
}

// onEvidence takes an equivocation pair off the evidence topic: valid
// evidence blocks its sender here too.
func (b *Blocks) onEvidence(seq uint64, m *events.Signed) {
	var ev events.Evidence
	if events.Unmarshal(m.Body, &ev) != nil {
		return
	}
	round, err := CheckEquivocation(b.params, b.now, &ev.A, &ev.B)
	if err != nil {
		return // kept in the log: an invalid claim is the claimer's own record
	}
	if b.peers != nil && !b.peers.Admitted(ev.A.From) && !b.keys.IsMember(ev.A.From) {
		// Anyone can sign two messages with a fresh key: only a peer that
		// could have taken part is worth a block.
		return
	}
	b.addEquivocation(&Equivocation{Peer: ev.A.From, Type: ev.A.Type, Round: round, A: ev.A, B: ev.B, Sent: true}, []uint64{seq},
		fmt.Sprintf("two different %s messages for one round, gossiped by %s", ev.A.Type, m.From.Short()))
}

// onEvidenceSent marks a pair this node gossiped.
func (b *Blocks) onEvidenceSent(m *events.Signed) {
	var ev events.Evidence
	if events.Unmarshal(m.Body, &ev) != nil {
		return
	}
	for _, e := range b.equivocations {
		if bytes.Equal(e.A.Sig, ev.A.Sig) && bytes.Equal(e.B.Sig, ev.B.Sig) {
			e.Sent = true
		}
	}
}

// Equivocations returns the evidence this node holds, oldest first.
func (b *Blocks) Equivocations() []*Equivocation { return b.equivocations }

// evidenceDuties: gossip every pair this node detected and has not sent.
func (b *Blocks) evidenceDuties() []Duty {
	var duties []Duty
	for _, e := range b.equivocations {
		if !e.Sent {
			duties = append(duties, Duty{Kind: DutySendEvidence, Evidence: events.Evidence{A: e.A, B: e.B}})
		}
	}
	return duties
}
