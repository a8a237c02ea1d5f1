package projections

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
)

func (r *Rounds) onSigningSet(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	var s events.SigningSet
	if events.Unmarshal(m.Body, &s) != nil || s.Round != r.cur.Number {
		return
	}
	r.addSet(seq, m, s)
}

func (r *Rounds) addSet(seq uint64, m *events.Signed, s events.SigningSet) {
	from := m.From
	for _, prev := range r.cur.Sets {
		if prev.From == from {
			// the first set of a sender counts; another is equivocation
			r.equivocated(prev.Seq, seq, &prev.Msg, m, "two different signing sets for one round")
			return
		}
	}
	rec := &SetRecord{Seq: seq, From: from, Set: s, Msg: *m}
	switch {
	case !r.keys.IsMember(from):
		rec.Ignored = "sender is not a committee member"
	case len(s.Members) < r.params.Threshold+1:
		rec.Ignored = fmt.Sprintf("%d members, under t+1 = %d", len(s.Members), r.params.Threshold+1)
	case !slices.IsSorted(s.Members) || !slices.Contains(s.Members, from):
		rec.Ignored = "members not sorted or sender missing"
	case r.cur.Threshold != nil:
		rec.Ignored = "arrived after the threshold set was computed"
	}
	r.cur.Sets = append(r.cur.Sets, rec)
}

func (r *Rounds) computeThreshold() {
	r.settleContest() // the last round's checksums are all in by now
	cur := r.cur
	// Docs: every m0 a counted set is for; valid transfers from the
	// proposals that announced that m0.
	var sets []SigningSetView
	docs := map[events.Hash]*DocCandidate{}
	for _, s := range cur.Sets {
		if s.Ignored != "" {
			continue
		}
		sets = append(sets, SigningSetView{Sender: s.From, M0: s.Set.M0, Members: s.Set.Members})
		if _, ok := docs[s.Set.M0]; !ok {
			docs[s.Set.M0] = &DocCandidate{M0: s.Set.M0, Own: cur.Participating && s.Set.M0 == cur.M0, ValidTransfers: r.validTransfers(s.Set.M0)}
		}
	}
	var candidates []DocCandidate
	for _, d := range docs {
		candidates = append(candidates, *d)
	}
	slices.SortFunc(candidates, func(a, b DocCandidate) int { return bytes.Compare(a.M0[:], b.M0[:]) })
	points := map[events.PeerID][]byte{}
	for _, p := range cur.Proposals {
		if p.Point != nil {
			points[p.From] = p.Point
		}
	}
	if cur.Participating {
		points[r.self], _ = r.keys.SharePoint(r.self)
	}
	res := ComputeThresholdSet(ThresholdInput{
		Docs: candidates, Sets: sets, Size: r.params.Threshold + 1, Seniority: r.thresholdSeniority(),
		ProvenPoint: func(p events.PeerID) ([]byte, bool) { pt, ok := points[p]; return pt, ok && pt != nil },
	})
	cur.Threshold = &res
	if !res.Found {
		switch {
		case len(candidates) == 0 && !cur.Participating:
			cur.Reason = "no signing sets; this node did not take part: " + cur.NotTakingPart
		case len(candidates) == 0:
			cur.Reason = "no signing set counted"
		default:
			cur.Reason = "no doc reached t+1 mutually visible peers"
		}
		cur.Outcome = OutcomeSkipped
		return
	}
	cur.Expected = SessionNonce(cur.Number, res.M0, res.Set)
	for _, c := range cur.Checksums {
		r.checkChecksum(c)
	}
}

// validTransfers counts a doc's transfers valid in this node's view; the
// own doc counts all of its own.
func (r *Rounds) validTransfers(m0 events.Hash) int {
	if r.cur.Participating && m0 == r.cur.M0 {
		return len(r.cur.Transfers)
	}
	for _, p := range r.cur.Proposals {
		if p.Proposal.M0 == m0 {
			n := 0
			for _, id := range p.Proposal.Transfers {
				if r.transfers.IsValid(id) {
					n++
				}
			}
			return n
		}
	}
	return 0
}

// OwnSigningSet is this node's signing set: itself and every sender whose
// proposal it accepted, sorted.
func (r *Rounds) OwnSigningSet() []events.PeerID {
	members := []events.PeerID{r.self}
	for _, p := range r.cur.Proposals {
		if p.Accepted {
			members = append(members, p.From)
		}
	}
	slices.SortFunc(members, func(a, b events.PeerID) int { return cmp.Compare(a, b) })
	return members
}
