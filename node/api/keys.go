package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/metanode/metanode/projections"
)

// BlockRow is one entry of the block list.
type BlockRow struct {
	Peer     string   `json:"peer"` // hex
	PeerID   string   `json:"peerId"`
	Reason   string   `json:"reason"`
	Evidence []uint64 `json:"evidenceSeqs"` // log seqs of the events that prove it
	Round    int64    `json:"round,omitempty"`
	From     string   `json:"from"`
	Until    string   `json:"until"`
	InForce  bool     `json:"inForce"`
	Note     string   `json:"note,omitempty"`
	// Local: this node's own view (a culprit of its own session); it
	// blocks here, but no committee honors it.
	Local bool `json:"local"`
}

// Blocks is GET /api/v1/blocks: the blocks in force, or with ?all=true
// every block kept (expired ones too, oldest first).
type Blocks struct {
	AsOfSeq uint64     `json:"asOfSeq"`
	Blocks  []BlockRow `json:"blocks"`
}

func (a *api) blocks(w http.ResponseWriter, r *http.Request) {
	all := false
	if s := r.URL.Query().Get("all"); s != "" {
		var err error
		if all, err = strconv.ParseBool(s); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("all=%q: want true or false", s))
			return
		}
	}
	out := Blocks{Blocks: []BlockRow{}}
	a.src.View(func(s *projections.State) {
		out.AsOfSeq = s.Summary.LastSeq
		now := s.Summary.LastTick
		list := s.Blocks.Active()
		if all {
			list = s.Blocks.Culprits()
		}
		for _, b := range list {
			out.Blocks = append(out.Blocks, BlockRow{Peer: hexID(b.Peer), PeerID: peerID(b.Peer), Reason: b.Reason.String(),
				Evidence: b.Evidence, Round: b.Round, From: b.From.String(), Until: b.Until.String(), InForce: now < b.Until,
				Note: b.Note, Local: b.Local})
		}
	})
	writeJSON(w, http.StatusOK, out)
}

// KeyMember is one committee member of a key, in party order.
type KeyMember struct {
	Peer     string `json:"peer"` // hex
	PeerID   string `json:"peerId"`
	Point    string `json:"point"`   // public share point, compressed
	ShareID  string `json:"shareId"` // tss-lib party key
	ThisNode bool   `json:"thisNode"`
}

// Key is a threshold key's public data.
type Key struct {
	ID        string      `json:"id"`
	PublicKey string      `json:"publicKey"`
	Address   string      `json:"address"`
	Threshold int         `json:"threshold"`
	Committee []KeyMember `json:"committee"`
}

// Attempt is a keygen or regroup attempt.
type Attempt struct {
	Kind         string   `json:"kind"` // keygen or regroup
	Epoch        int64    `json:"epoch"`
	Start        string   `json:"start"`
	Committee    []string `json:"committee"`
	Old          []string `json:"old,omitempty"` // a regroup's old side
	Commits      int      `json:"commits"`
	Participants int      `json:"participants"`
	Session      string   `json:"session,omitempty"`
	Outcome      string   `json:"outcome"`
	Reason       string   `json:"reason,omitempty"`
	Culprits     []string `json:"culprits,omitempty"`
}

// Keys is GET /api/v1/keys: the current key, the keys before it, and the
// keygen/regroup schedule and attempts.
type Keys struct {
	AsOfSeq uint64 `json:"asOfSeq"`
	Current *Key   `json:"current"`
	// Member: this node holds a share of the current key.
	Member bool `json:"member"`
	// History: the ids of every key that was current here, oldest first.
	History []string `json:"history"`
	// Locked: keygen is over (keygen_until passed); regroups follow.
	Locked          bool     `json:"locked"`
	KeygenUntil     string   `json:"keygenUntil"`
	NextAttempt     string   `json:"nextAttempt"`
	NextAttemptKind string   `json:"nextAttemptKind"`
	Attempt         *Attempt `json:"attempt"` // the attempt under way
	// Attempts: the most recent finished attempts, newest first.
	Attempts []Attempt `json:"attempts"`
}

// maxAttempts bounds the finished attempts listed.
const maxAttempts = 20

func (a *api) keys(w http.ResponseWriter, _ *http.Request) {
	out := Keys{History: []string{}, Attempts: []Attempt{}}
	a.src.View(func(s *projections.State) {
		out.AsOfSeq = s.Summary.LastSeq
		self := s.Summary.NodeID
		if key, ok := s.Keys.Current(); ok {
			k := &Key{ID: key.KeyID.String(), PublicKey: fmt.Sprintf("%x", key.PublicKey), Address: key.Address, Threshold: key.Threshold,
				Committee: []KeyMember{}}
			for _, sp := range key.SharePoints {
				k.Committee = append(k.Committee, KeyMember{Peer: hexID(sp.Peer), PeerID: peerID(sp.Peer), Point: fmt.Sprintf("%x", sp.Point),
					ShareID: fmt.Sprintf("%x", sp.ShareID), ThisNode: sp.Peer == self})
			}
			out.Current, out.Member = k, s.Keys.IsMember(self)
		}
		for _, id := range s.Keys.History() {
			out.History = append(out.History, id.String())
		}
		cm := s.Committees
		out.Locked, out.KeygenUntil = cm.Locked(), timeString(s.Summary.Params().KeygenUntil)
		next, regroup := cm.NextAttempt()
		out.NextAttempt, out.NextAttemptKind = timeString(next), attemptKind(regroup)
		if cur := cm.Current(); cur != nil {
			row := attemptRow(cur)
			out.Attempt = &row
		}
		history := cm.History()
		for i := len(history) - 1; i >= 0 && len(out.Attempts) < maxAttempts; i-- {
			out.Attempts = append(out.Attempts, attemptRow(&history[i]))
		}
	})
	writeJSON(w, http.StatusOK, out)
}

func attemptKind(regroup bool) string {
	if regroup {
		return "regroup"
	}
	return "keygen"
}

func attemptRow(a *projections.Attempt) Attempt {
	row := Attempt{Kind: attemptKind(a.Regroup), Epoch: a.Epoch, Start: a.Start.String(), Committee: hexIDs(a.Committee), Old: hexIDs(a.Old),
		Commits: len(a.Commits), Participants: len(a.Participants()), Outcome: a.Outcome, Reason: a.Reason, Culprits: hexIDs(a.Culprits)}
	if a.Session != nil {
		row.Session = a.Session.String()
	}
	if row.Committee == nil {
		row.Committee = []string{}
	}
	return row
}
