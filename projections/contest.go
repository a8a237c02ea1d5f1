package projections

import (
	"slices"

	"github.com/metanode/metanode/events"
)

// A checksum mismatch blames no one: honest members whose views of the
// signing sets differed at the 20 s cut-off disagree this way, and only
// the timing of a message told them apart, which no third party can
// check. But a byzantine member can time its set to split views on
// purpose, every round. So a mismatch contests the peers on which the
// named sets disagree: every consistent checksum of the round names a
// doc and a set, and the peers in some of those sets but not in all are
// contested. For ContestWindow rounds, contested peers rank after every
// uncontested one when threshold sets are chosen (they are not blocked,
// and still sign when the uncontested are too few). The splitter is in
// every such difference, so it stays at the back for as long as it keeps
// splitting, and the sets are then chosen among peers whose presence
// nobody disputes: the next round signs. An honest peer displaced by the
// splitter is contested too, for the window, which costs it rank but no
// block (S2).

// ContestWindow is how many rounds a contested peer ranks last.
const ContestWindow = 60

// Contest is a peer contested in a round.
type Contest struct {
	Peer  events.PeerID `msgpack:"p"`
	Round int64         `msgpack:"n"`
}

// ClosedRound is what a finished round leaves for its contest: its
// checksums, which may still arrive (heavy-tailed delays) until the next
// round's threshold set is chosen, the moment the contest is settled.
type ClosedRound struct {
	Number    int64             `msgpack:"n"`
	Checksums []*ChecksumRecord `msgpack:"c"`
}

// closeForContest keeps a finished round's consistent checksums.
func (r *Rounds) closeForContest() {
	r.settleContest() // a round with no threshold computation settles here
	cur := r.cur
	closed := &ClosedRound{Number: cur.Number}
	for _, c := range cur.Checksums {
		// Only a member of the key could be in a threshold set: anyone
		// else's checksum names nothing.
		if !slices.Contains(cur.Outliers, c.From) && r.keys.IsMember(c.From) {
			closed.Checksums = append(closed.Checksums, c)
		}
	}
	r.closed = closed
}

// lateChecksum counts a checksum of the round just closed towards its
// contest.
func (r *Rounds) lateChecksum(seq uint64, m *events.Signed) {
	var c events.Checksum
	if r.closed == nil || events.Unmarshal(m.Body, &c) != nil || c.Round != r.closed.Number || !r.keys.IsMember(m.From) {
		return
	}
	if slices.ContainsFunc(r.closed.Checksums, func(x *ChecksumRecord) bool { return x.From == m.From }) {
		return
	}
	rec := &ChecksumRecord{Seq: seq, From: m.From, Sum: c.Sum, M0: c.M0, Set: c.Set, Msg: *m}
	if r.checksumLie(c.Round, rec) == "" {
		r.closed.Checksums = append(r.closed.Checksums, rec)
	}
}

// settleContest records the peers on which the closed round's checksums
// disagreed. A sender blocked for equivocation by now names nothing: it
// may have sent each half of the nodes another set.
func (r *Rounds) settleContest() {
	closed := r.closed
	r.closed = nil
	if closed == nil {
		return
	}
	var named [][]events.PeerID
	var first *ChecksumRecord
	split := false
	for _, c := range closed.Checksums {
		if r.blocks.BlockedFor(c.From, BlockEquivocation) {
			continue
		}
		if first == nil {
			first = c
		} else if c.Sum != first.Sum {
			split = true
		}
		named = append(named, c.Set)
	}
	if !split {
		return
	}
	var union []events.PeerID
	for _, set := range named {
		union = append(union, set...)
	}
	slices.Sort(union)
	union = slices.Compact(union)
	var contested []events.PeerID
	for _, p := range union {
		inAll := true
		for _, set := range named {
			inAll = inAll && slices.Contains(set, p)
		}
		if !inAll {
			contested = append(contested, p)
			r.contested = append(r.contested, Contest{Peer: p, Round: closed.Number})
		}
	}
	for i := len(r.history) - 1; i >= 0; i-- {
		if r.history[i].Number == closed.Number {
			r.history[i].Contested = contested
			break
		}
	}
}

// forgetContests drops contests older than the window.
func (r *Rounds) forgetContests(round int64) {
	kept := r.contested[:0]
	for _, c := range r.contested {
		if round-c.Round <= ContestWindow {
			kept = append(kept, c)
		}
	}
	r.contested = kept
}

// Contested reports whether a peer was contested within the window.
func (r *Rounds) Contested(p events.PeerID) bool {
	return slices.ContainsFunc(r.contested, func(c Contest) bool { return c.Peer == p })
}

// thresholdSeniority ranks the peer list for threshold sets: uncontested
// peers by seniority, then contested ones by seniority.
func (r *Rounds) thresholdSeniority() func(events.PeerID) (int, bool) {
	rank := r.seniority()
	behind := len(r.peers.peers) + 1
	return func(p events.PeerID) (int, bool) {
		i, ok := rank(p)
		if ok && r.Contested(p) {
			i += behind
		}
		return i, ok
	}
}
