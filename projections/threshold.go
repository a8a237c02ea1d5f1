package projections

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/metanode/metanode/events"
)

// SigningSetView is a signing set as a node holds it.
type SigningSetView struct {
	Sender  events.PeerID
	M0      events.Hash
	Members []events.PeerID // sorted
}

func (s *SigningSetView) lists(p events.PeerID) bool {
	_, found := slices.BinarySearch(s.Members, p)
	return found
}

// DocCandidate is a doc some signing set is for, as this node rates it.
type DocCandidate struct {
	M0             events.Hash
	ValidTransfers int  // its transfers that are valid in this node's view
	Own            bool // it is this node's own doc
}

// compareDocs ranks docs (PROTOCOL.md phase 3, step 1): most valid
// transfers first; on a tie this node's own doc (an exact match) before
// an intersection; then m0 ascending.
func compareDocs(a, b DocCandidate) int {
	if c := cmp.Compare(b.ValidTransfers, a.ValidTransfers); c != 0 {
		return c
	}
	if a.Own != b.Own {
		if a.Own {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.M0[:], b.M0[:])
}

// ThresholdInput is what the threshold set is computed from.
type ThresholdInput struct {
	Docs []DocCandidate
	Sets []SigningSetView // at most one per sender
	// Seniority gives a peer's place in the peer list (0 = most senior),
	// or false when it is not listed or is blocked.
	Seniority func(events.PeerID) (int, bool)
	// ProvenPoint gives the share point a peer's proposal proof proved.
	ProvenPoint func(events.PeerID) ([]byte, bool)
	Size        int // t+1
}

// Pruned is a candidate left out of a doc's threshold set, and why.
type Pruned struct {
	Peer   events.PeerID `msgpack:"p"`
	M0     events.Hash   `msgpack:"m"`
	Reason string        `msgpack:"r"`
	// Senior is the more senior candidate that proved the same share point.
	Senior events.PeerID `msgpack:"s"`
}

// DocAttempt is one doc tried, in ranking order.
type DocAttempt struct {
	Doc        DocCandidate    `msgpack:"d"`
	Candidates []events.PeerID `msgpack:"c"` // in seniority order, after pruning
	Chosen     []events.PeerID `msgpack:"s"`
	Note       string          `msgpack:"n"`
}

// ThresholdResult is the outcome of the computation with its trail.
type ThresholdResult struct {
	Found    bool            `msgpack:"f"`
	M0       events.Hash     `msgpack:"m"`
	Set      []events.PeerID `msgpack:"s"` // seniority order, exactly Size
	Attempts []DocAttempt    `msgpack:"a"`
	Pruned   []Pruned        `msgpack:"p"`
}

// ComputeThresholdSet is PROTOCOL.md phase 3. Every honest node that holds
// the same sets and the same view computes the same result: it depends on
// no input order.
func ComputeThresholdSet(in ThresholdInput) ThresholdResult {
	var res ThresholdResult
	docs := slices.Clone(in.Docs)
	slices.SortFunc(docs, compareDocs)

	bySender := make(map[events.PeerID]*SigningSetView, len(in.Sets))
	for i := range in.Sets {
		s := &in.Sets[i]
		if _, dup := bySender[s.Sender]; !dup {
			bySender[s.Sender] = s
		}
	}
	for _, doc := range docs {
		attempt := DocAttempt{Doc: doc}
		if doc.ValidTransfers == 0 {
			attempt.Note = "no valid transfers: never signed"
			res.Attempts = append(res.Attempts, attempt)
			continue
		}
		// Step 2: senders of sets for this doc, listed and not blocked, by seniority.
		type candidate struct {
			id   events.PeerID
			rank int
		}
		var cands []candidate
		for _, s := range bySender {
			if s.M0 != doc.M0 {
				continue
			}
			if rank, ok := in.Seniority(s.Sender); ok {
				cands = append(cands, candidate{s.Sender, rank})
			}
		}
		slices.SortFunc(cands, func(a, b candidate) int {
			if c := cmp.Compare(a.rank, b.rank); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		// Step 3: prune every peer whose proof proves a share point a more
		// senior candidate already proved (a cloned share).
		provedBy := map[string]events.PeerID{}
		var kept []events.PeerID
		for _, c := range cands {
			point, ok := in.ProvenPoint(c.id)
			if !ok {
				res.Pruned = append(res.Pruned, Pruned{Peer: c.id, M0: doc.M0, Reason: "no share proof"})
				continue
			}
			if senior, dup := provedBy[string(point)]; dup {
				res.Pruned = append(res.Pruned, Pruned{Peer: c.id, M0: doc.M0, Reason: "share point already proven by a more senior peer", Senior: senior})
				continue
			}
			provedBy[string(point)] = c.id
			kept = append(kept, c.id)
		}
		attempt.Candidates = kept
		// Step 4: greedy, most senior first; a peer joins when it and every
		// peer already chosen list each other.
		var chosen []events.PeerID
		for _, p := range kept {
			ps := bySender[p]
			mutual := true
			for _, q := range chosen {
				if !ps.lists(q) || !bySender[q].lists(p) {
					mutual = false
					break
				}
			}
			if mutual {
				chosen = append(chosen, p)
				if len(chosen) == in.Size {
					break
				}
			}
		}
		attempt.Chosen = chosen
		if len(chosen) == in.Size {
			attempt.Note = "threshold set"
			res.Attempts = append(res.Attempts, attempt)
			res.Found, res.M0, res.Set = true, doc.M0, chosen
			return res
		}
		attempt.Note = "fewer than t+1 mutually visible peers"
		res.Attempts = append(res.Attempts, attempt)
	}
	return res
}
