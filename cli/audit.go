package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "explain from a log why something happened",
		Subcommands: []*cli.Command{
			{
				Name:      "round",
				Usage:     "the decision trail of one signing round",
				UsageText: "metanode audit round R --log DIR [--json]",
				Description: "Folds the log to the end of round R (the last event before the first tick of the\n" +
					"next round) and shows every proposal with the result of each check, the signing\n" +
					"sets, the ranking of docs, pruned peers and why, the threshold set, the checksums,\n" +
					"outliers and the outcome. R is a round number as `query rounds` lists them.",
				// --log is checked in auditRound: flags may also follow R.
				Flags:  []cli.Flag{&cli.StringFlag{Name: "log", Usage: "the node's log directory", EnvVars: envName("log")}, jsonFlag()},
				Action: auditRound,
			},
		},
	}
}

func auditRound(c *cli.Context) error {
	if c.NArg() < 1 {
		return fmt.Errorf("audit round: give one round number (see metanode query rounds)")
	}
	number, err := strconv.ParseInt(c.Args().First(), 10, 64)
	if err != nil {
		return fmt.Errorf("audit round %q: not a round number", c.Args().First())
	}
	// urfave/cli stops at the first argument; read flags that follow R.
	logDir, asJSON := c.String("log"), c.Bool("json")
	rest := flag.NewFlagSet("audit round", flag.ContinueOnError)
	rest.SetOutput(io.Discard)
	rest.StringVar(&logDir, "log", logDir, "")
	rest.BoolVar(&asJSON, "json", asJSON, "")
	if err := rest.Parse(c.Args().Tail()); err != nil || rest.NArg() > 0 {
		return fmt.Errorf("audit round: unexpected arguments %v", c.Args().Tail())
	}
	if logDir == "" {
		return fmt.Errorf("audit round: --log DIR is required")
	}
	store, err := events.Open(logDir, events.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	state := projections.NewState()
	epoch := int64(0)
	var round *projections.Round
	trails := map[events.Hash]*sessionTrail{}
	// Fold until the first tick of a later round; keep the round as it
	// stood at its end.
	err = store.ForEach(1, 0, func(seq uint64, ev events.Event) error {
		if tick, ok := ev.(*events.Tick); ok && epoch > 0 && int64(tick.Time)/epoch > number {
			return errStopAudit
		}
		state.Apply(seq, ev)
		traceSession(trails, seq, ev)
		if g, ok := ev.(*events.Genesis); ok {
			epoch = int64(g.Params.SigningEpoch)
		}
		if cur := state.Rounds.Current(); cur != nil && cur.Number == number {
			round = cur
		}
		return nil
	})
	if err != nil && err != errStopAudit {
		return err
	}
	if round == nil {
		return fmt.Errorf("audit round %d: the log %s has no tick in that round", number, store.Path())
	}
	var trail *sessionTrail
	if round.Session != nil {
		trail = trails[*round.Session]
	}
	if asJSON {
		view := auditView(round)
		view.Session = trail
		return printJSON(c.App.Writer, view)
	}
	printAudit(c.App.Writer, round)
	printTrail(c.App.Writer, trail)
	return nil
}

// sessionTrail is what a log holds of one tss session: its start, the
// tss messages this node sent and received, and its outcome.
type sessionTrail struct {
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

	culprits []events.PeerID
}

// traceSession follows tss sessions through the log.
func traceSession(trails map[events.Hash]*sessionTrail, seq uint64, ev events.Event) {
	sessionOf := func(m *events.Signed) (events.Hash, bool) {
		var msg events.TSSMessage
		if m.Type != events.TypeTSS || events.Unmarshal(m.Body, &msg) != nil {
			return events.Hash{}, false
		}
		return msg.Session, true
	}
	switch e := ev.(type) {
	case *events.TSSSessionStarted:
		t := &sessionTrail{Session: e.Session.String(), Protocol: e.Protocol.String(), StartedSeq: seq}
		for _, p := range e.Parties {
			t.Parties = append(t.Parties, hexID(p))
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
			t.culprits = e.Culprits
			for _, p := range e.Culprits {
				t.Culprits = append(t.Culprits, hexID(p))
			}
			if len(e.Signature) > 0 {
				t.Signature = fmt.Sprintf("%x", e.Signature)
			}
		}
	}
}

func printTrail(w io.Writer, t *sessionTrail) {
	if t == nil {
		return
	}
	fmt.Fprintf(w, "\ntss %s session %s:\n", t.Protocol, short(t.Session))
	fmt.Fprintf(w, "  seq %-7d started, %d parties\n", t.StartedSeq, len(t.Parties))
	fmt.Fprintf(w, "  tss messages: %d sent, %d received\n", t.Sent, t.Received)
	if t.FinishedSeq == 0 {
		fmt.Fprintln(w, "  no outcome in the log")
		return
	}
	line := fmt.Sprintf("  seq %-7d %s", t.FinishedSeq, t.Outcome)
	if len(t.culprits) > 0 {
		line += ", culprits " + peers(t.culprits)
	}
	if t.Error != "" {
		line += ": " + t.Error
	}
	if t.Signature != "" {
		line += ", signature " + short(t.Signature) + "..."
	}
	fmt.Fprintln(w, line)
}

var errStopAudit = fmt.Errorf("stop")

type auditJSON struct {
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
	Session       *sessionTrail    `json:"tss_session,omitempty"`
	Extra         map[string]any   `json:"-"`
}

func hexID(p events.PeerID) string { return fmt.Sprintf("%x", []byte(p)) }

func auditView(r *projections.Round) auditJSON {
	out := auditJSON{Round: r.Number, Start: r.Start.String(), Participating: r.Participating, NotTakingPart: r.NotTakingPart,
		Transfers: r.Transfers, Outcome: r.Outcome, Reason: r.Reason}
	if r.Participating {
		out.M0 = r.M0.String()
	}
	for _, p := range r.Proposals {
		out.Proposals = append(out.Proposals, map[string]any{"seq": p.Seq, "from": hexID(p.From), "m0": p.Proposal.M0.String(),
			"transfers": p.Proposal.Transfers, "accepted": p.Accepted, "reason": p.Reason})
	}
	for _, e := range r.Equivocations {
		out.Equivocations = append(out.Equivocations, map[string]any{"peer": hexID(e.Peer), "evidence_seqs": e.Evidence})
	}
	for _, s := range r.Sets {
		members := make([]string, len(s.Set.Members))
		for i, m := range s.Set.Members {
			members[i] = hexID(m)
		}
		out.Sets = append(out.Sets, map[string]any{"seq": s.Seq, "from": hexID(s.From), "m0": s.Set.M0.String(), "members": members, "ignored": s.Ignored})
	}
	if th := r.Threshold; th != nil {
		for _, a := range th.Attempts {
			chosen := make([]string, len(a.Chosen))
			for i, p := range a.Chosen {
				chosen[i] = hexID(p)
			}
			out.Ranking = append(out.Ranking, map[string]any{"m0": a.Doc.M0.String(), "valid_transfers": a.Doc.ValidTransfers,
				"own_doc": a.Doc.Own, "candidates": len(a.Candidates), "chosen": chosen, "note": a.Note})
		}
		for _, p := range th.Pruned {
			out.Pruned = append(out.Pruned, map[string]any{"peer": hexID(p.Peer), "reason": p.Reason, "senior": hexID(p.Senior)})
		}
		for _, p := range th.Set {
			out.Set = append(out.Set, hexID(p))
		}
	}
	for _, cs := range r.Checksums {
		out.Checksums = append(out.Checksums, map[string]any{"seq": cs.Seq, "from": hexID(cs.From), "sum": cs.Sum.String(), "matches": cs.Sum == r.Expected})
	}
	for _, o := range r.Outliers {
		out.Outliers = append(out.Outliers, hexID(o))
	}
	return out
}

func printAudit(w io.Writer, r *projections.Round) {
	fmt.Fprintf(w, "round %d (starts %s): %s", r.Number, r.Start, r.Outcome)
	if r.Reason != "" {
		fmt.Fprintf(w, ": %s", r.Reason)
	}
	fmt.Fprintln(w)
	if !r.Participating {
		fmt.Fprintf(w, "this node did not take part: %s\n", r.NotTakingPart)
	} else {
		fmt.Fprintf(w, "own doc m0 %s, transfers %v\n", short(r.M0.String()), r.Transfers)
	}
	fmt.Fprintf(w, "\nproposals (%d):\n", len(r.Proposals))
	for _, p := range r.Proposals {
		verdict := "accepted into the own signing set"
		if !p.Accepted {
			verdict = "not accepted: " + p.Reason
		}
		fmt.Fprintf(w, "  seq %-7d %s  m0 %s  %d transfers  %s\n", p.Seq, p.From.Short(), short(p.Proposal.M0.String()), len(p.Proposal.Transfers), verdict)
	}
	for _, e := range r.Equivocations {
		fmt.Fprintf(w, "  equivocation by %s: evidence seqs %v\n", e.Peer.Short(), e.Evidence)
	}
	fmt.Fprintf(w, "\nsigning sets (%d):\n", len(r.Sets))
	for _, s := range r.Sets {
		note := ""
		if s.Ignored != "" {
			note = "  ignored: " + s.Ignored
		}
		fmt.Fprintf(w, "  seq %-7d %s  m0 %s  members %s%s\n", s.Seq, s.From.Short(), short(s.Set.M0.String()), peers(s.Set.Members), note)
	}
	th := r.Threshold
	if th == nil {
		fmt.Fprintln(w, "\nthreshold set: not computed (the round ended before the signing-set phase did)")
		return
	}
	fmt.Fprintln(w, "\nranking of docs:")
	for i, a := range th.Attempts {
		own := ""
		if a.Doc.Own {
			own = " (own doc)"
		}
		fmt.Fprintf(w, "  %d. m0 %s%s  %d valid transfers  %d candidates  chosen %s  %s\n", i+1, short(a.Doc.M0.String()), own, a.Doc.ValidTransfers, len(a.Candidates), peers(a.Chosen), a.Note)
	}
	for _, p := range th.Pruned {
		fmt.Fprintf(w, "  pruned %s: %s %s\n", p.Peer.Short(), p.Reason, p.Senior.Short())
	}
	if th.Found {
		fmt.Fprintf(w, "\nthreshold set: %s on m0 %s, checksum %s\n", peers(th.Set), short(th.M0.String()), short(r.Expected.String()))
	} else {
		fmt.Fprintln(w, "\nthreshold set: none")
	}
	if len(r.Checksums) > 0 {
		fmt.Fprintln(w, "checksums:")
		for _, cs := range r.Checksums {
			match := "matches"
			if cs.Sum != r.Expected {
				match = "MISMATCH"
			}
			fmt.Fprintf(w, "  seq %-7d %s  %s  %s\n", cs.Seq, cs.From.Short(), short(cs.Sum.String()), match)
		}
	}
	if len(r.Outliers) > 0 {
		fmt.Fprintf(w, "outliers (blocked): %s\n", peers(r.Outliers))
	}
}
