package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:  "replay",
		Usage: "fold a log through the projections and print the state hash",
		UsageText: "metanode replay --log DIR [--until SEQ|TIME] [--verify] [--json]\n" +
			"metanode replay diff --log A --log B [--json]",
		Description: "Replaying the same log, or a copy of it, always gives the same state hash.\n" +
			"--verify recomputes every duty from the log and checks it against the messages the log\n" +
			"records as sent, the stake checks and the signing starts, stopping at the first divergence.\n" +
			"--until takes a seq (stop after it) or an RFC 3339 time (stop before the first\n" +
			"clock tick later than it: the node's state as its clock read that time).",
		// --log is checked by runReplay, not marked Required: urfave/cli
		// checks a command's required flags before it picks a
		// subcommand, and diff takes --log twice after its own name.
		Flags: []cli.Flag{optionalLogDirFlag(), jsonFlag(),
			&cli.StringFlag{Name: "until", Usage: "stop at this `SEQ|TIME`", EnvVars: envName("until")},
			&cli.BoolFlag{Name: "verify", Usage: "recompute every duty and check it against what the log records as done; exit 1 at the first divergence", EnvVars: envName("verify")},
		},
		Action:      runReplay,
		Subcommands: []*cli.Command{replayDiffCommand()},
	}
}

func optionalLogDirFlag() *cli.StringFlag {
	f := logDirFlag()
	f.Required = false
	return f
}

// errNoLog is urfave/cli's own message for a missing required flag, so
// replay without --log reads as it did when the flag was Required.
//
//lint:ignore ST1005 the wording is urfave/cli's, kept for users and scripts
var errNoLog = errors.New(`Required flag "log" not set`)

// parseUntil reads a seq or an RFC 3339 time.
func parseUntil(s string) (replay.Until, error) {
	if s == "" {
		return replay.Until{}, nil
	}
	if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
		if seq == 0 {
			return replay.Until{}, fmt.Errorf("--until 0: seqs start at 1")
		}
		return replay.Until{Seq: seq}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return replay.Until{}, fmt.Errorf("--until %q: want a seq (e.g. 1200) or an RFC 3339 time (e.g. 2026-01-01T00:05:00Z)", s)
	}
	return replay.Until{Time: events.TimeOf(t)}, nil
}

type replayOutput struct {
	Log       string                  `json:"log"`
	Events    uint64                  `json:"events"`
	LastSeq   uint64                  `json:"last_seq"`
	LastTick  string                  `json:"last_tick,omitempty"`
	PeersSeen int                     `json:"peers_seen"`
	PerKind   []projections.KindCount `json:"per_kind"`
	StateHash string                  `json:"state_hash"`
}

func runReplay(c *cli.Context) error {
	if !c.IsSet("log") {
		_ = cli.ShowSubcommandHelp(c)
		return errNoLog
	}
	if c.Bool("verify") {
		return verifyDuties(c)
	}
	state, res, err := foldLog(c)
	if err != nil {
		return err
	}
	summary := state.Summary
	out := replayOutput{
		Log: filepath.Join(c.String("log"), events.FileName), Events: res.Events, LastSeq: res.LastSeq, PeersSeen: len(summary.Peers()),
		PerKind: summary.PerKind(), StateHash: res.StateHash.String(),
	}
	if summary.LastTick != 0 {
		out.LastTick = summary.LastTick.String()
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, out)
	}
	table(c.App.Writer, [][2]string{
		{"log", out.Log},
		{"replayed", fmt.Sprintf("%d events, up to seq %d", out.Events, out.LastSeq)},
		{"clock", out.LastTick},
		{"peers seen", fmt.Sprint(out.PeersSeen)},
		{"state hash", out.StateHash},
	})
	return nil
}

// verifyDuties is replay --verify.
func verifyDuties(c *cli.Context) error {
	until, err := parseUntil(c.String("until"))
	if err != nil {
		return err
	}
	store, err := openReadOnly(c)
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := replay.VerifyDuties(store, until)
	if c.Bool("json") {
		out := map[string]any{"log": store.Path(), "ok": err == nil, "events": rep.Events, "ticks": rep.Ticks, "duties_matched": rep.Duties}
		if err != nil {
			out["divergence"] = err.Error()
		}
		if perr := printJSON(c.App.Writer, out); perr != nil {
			return perr
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("replay --verify %s: %w", store.Path(), err)
	}
	fmt.Fprintf(c.App.Writer, "ok: %s: %d events, %d ticks, every one of %d recorded actions was a due duty, and no due duty was left undone\n",
		store.Path(), rep.Events, rep.Ticks, rep.Duties)
	return nil
}

func replayDiffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "compare two replicas' logs record by record and name the first difference",
		UsageText: "metanode replay diff --log A --log B [--json]",
		Description: "Compares kind and body at every seq up to the end of the shorter log. A log that is\n" +
			"a prefix of the other is no difference (that replica is only behind): both lengths are\n" +
			"printed. Exits 1 with a one-line reason at the first seq where the logs differ.",
		// No environment variable: it would hold one directory, and diff
		// wants two.
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "log", Usage: "a replica's log `DIR` (holding events.db); give it twice, A then B"},
			jsonFlag(),
		},
		Action: runReplayDiff,
	}
}

type diffLogOutput struct {
	Log     string `json:"log"`
	LastSeq uint64 `json:"last_seq"`
}

type diffRecordOutput struct {
	Kind      string `json:"kind"`
	BodyHash  string `json:"body_hash"`
	BodyBytes int    `json:"body_bytes"`
}

type diffOutput struct {
	A               diffLogOutput         `json:"a"`
	B               diffLogOutput         `json:"b"`
	Compared        uint64                `json:"compared"`
	Identical       bool                  `json:"identical"`
	FirstDifference *diffDifferenceOutput `json:"first_difference,omitempty"`
}

type diffDifferenceOutput struct {
	Seq uint64           `json:"seq"`
	A   diffRecordOutput `json:"a"`
	B   diffRecordOutput `json:"b"`
}

func recordOutput(r replay.RecordSummary) diffRecordOutput {
	return diffRecordOutput{Kind: r.Kind.String(), BodyHash: r.BodyHash.String(), BodyBytes: r.BodyBytes}
}

// runReplayDiff is replay diff. Logs that differ end it with an error,
// as a --verify divergence does: one line on stderr, exit status 1.
func runReplayDiff(c *cli.Context) error {
	dirs := c.StringSlice("log")
	if len(dirs) != 2 {
		return fmt.Errorf("replay diff: give --log exactly twice, A then B (got %d)", len(dirs))
	}
	if c.Args().Present() {
		return fmt.Errorf("replay diff: unexpected argument %q (the logs go in --log A --log B)", c.Args().First())
	}
	a, err := events.Open(dirs[0], events.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("replay diff: log A: %w", err)
	}
	defer a.Close()
	b, err := events.Open(dirs[1], events.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("replay diff: log B: %w", err)
	}
	defer b.Close()

	res, err := replay.Diff(a, b)
	if err != nil {
		return fmt.Errorf("replay diff: %w", err)
	}
	var differ error
	if d := res.First; d != nil {
		differ = fmt.Errorf("replay diff: %s", d)
	}
	if c.Bool("json") {
		out := diffOutput{
			A:        diffLogOutput{Log: a.Path(), LastSeq: res.LastA},
			B:        diffLogOutput{Log: b.Path(), LastSeq: res.LastB},
			Compared: res.Compared, Identical: res.First == nil,
		}
		if d := res.First; d != nil {
			out.FirstDifference = &diffDifferenceOutput{Seq: d.Seq, A: recordOutput(d.A), B: recordOutput(d.B)}
		}
		if err := printJSON(c.App.Writer, out); err != nil {
			return err
		}
		return differ
	}
	if differ != nil {
		return differ
	}
	fmt.Fprintf(c.App.Writer, "identical up to seq %d (A has %d records, B has %d)\n", res.Compared, res.LastA, res.LastB)
	return nil
}
