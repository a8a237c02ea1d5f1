package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

// Round is one row of GET /api/v1/rounds.
type Round struct {
	Number        int64  `json:"number"`
	Start         string `json:"start"`
	Current       bool   `json:"current,omitempty"`
	Phase         string `json:"phase,omitempty"` // the current round's
	Outcome       string `json:"outcome"`
	Reason        string `json:"reason,omitempty"`
	Participating bool   `json:"participating"`
	Cooldown      bool   `json:"cooldown,omitempty"`
	// M0 and ThresholdSet: the doc and the t+1 signers chosen, in
	// seniority order, when a threshold set was found.
	M0           string   `json:"m0,omitempty"`
	ThresholdSet []string `json:"thresholdSet,omitempty"`
	// Session is the signing session this node ran in the round.
	Session *RoundSession `json:"session,omitempty"`
}

// RoundSession is a signing session as the log records it.
type RoundSession struct {
	ID          string   `json:"id"`
	Signers     []string `json:"signers"`
	StartedSeq  uint64   `json:"startedSeq"`
	FinishedSeq uint64   `json:"finishedSeq,omitempty"`
	Outcome     string   `json:"outcome"` // "running" until it finished
	Signed      bool     `json:"signed"`  // a signature is present
	Signature   string   `json:"signature,omitempty"`
	Culprits    []string `json:"culprits,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// Rounds is GET /api/v1/rounds: the most recent rounds, newest first.
type Rounds struct {
	AsOfSeq   uint64  `json:"asOfSeq"`
	Threshold int     `json:"threshold"` // t: a signature takes t+1 signers
	Rounds    []Round `json:"rounds"`
}

// Round lists hold at most what the state keeps of finished rounds.
const (
	defaultRounds = 100
	maxRounds     = 1441
)

func (a *api) rounds(w http.ResponseWriter, r *http.Request) {
	limit, err := positiveParam(r, "limit", defaultRounds)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit = min(limit, maxRounds)
	// Sessions first: then every session the state shows is indexed.
	if err := a.index.catchUp(r.Context(), a.src.Log()); err != nil {
		a.fail(w, r, "index signing sessions", err)
		return
	}
	var out Rounds
	a.src.View(func(s *projections.State) {
		out.AsOfSeq = s.Summary.LastSeq
		params := s.Summary.Params()
		out.Threshold = params.Threshold
		if cur := s.Rounds.Current(); cur != nil {
			row := Round{Number: cur.Number, Start: cur.Start.String(), Current: true, Phase: s.Rounds.Phase(), Outcome: cur.Outcome,
				Reason: cur.Reason, Participating: cur.Participating, Cooldown: cur.Cooldown}
			if th := cur.Threshold; th != nil && th.Found {
				row.M0, row.ThresholdSet = th.M0.String(), hexIDs(th.Set)
			}
			out.Rounds = append(out.Rounds, row)
		}
		history := s.Rounds.History()
		for i := len(history) - 1; i >= 0 && len(out.Rounds) < limit; i-- {
			h := history[i]
			row := Round{Number: h.Number, Start: events.Time(h.Number * int64(params.SigningEpoch)).String(), Outcome: h.Outcome,
				Reason: h.Reason, Participating: h.Participating, Cooldown: h.Cooldown}
			if len(h.Set) > 0 {
				row.M0, row.ThresholdSet = h.M0.String(), hexIDs(h.Set)
			}
			out.Rounds = append(out.Rounds, row)
		}
	})
	out.Rounds = out.Rounds[:min(len(out.Rounds), limit)]
	for i := range out.Rounds {
		out.Rounds[i].Session = a.index.session(out.Rounds[i].Number)
	}
	if out.Rounds == nil {
		out.Rounds = []Round{}
	}
	writeJSON(w, http.StatusOK, out)
}

// round is GET /api/v1/rounds/{r}: the audit trail of round r, as
// `metanode audit round R --json` prints it. It folds the log up to the
// round's end, one audit at a time.
func (a *api) round(w http.ResponseWriter, r *http.Request) {
	number, err := strconv.ParseInt(r.PathValue("r"), 10, 64)
	if err != nil || number < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("round %q: not a round number", r.PathValue("r")))
		return
	}
	select {
	case a.audits <- struct{}{}:
		defer func() { <-a.audits }()
	case <-r.Context().Done():
		return
	}
	audit, err := replay.AuditRound(r.Context(), a.src.Log(), number)
	switch {
	case errors.Is(err, replay.ErrNoRound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("round %d: no tick of the log is in that round", number))
		return
	case err != nil:
		a.fail(w, r, "audit round", err)
		return
	}
	writeJSON(w, http.StatusOK, audit.View())
}

// fail answers a failure that is not the client's: 500, logged. A
// request whose client went away gets nothing.
func (a *api) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return
	}
	a.log.Warn("rest request failed", "path", r.URL.Path, "what", what, "err", err)
	writeError(w, http.StatusInternalServerError, what+": "+err.Error())
}

// positiveParam reads an optional positive integer query parameter.
func positiveParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return n, nil
}

// sessionIndex remembers the signing sessions of recent rounds, read from
// the log incrementally: each catch-up scans only the records appended
// since the last, and decodes only session starts and ends. The state
// keeps no session of a finished round; the index keeps those of the
// last maxIndexedRounds rounds.
type sessionIndex struct {
	mu      sync.Mutex
	next    uint64 // the next seq to read
	byRound map[int64]*indexedSession
	byID    map[events.Hash]*indexedSession
	order   []int64 // rounds in the order indexed, for eviction
}

type indexedSession struct {
	id  events.Hash
	row RoundSession
}

const maxIndexedRounds = 2 * maxRounds

func newSessionIndex() *sessionIndex {
	return &sessionIndex{next: 1, byRound: map[int64]*indexedSession{}, byID: map[events.Hash]*indexedSession{}}
}

// catchUp reads the log's records appended since the last catch-up. The
// scan runs in a read transaction of the log: only in-memory work
// happens inside it. A catch-up cut short by ctx keeps what it read.
func (x *sessionIndex) catchUp(ctx context.Context, store *events.Store) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	last := store.LastSeq()
	if x.next > last {
		return nil
	}
	read := 0
	return store.ScanChunked(x.next, last, func(rec events.Record) error {
		if read%ctxCheckEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		read++
		if rec.Kind == events.KindTSSSessionStarted || rec.Kind == events.KindTSSSessionFinished {
			ev, err := events.DecodeEvent(rec.Kind, rec.Body)
			if err != nil {
				return fmt.Errorf("seq %d: %w", rec.Seq, err)
			}
			x.add(rec.Seq, ev)
		}
		x.next = rec.Seq + 1
		return nil
	})
}

const ctxCheckEvery = 4096

func (x *sessionIndex) add(seq uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.TSSSessionStarted:
		if e.Protocol != events.SessionSigning {
			return
		}
		s := &indexedSession{id: e.Session, row: RoundSession{ID: e.Session.String(), Signers: hexIDs(e.Parties), StartedSeq: seq, Outcome: "running"}}
		if old, ok := x.byRound[e.Round]; ok {
			delete(x.byID, old.id) // a round has one signing session here; the last counts
		} else {
			x.order = append(x.order, e.Round)
		}
		x.byRound[e.Round], x.byID[e.Session] = s, s
		if len(x.order) > maxIndexedRounds {
			drop := x.order[0]
			x.order = slices.Delete(x.order, 0, 1)
			if old, ok := x.byRound[drop]; ok {
				delete(x.byID, old.id)
				delete(x.byRound, drop)
			}
		}
	case *events.TSSSessionFinished:
		s, ok := x.byID[e.Session]
		if !ok || s.row.FinishedSeq != 0 {
			return
		}
		s.row.FinishedSeq, s.row.Outcome, s.row.Error, s.row.Culprits = seq, e.Outcome.String(), e.Error, hexIDs(e.Culprits)
		if len(e.Signature) > 0 {
			s.row.Signed, s.row.Signature = true, fmt.Sprintf("%x", e.Signature)
		}
	}
}

// session returns a copy of round's signing session, or nil.
func (x *sessionIndex) session(round int64) *RoundSession {
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.byRound[round]
	if !ok {
		return nil
	}
	c := s.row
	return &c
}
