package sim

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// NodeResult is one node at the end of a run.
type NodeResult struct {
	Index       int      `json:"index"`
	ID          string   `json:"id"`
	Faults      []string `json:"faults,omitempty"`
	Events      uint64   `json:"events"`
	PeersListed int      `json:"peers_listed"`
	Dropped     uint64   `json:"dropped_messages"`
	StateHash   string   `json:"state_hash"`
	Log         string   `json:"log"`
}

// BlockResult is a block some honest node made.
type BlockResult struct {
	By     int    `json:"by"`
	Peer   int    `json:"peer"` // -1: not a node of the run
	Reason string `json:"reason"`
	Round  int64  `json:"round"`
}

// RoundResult is a round as the honest nodes saw it.
type RoundResult struct {
	Number int64 `json:"round"`
	// Outcomes counts honest nodes per outcome.
	Outcomes map[string]int `json:"outcomes"`
	// Sessions is how many different signing sessions started.
	Sessions int `json:"sessions"`
}

// Result sums up a run.
type Result struct {
	Seed    uint64        `json:"seed"`
	Signed  int           `json:"rounds_signed"`
	Aborted int           `json:"rounds_aborted"`
	Skipped int           `json:"rounds_skipped"`
	Rounds  []RoundResult `json:"rounds"`
	Blocks  []BlockResult `json:"blocks"`
	// ConflictingStarts counts rounds in which two different threshold
	// sets (session nonces) started signing. It must be zero.
	ConflictingStarts int `json:"conflicting_starts"`
	// Signatures counts real tss signatures verified under the group key
	// (--tss); each signer's copy counts.
	Signatures int          `json:"tss_signatures,omitempty"`
	Nodes      []NodeResult `json:"nodes"`
}

func (s *Sim) indexOf(id events.PeerID) int {
	for _, n := range s.nodes {
		if n.id == id {
			return n.index
		}
	}
	return -1
}

// Result sums up the run so far.
func (s *Sim) Result() *Result {
	res := &Result{Seed: s.cfg.Seed, Signatures: s.signatures}
	rounds := map[int64]*RoundResult{}
	for _, n := range s.nodes {
		st := n.node.Status()
		nr := NodeResult{
			Index: n.index, ID: fmt.Sprintf("%x", []byte(n.id)), Events: st.Events, PeersListed: st.PeersListed,
			Dropped: st.Dropped, StateHash: st.StateHash.String(), Log: st.LogPath,
		}
		for _, b := range sortedKeys(n.faults) {
			nr.Faults = append(nr.Faults, string(b))
		}
		res.Nodes = append(res.Nodes, nr)
		if len(n.faults) > 0 {
			continue // only honest nodes' views count
		}
		n.node.View(func(state *projections.State) {
			for _, h := range state.Rounds.History() {
				r := rounds[h.Number]
				if r == nil {
					r = &RoundResult{Number: h.Number, Outcomes: map[string]int{}}
					rounds[h.Number] = r
				}
				r.Outcomes[h.Outcome]++
			}
			for _, b := range state.Blocks.Culprits() {
				res.Blocks = append(res.Blocks, BlockResult{By: n.index, Peer: s.indexOf(b.Peer), Reason: b.Reason.String(), Round: b.Round})
			}
		})
	}
	for _, number := range sortedKeys(rounds) {
		r := rounds[number]
		r.Sessions = len(s.starts[number])
		if r.Sessions > 1 {
			res.ConflictingStarts++
		}
		switch {
		case r.Outcomes[projections.OutcomeSigned] > 0 || r.Outcomes[projections.OutcomeSetSigning] > 0:
			res.Signed++
		case r.Outcomes[projections.OutcomeAborted] > 0:
			res.Aborted++
		default:
			res.Skipped++
		}
		res.Rounds = append(res.Rounds, *r)
	}
	slices.SortStableFunc(res.Blocks, func(a, b BlockResult) int {
		if a.By != b.By {
			return a.By - b.By
		}
		return bytes.Compare([]byte(a.Reason), []byte(b.Reason))
	})
	return res
}

// BlockedBy reports whether every honest node blocked peer for reason.
func (r *Result) BlockedBy(peer int, reason string) (count int) {
	for _, b := range r.Blocks {
		if b.Peer == peer && b.Reason == reason {
			count++
		}
	}
	return count
}
