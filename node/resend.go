package node

import (
	"crypto/sha512"
	"time"

	"github.com/metanode/metanode/events"
)

// Gossip may lose a message, and a round needs every member's proposal,
// signing set and checksum, a keygen attempt every participant's commit
// (and nodes outside it the key announcements and culprit reports).
// So the node sends each of these again while its phase lasts:
// roundResends times, roundResendEvery apart. The message is logged once,
// when first sent; receivers drop an envelope they have logged already.
// (tss messages have their own, stall-driven resend: sessions.go.)
const (
	roundResends     = 2
	roundResendEvery = 4 * time.Second
)

// resend is one sent message waiting for its next retransmission.
type resend struct {
	msg   events.Signed
	next  events.Time
	until events.Time // the end of its phase
	left  int
}

// dedupedTypes are the message types whose exact repeats are dropped
// unlogged: retransmitted by their senders, and carrying no evidence a
// first copy did not. (A repeated ping is evidence of replay: logged.)
var dedupedTypes = map[string]bool{
	events.TypeProposal: true, events.TypeSigningSet: true, events.TypeChecksum: true,
	events.TypeKeygenCommit: true, events.TypeTSS: true, events.TypeKey: true, events.TypeCulprits: true, events.TypeEvidence: true,
}

// phaseEnd is when retransmitting a message of this type stops helping.
func (n *Node) phaseEnd(typ string) (events.Time, bool) {
	params := n.state.Summary.Params()
	if typ == events.TypeKey || typ == events.TypeCulprits || typ == events.TypeEvidence {
		// what a finished keygen or resharing tells everyone: while the
		// next attempt is still far
		return n.state.Summary.LastTick.Add(params.KeygenEpoch / 2), true
	}
	if typ == events.TypeKeygenCommit {
		if a := n.state.Committees.Current(); a != nil {
			return a.Start.Add(params.KeygenEpoch / 2), true
		}
		return 0, false
	}
	cur := n.state.Rounds.Current()
	if cur == nil {
		return 0, false
	}
	switch typ {
	case events.TypeProposal:
		return cur.Start.Add(params.ProposalPhase), true
	case events.TypeSigningSet:
		return cur.Start.Add(params.SigningSetPhase), true
	case events.TypeChecksum:
		return cur.Start.Add(params.CheckPhase), true
	}
	return 0, false
}

// scheduleResend notes a just-sent round or commit message for
// retransmission within its phase.
func (n *Node) scheduleResend(m events.Signed) {
	until, ok := n.phaseEnd(m.Type)
	if !ok {
		return
	}
	now := n.state.Summary.LastTick
	n.resends = append(n.resends, resend{msg: m, next: now.Add(roundResendEvery), until: until, left: roundResends})
}

// resendDue queues the retransmissions due at now and forgets those whose
// phase is over.
func (n *Node) resendDue(now events.Time, fx *effects) {
	kept := n.resends[:0]
	for _, r := range n.resends {
		if now >= r.until || r.left == 0 {
			continue
		}
		if now >= r.next {
			fx.publish = append(fx.publish, r.msg)
			r.left--
			r.next = now.Add(roundResendEvery)
		}
		kept = append(kept, r)
	}
	n.resends = kept
}

// maxSeenPerPeer bounds the envelopes remembered per sender for
// deduplication (seenTTL long). An honest peer logs a few round messages a
// minute and some hundred tss messages per session; a sender past the
// bound is no longer remembered, so only its own repeats get logged twice
// (its messages are evidence anyway), and the table stays bounded by the
// admitted peers.
const maxSeenPerPeer = 4096

// seenEnvelope is when an envelope was logged, and its sender.
type seenEnvelope struct {
	at   events.Time
	from events.PeerID
}

// envelopeID names a signed message: Ed25519 signatures are
// deterministic and bind the body, so sender and signature are enough.
func envelopeID(m *events.Signed) events.Hash {
	return sha512.Sum512_256(append([]byte(m.From), m.Sig...))
}

// dropRepeats takes out the messages this node has logged already (of the
// deduplicated types). A repeated tss message for a session that ended
// here comes from a party still waiting: the node sends its own messages
// of that session again (at most every tssResendAfter).
func (n *Node) dropRepeats(evs []events.Event, fx *effects) []events.Event {
	now := n.state.Summary.LastTick
	kept := evs[:0]
	for _, ev := range evs {
		m, ok := events.SignedOf(ev)
		if ok && m.Type == events.TypeKVEntry && n.knownIntent(m) {
			continue
		}
		if !ok || !dedupedTypes[m.Type] {
			kept = append(kept, ev)
			continue
		}
		id := envelopeID(m)
		if _, dup := n.seen[id]; !dup {
			if n.seenBy[m.From] < maxSeenPerPeer {
				n.seen[id] = seenEnvelope{at: now, from: m.From}
				n.seenBy[m.From]++
			}
			kept = append(kept, ev)
			continue
		}
		if m.Type == events.TypeTSS {
			n.answerRetransmission(m, now, fx)
		}
	}
	return kept
}

// forgetSeen drops remembered envelopes older than seenTTL.
func (n *Node) forgetSeen(now events.Time) {
	for id, seen := range n.seen {
		if now.Sub(seen.at) > seenTTL {
			delete(n.seen, id)
			if n.seenBy[seen.from]--; n.seenBy[seen.from] <= 0 {
				delete(n.seenBy, seen.from)
			}
		}
	}
}
