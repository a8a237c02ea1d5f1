package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// ErrNoRound says a log holds no tick in the round asked for.
var ErrNoRound = errors.New("no tick in that round")

// RoundAudit is one signing round as it stood at its end, and the trail
// of its tss session: what `metanode audit round` and the REST API's
// /api/v1/rounds/{r} show.
type RoundAudit struct {
	Round *projections.Round
	// Session is the trail of the round's signing session; nil when none
	// started here.
	Session *SessionTrail
	// LastSeq is the last event folded: the round's last event, or the
	// log's end while the round is under way.
	LastSeq uint64
}

// SessionTrail is what a log holds of one tss session: its start, the
// tss messages this node sent and received, and its outcome. Peer ids
// are hex, as everywhere in the audit's JSON.
type SessionTrail struct {
	Session     string   `json:"session"`
	Protocol    string   `json:"protocol"`
	StartedSeq  uint64   `json:"started_seq"`
	Parties     []string `json:"parties"`
	Sent        int      `json:"tss_messages_sent"`
	Received    int      `json:"tss_messages_received"`
	FinishedSeq uint64   `json:"finished_seq,omitempty"`
	Outcome     string   `json:"outcome,omitempty"`
	Culprits    []string `json:"culprits,omitempty"`
	Error       string   `json:"error,omitempty"`
	Signature   string   `json:"signature,omitempty"`

	// CulpritIDs are the culprits as peer ids, for text output.
	CulpritIDs []events.PeerID `json:"-"`
}

var errStopAudit = errors.New("stop")

// ctxCheckEvery is how many events an audit folds between looks at its
// context.
const ctxCheckEvery = 4096

// AuditRound folds the log to the end of round number (the last event
// before the first tick of a later round) and returns the round as it
// stood then, with its signing session's trail. A log without a tick in
// that round gives an error wrapping ErrNoRound. The fold stops early
// with ctx.Err() when ctx ends.
func AuditRound(ctx context.Context, store *events.Store, number int64) (RoundAudit, error) {
	state := projections.NewState()
	epoch := int64(0)
	var audit RoundAudit
	trails := map[events.Hash]*SessionTrail{}
	folded := 0
	// Fold until the first tick of a later round; keep the round as it
	// stood at its end.
	err := store.ForEachChunked(1, 0, func(seq uint64, ev events.Event) error {
		if folded%ctxCheckEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		folded++
		if tick, ok := ev.(*events.Tick); ok && epoch > 0 && int64(tick.Time)/epoch > number {
			return errStopAudit
		}
		state.Apply(seq, ev)
		traceSession(trails, seq, ev)
		if g, ok := ev.(*events.Genesis); ok {
			epoch = int64(g.Params.SigningEpoch)
		}
		if cur := state.Rounds.Current(); cur != nil && cur.Number == number {
			audit.Round, audit.LastSeq = cur, seq
		}
		return nil
	})
	if err != nil && err != errStopAudit {
		return RoundAudit{}, err
	}
	if audit.Round == nil {
		return RoundAudit{}, fmt.Errorf("audit round %d: the log %s has %w", number, store.Path(), ErrNoRound)
	}
	if audit.Round.Session != nil {
		audit.Session = trails[*audit.Round.Session]
	}
	return audit, nil
}

// traceSession follows tss sessions through the log.
func traceSession(trails map[events.Hash]*SessionTrail, seq uint64, ev events.Event) {
	sessionOf := func(m *events.Signed) (events.Hash, bool) {
		var msg events.TSSMessage
		if m.Type != events.TypeTSS || events.Unmarshal(m.Body, &msg) != nil {
			return events.Hash{}, false
		}
		return msg.Session, true
	}
	switch e := ev.(type) {
	case *events.TSSSessionStarted:
		t := &SessionTrail{Session: e.Session.String(), Protocol: e.Protocol.String(), StartedSeq: seq}
		for _, p := range e.Parties {
			t.Parties = append(t.Parties, HexID(p))
		}
		trails[e.Session] = t
	case *events.MessageSent:
		if id, ok := sessionOf(&e.Msg); ok && trails[id] != nil {
			trails[id].Sent++
		}
	case *events.TSSMessageReceived:
		if id, ok := sessionOf(&e.Msg); ok && trails[id] != nil {
			trails[id].Received++
		}
	case *events.TSSSessionFinished:
		if t := trails[e.Session]; t != nil && t.FinishedSeq == 0 {
			t.FinishedSeq, t.Outcome, t.Error = seq, e.Outcome.String(), e.Error
			t.CulpritIDs = e.Culprits
			for _, p := range e.Culprits {
				t.Culprits = append(t.Culprits, HexID(p))
			}
			if len(e.Signature) > 0 {
				t.Signature = fmt.Sprintf("%x", e.Signature)
			}
		}
	}
}

// HexID is a peer id's bytes in hex: how the audit's JSON names peers.
func HexID(p events.PeerID) string { return fmt.Sprintf("%x", []byte(p)) }

// AuditView is a round's audit trail as JSON: `metanode audit round R
// --json` and /api/v1/rounds/{r}.
type AuditView struct {
	Round         int64            `json:"round"`
	Start         string           `json:"start"`
	Participating bool             `json:"participating"`
	NotTakingPart string           `json:"not_taking_part,omitempty"`
	M0            string           `json:"m0,omitempty"`
	Transfers     []string         `json:"transfers,omitempty"`
	Proposals     []map[string]any `json:"proposals"`
	Equivocations []map[string]any `json:"equivocations,omitempty"`
	Sets          []map[string]any `json:"signing_sets"`
	Ranking       []map[string]any `json:"ranking,omitempty"`
	Pruned        []map[string]any `json:"pruned,omitempty"`
	Set           []string         `json:"threshold_set,omitempty"`
	Checksums     []map[string]any `json:"checksums,omitempty"`
	Outliers      []string         `json:"outliers,omitempty"`
	Outcome       string           `json:"outcome"`
	Reason        string           `json:"reason,omitempty"`
	Session       *SessionTrail    `json:"tss_session,omitempty"`
}

// View is the audit as JSON.
func (a RoundAudit) View() AuditView {
	view := RoundView(a.Round)
	view.Session = a.Session
	return view
}

// RoundView is a round's decision trail as JSON, without its session.
func RoundView(r *projections.Round) AuditView {
	out := AuditView{Round: r.Number, Start: r.Start.String(), Participating: r.Participating, NotTakingPart: r.NotTakingPart,
		Transfers: r.Transfers, Outcome: r.Outcome, Reason: r.Reason}
	if r.Participating {
		out.M0 = r.M0.String()
	}
	for _, p := range r.Proposals {
		out.Proposals = append(out.Proposals, map[string]any{"seq": p.Seq, "from": HexID(p.From), "m0": p.Proposal.M0.String(),
			"transfers": p.Proposal.Transfers, "accepted": p.Accepted, "reason": p.Reason})
	}
	for _, e := range r.Equivocations {
		out.Equivocations = append(out.Equivocations, map[string]any{"peer": HexID(e.Peer), "evidence_seqs": e.Evidence})
	}
	for _, s := range r.Sets {
		members := make([]string, len(s.Set.Members))
		for i, m := range s.Set.Members {
			members[i] = HexID(m)
		}
		out.Sets = append(out.Sets, map[string]any{"seq": s.Seq, "from": HexID(s.From), "m0": s.Set.M0.String(), "members": members, "ignored": s.Ignored})
	}
	if th := r.Threshold; th != nil {
		for _, a := range th.Attempts {
			chosen := make([]string, len(a.Chosen))
			for i, p := range a.Chosen {
				chosen[i] = HexID(p)
			}
			out.Ranking = append(out.Ranking, map[string]any{"m0": a.Doc.M0.String(), "valid_transfers": a.Doc.ValidTransfers,
				"own_doc": a.Doc.Own, "candidates": len(a.Candidates), "chosen": chosen, "note": a.Note})
		}
		for _, p := range th.Pruned {
			out.Pruned = append(out.Pruned, map[string]any{"peer": HexID(p.Peer), "reason": p.Reason, "senior": HexID(p.Senior)})
		}
		for _, p := range th.Set {
			out.Set = append(out.Set, HexID(p))
		}
	}
	for _, cs := range r.Checksums {
		out.Checksums = append(out.Checksums, map[string]any{"seq": cs.Seq, "from": HexID(cs.From), "sum": cs.Sum.String(), "matches": cs.Sum == r.Expected})
	}
	for _, o := range r.Outliers {
		out.Outliers = append(out.Outliers, HexID(o))
	}
	return out
}
