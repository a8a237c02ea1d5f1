package projections

import (
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"slices"

	"github.com/metanode/metanode/events"
)

// SessionNonce is H(r || m0 || set ids): the checksum members broadcast
// and the tss session nonce. Ids are length-prefixed, in set order.
func SessionNonce(round int64, m0 events.Hash, set []events.PeerID) events.Hash {
	h := sha512.New512_256()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(round)))
	h.Write(m0[:])
	writeIDs(h, set)
	var out events.Hash
	h.Sum(out[:0])
	return out
}

// writeIDs hashes peer ids in order, each prefixed by its 16-bit length,
// so no two id lists hash alike.
func writeIDs(h hash.Hash, ids []events.PeerID) {
	for _, id := range ids {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(id))))
		h.Write([]byte(id))
	}
}

func (r *Rounds) onChecksum(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	var c events.Checksum
	if events.Unmarshal(m.Body, &c) != nil || c.Round != r.cur.Number {
		return
	}
	r.addChecksum(&ChecksumRecord{Seq: seq, From: m.From, Sum: c.Sum, M0: c.M0, Set: c.Set, Msg: *m})
}

func (r *Rounds) addChecksum(rec *ChecksumRecord) {
	for _, prev := range r.cur.Checksums {
		if prev.From == rec.From {
			r.equivocated(prev.Seq, rec.Seq, &prev.Msg, &rec.Msg, "two different checksums for one round")
			return
		}
	}
	r.cur.Checksums = append(r.cur.Checksums, rec)
	if lie := r.checksumLie(r.cur.Number, rec); lie != "" {
		// Provably false from the message alone: anyone can check it, so
		// every node blocks, member of the set or not.
		r.cur.Outliers = append(r.cur.Outliers, rec.From)
		r.blocks.Add(Block{Peer: rec.From, Reason: BlockOutlier, Evidence: []uint64{rec.Seq}, Round: r.cur.Number, Note: "checksum is a lie: " + lie, Local: true})
	}
	if r.cur.Threshold != nil {
		r.checkChecksum(rec)
	}
}

// checksumLie says why a checksum is provably false by itself, or "": its
// sum must be the session nonce of the doc and set it names, the set must
// have t+1 distinct peers, the sender among them. An honest member's
// checksum always passes, whatever its view of the round. (Whether the
// set's peers are members of the current key is a view too: nodes adopt
// a new key at moments of their own.)
func (r *Rounds) checksumLie(round int64, c *ChecksumRecord) string {
	switch {
	case c.Sum != SessionNonce(round, c.M0, c.Set):
		return "its sum is not H(r || m0 || set) of the doc and set it names"
	case len(c.Set) != r.params.Threshold+1:
		return "the set it names does not have t+1 members"
	case !slices.Contains(c.Set, c.From):
		return "the set it names leaves out its sender"
	}
	seen := map[events.PeerID]bool{}
	for _, p := range c.Set {
		if seen[p] {
			return "the set it names repeats a peer"
		}
		seen[p] = true
	}
	return ""
}

// checkChecksum aborts the round when a member of this node's threshold
// set checksums another doc or set. Nobody is blamed for it: honest
// members whose views differed (a signing set that reached one just
// before the cut-off and another just after) disagree this way, and a
// byzantine member that does it on purpose is contested (contest.go),
// not blocked on a claim no third party could check.
func (r *Rounds) checkChecksum(c *ChecksumRecord) {
	cur := r.cur
	if !cur.Threshold.Found || !slices.Contains(cur.Threshold.Set, c.From) || c.Sum == cur.Expected {
		return
	}
	cur.Mismatch = true
	if cur.Outcome == OutcomePending {
		cur.Outcome, cur.Reason = OutcomeAborted, "checksum mismatch: a member of the set computed another doc or set"
		if slices.Contains(cur.Outliers, c.From) {
			cur.Reason = "checksum outlier: a member's checksum is a lie"
		}
	}
}

// onTSSMessage notes that a member of this node's threshold set started
// the signing session this node expects. Its start proves it held all
// t+1 matching checksums of this very set; if one of them reached this
// node too late (a member can time its checksum to straddle the check
// phase's end), this node joins rather than leave the starters to time
// out and blame the honest members that did not start.
func (r *Rounds) onTSSMessage(m *events.Signed) {
	cur := r.cur
	if cur == nil || cur.Session != nil || cur.SetStarted || cur.Threshold == nil || !cur.Threshold.Found || !slices.Contains(cur.Threshold.Set, m.From) {
		return
	}
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) == nil && msg.Session == cur.Expected {
		cur.SetStarted = true
	}
}

// joinable: this node may still start the signing session after the
// check phase, because a member of its set started it (onTSSMessage) and
// nothing it saw contradicts that set; in time to finish.
func (r *Rounds) joinable() bool {
	cur := r.cur
	latest := r.params.CheckPhase + (r.params.SigningDeadline-r.params.CheckPhase)/2
	liar := slices.ContainsFunc(cur.Outliers, func(p events.PeerID) bool { return slices.Contains(cur.Threshold.Set, p) })
	return cur.SetStarted && !cur.Mismatch && !liar && r.offset() < events.Time(latest) &&
		(cur.Outcome == OutcomePending || cur.Incomplete)
}

// ChecksumsComplete reports whether every threshold set member's
// checksum has arrived and matches.
func (r *Rounds) ChecksumsComplete() bool {
	cur := r.cur
	if cur == nil || cur.Threshold == nil || !cur.Threshold.Found {
		return false
	}
	for _, member := range cur.Threshold.Set {
		found := false
		for _, c := range cur.Checksums {
			if c.From == member && c.Sum == cur.Expected && !slices.Contains(cur.Outliers, c.From) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
