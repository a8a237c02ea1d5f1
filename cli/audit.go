package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
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
	audit, err := replay.AuditRound(c.Context, store, number)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, audit.View())
	}
	printAudit(c.App.Writer, audit.Round)
	printTrail(c.App.Writer, audit.Session)
	return nil
}

func printTrail(w io.Writer, t *replay.SessionTrail) {
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
	if len(t.CulpritIDs) > 0 {
		line += ", culprits " + peers(t.CulpritIDs)
	}
	if t.Error != "" {
		line += ": " + t.Error
	}
	if t.Signature != "" {
		line += ", signature " + short(t.Signature) + "..."
	}
	fmt.Fprintln(w, line)
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
