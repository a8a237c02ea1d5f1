package sim

import (
	"crypto/sha512"
	"slices"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss/tsstest"
)

// The targeted adversaries of PROTOCOL.md section 7: byzantine peers that
// play on who sees what, and when.
//
// An equivocator sends one version of a message to half the nodes and
// another to the other half; gossip relays both on, so each half sees its
// own version first and the other a moment later (relayDelay), as
// gossipsub's mesh forwarding would.

// relayDelay is how much later a node gets the version of an equivocated
// message first sent to the other half.
const relayDelay = 1500 * time.Millisecond

// straddle times m to land half a second before each even node's own
// clock reaches the round's cut-off, and half a second after at the odd
// ones.
func (s *Sim) straddle(m events.Signed, round int64, cutoff time.Duration) []wire {
	at := events.Time(round*int64(s.params.SigningEpoch)) + events.Time(cutoff)
	return []wire{{msg: m, at: func(to *simNode) events.Time {
		local := at.Add(-500 * time.Millisecond)
		if odd(to) {
			local = at.Add(500 * time.Millisecond)
		}
		return s.clocks[to.index].global(local)
	}}}
}

// even splits the nodes in two halves.
func even(n *simNode) bool { return n.index%2 == 0 }
func odd(n *simNode) bool  { return n.index%2 == 1 }

// equivocation puts two versions on the wire, each half seeing its own
// first.
func equivocation(a, b events.Signed) []wire {
	return []wire{
		{msg: a, only: even}, {msg: b, only: odd},
		{msg: a, only: odd, later: relayDelay}, {msg: b, only: even, later: relayDelay},
	}
}

// targeted plays the behaviours that send different things to different
// nodes or time their messages; false: none applies to m.
func (s *Sim) targeted(n *simNode, m events.Signed) ([]wire, bool) {
	switch {
	case m.Type == events.TypeSigningSet && n.has(EquivocateSet):
		var set events.SigningSet
		if events.Unmarshal(m.Body, &set) != nil {
			return nil, false
		}
		other := set
		other.M0 = sha512.Sum512_256(set.M0[:]) // a set for a doc nobody has
		return equivocation(m, s.resign(n, m.Type, &other)), true
	case m.Type == events.TypeChecksum && n.has(EquivocateChecksum):
		var c events.Checksum
		if events.Unmarshal(m.Body, &c) != nil || len(c.Set) == 0 {
			return nil, false
		}
		// A consistent checksum of another set: the same set with its
		// last member replaced by a committee member outside it.
		other := c
		other.Set = slices.Clone(c.Set)
		for _, cand := range s.nodes {
			if !slices.Contains(c.Set, cand.id) && cand.index < s.cfg.committee() {
				other.Set[len(other.Set)-1] = cand.id
				if other.Set[len(other.Set)-1] == n.id {
					continue
				}
				break
			}
		}
		other.Sum = projections.SessionNonce(c.Round, c.M0, other.Set)
		return equivocation(m, s.resign(n, m.Type, &other)), true
	case m.Type == events.TypeKeygenCommit && n.has(EquivocateCommit):
		var k events.KeygenCommit
		if events.Unmarshal(m.Body, &k) != nil {
			return nil, false
		}
		other := k
		other.Sum = sha512.Sum512_256(k.Sum[:])
		return equivocation(m, s.resign(n, m.Type, &other)), true
	case m.Type == events.TypeKeygenCommit && n.has(CommitSilent):
		return nil, true
	case m.Type == events.TypeKeygenCommit && n.has(CommitWrong):
		var k events.KeygenCommit
		if events.Unmarshal(m.Body, &k) != nil {
			return nil, false
		}
		k.Sum = sha512.Sum512_256(k.Sum[:])
		return honestWire(s.resign(n, m.Type, &k)), true
	case m.Type == events.TypeSigningSet && n.has(LateSet):
		var set events.SigningSet
		if events.Unmarshal(m.Body, &set) != nil {
			return nil, false
		}
		return s.straddle(m, set.Round, s.params.SigningSetPhase), true
	case m.Type == events.TypeChecksum && n.has(LateChecksum):
		var c events.Checksum
		if events.Unmarshal(m.Body, &c) != nil {
			return nil, false
		}
		return s.straddle(m, c.Round, s.params.CheckPhase), true
	case m.Type == events.TypeKeygenCommit && n.has(LateCommit):
		var k events.KeygenCommit
		if events.Unmarshal(m.Body, &k) != nil {
			return nil, false
		}
		period := s.params.KeygenEpoch
		if k.Regroup {
			period = s.params.RegroupInterval
		}
		// Each node opens the attempt at its first tick after the
		// boundary (its tick phase), and ends the commit phase half a
		// keygen epoch later.
		boundary := events.Time(k.Epoch * int64(period))
		return []wire{{msg: m, at: func(to *simNode) events.Time {
			end := boundary.Add(s.clocks[to.index].phase + s.params.KeygenEpoch/2)
			local := end.Add(-500 * time.Millisecond)
			if odd(to) {
				local = end.Add(500 * time.Millisecond)
			}
			return s.clocks[to.index].global(local)
		}}}, true
	case m.Type == events.TypeTSS && n.has(EquivocateBroadcast):
		var msg events.TSSMessage
		if events.Unmarshal(m.Body, &msg) != nil || !msg.Broadcast || len(msg.Payload) == 0 {
			return nil, false // its session keys, echoes and sealed messages are honest
		}
		other, err := tsstest.CorruptPayload(msg.Payload)
		if err != nil {
			return nil, false
		}
		msg.Payload = other
		// Nodes below the liar see one version, nodes above it the other:
		// honest parties of one session on both sides of it disagree.
		below := func(to *simNode) bool { return to.index < n.index }
		above := func(to *simNode) bool { return to.index > n.index }
		return []wire{{msg: m, only: below}, {msg: s.resign(n, m.Type, &msg), only: above}}, true
	case m.Type == events.TypeTSS && n.has(CorruptShareOne):
		// Only what it sends one peer, the next node, is corrupted: only
		// that peer's session fails, and only it sees a culprit.
		victim := (n.index + 1) % s.cfg.committee()
		return honestWire(s.corruptShare(n, m, func(to int) bool { return to == victim })), true
	}
	return nil, false
}
