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
	// Set is the threshold set (node indexes) the honest nodes that took
	// part saw, if any.
	Set []int `json:"set,omitempty"`
	// Participants counts the honest nodes that had a doc to sign: the
	// round had valid transfers in their view.
	Participants int `json:"participants"`
}

// KeyResult is a key the nodes made or started with (--tss).
type KeyResult struct {
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	Address   string `json:"address"`
	Members   []int  `json:"members"`
}

// AttemptResult is a keygen or regroup attempt as the first honest node
// saw it.
type AttemptResult struct {
	Regroup  bool   `json:"regroup"`
	Epoch    int64  `json:"epoch"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
	Culprits []int  `json:"culprits,omitempty"`
}

// Result sums up a run.
type Result struct {
	Seed    uint64 `json:"seed"`
	Signed  int    `json:"rounds_signed"`
	Aborted int    `json:"rounds_aborted"`
	Skipped int    `json:"rounds_skipped"`
	// WithTransfers counts the rounds in which at least t+1 honest nodes
	// had valid transfers to sign (after the first round, while peer
	// lists fill); SignedWithTransfers how many of them signed (L1).
	WithTransfers       int           `json:"rounds_with_transfers"`
	SignedWithTransfers int           `json:"rounds_with_transfers_signed"`
	Rounds              []RoundResult `json:"rounds"`
	Blocks              []BlockResult `json:"blocks"`
	// ConflictingStarts counts rounds in which two different threshold
	// sets (session nonces) started signing. It must be zero.
	ConflictingStarts int `json:"conflicting_starts"`
	// Signatures counts real tss signatures verified under the group key
	// (--tss); each signer's copy counts.
	Signatures int             `json:"tss_signatures,omitempty"`
	Keys       []KeyResult     `json:"keys,omitempty"`
	Attempts   []AttemptResult `json:"key_attempts,omitempty"`
	Nodes      []NodeResult    `json:"nodes"`
}

func (s *Sim) indexesOf(ids []events.PeerID) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = s.indexOf(id)
	}
	return out
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
				if h.Participating {
					r.Participants++
				}
				if len(h.Set) > 0 && r.Set == nil {
					r.Set = s.indexesOf(h.Set)
				}
			}

			for _, b := range state.Blocks.Culprits() {
				res.Blocks = append(res.Blocks, BlockResult{By: n.index, Peer: s.indexOf(b.Peer), Reason: b.Reason.String(), Round: b.Round})
			}
			if res.Attempts != nil {
				return // the first honest node's view
			}
			res.Attempts = []AttemptResult{}
			for _, a := range state.Committees.History() {
				res.Attempts = append(res.Attempts, AttemptResult{Regroup: a.Regroup, Epoch: a.Epoch, Outcome: a.Outcome, Reason: a.Reason, Culprits: s.indexesOf(a.Culprits)})
			}
		})
	}
	for _, number := range sortedKeys(rounds) {
		r := rounds[number]
		r.Sessions = len(s.starts[number])
		if r.Sessions > 1 {
			res.ConflictingStarts++
		}
		// A node outside the set only sees signing start ("set signing"):
		// what the set's members recorded decides.
		switch {
		case r.Outcomes[projections.OutcomeSigned] > 0:
			res.Signed++
		case r.Outcomes[projections.OutcomeAborted] > 0:
			res.Aborted++
		case r.Outcomes[projections.OutcomeSetSigning] > 0:
			res.Signed++
		default:
			res.Skipped++
		}
		res.Rounds = append(res.Rounds, *r)
	}
	for i, r := range res.Rounds {
		if i == 0 || r.Participants < s.cfg.Threshold+1 {
			continue
		}
		res.WithTransfers++
		if r.Outcomes[projections.OutcomeSigned] > 0 || r.Outcomes[projections.OutcomeSetSigning] > 0 {
			res.SignedWithTransfers++
		}
	}
	if s.tss != nil {
		for _, k := range s.tss.keys {
			kr := KeyResult{KeyID: k.KeyID.String(), PublicKey: fmt.Sprintf("%x", k.PublicKey), Address: k.Address}
			for _, sp := range k.SharePoints {
				kr.Members = append(kr.Members, s.indexOf(sp.Peer))
			}
			res.Keys = append(res.Keys, kr)
		}
	}
	slices.SortStableFunc(res.Blocks, func(a, b BlockResult) int {
		if a.By != b.By {
			return a.By - b.By
		}
		return bytes.Compare([]byte(a.Reason), []byte(b.Reason))
	})
	return res
}

// UnsignedStreak is the longest run of consecutive rounds in which at
// least quorum honest nodes had transfers to sign and none signed (L1
// asks for at most two), leaving out the first skip rounds (the peer
// lists fill up).
func (r *Result) UnsignedStreak(skip, quorum int) int {
	longest, streak := 0, 0
	for i, round := range r.Rounds {
		if i < skip {
			continue
		}
		signed := round.Outcomes[projections.OutcomeSigned] > 0 || round.Outcomes[projections.OutcomeSetSigning] > 0
		switch {
		case signed:
			streak = 0
		case round.Participants >= quorum:
			streak++
			longest = max(longest, streak)
		}
	}
	return longest
}

// SignedShare is the share of rounds with transfers (at least quorum
// honest nodes had a doc) that signed.
func (r *Result) SignedShare(skip, quorum int) float64 {
	with, signed := 0, 0
	for i, round := range r.Rounds {
		if i < skip || round.Participants < quorum {
			continue
		}
		with++
		if round.Outcomes[projections.OutcomeSigned] > 0 || round.Outcomes[projections.OutcomeSetSigning] > 0 {
			signed++
		}
	}
	if with == 0 {
		return 0
	}
	return float64(signed) / float64(with)
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
