package cli

import (
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
		Name:      "replay",
		Usage:     "fold a log through the projections and print the state hash",
		UsageText: "metanode replay --log DIR [--until SEQ|TIME] [--json]",
		Description: "Replaying the same log, or a copy of it, always gives the same state hash.\n" +
			"--verify recomputes every duty from the log and checks it against the messages the log\n" +
			"records as sent, the stake checks and the signing starts, stopping at the first divergence.\n" +
			"--until takes a seq (stop after it) or an RFC 3339 time (stop before the first\n" +
			"clock tick later than it: the node's state as its clock read that time).",
		Flags: []cli.Flag{logDirFlag(), jsonFlag(),
			&cli.StringFlag{Name: "until", Usage: "stop at this `SEQ|TIME`", EnvVars: envName("until")},
			&cli.BoolFlag{Name: "verify", Usage: "recompute every duty and check it against what the log records as done; exit 1 at the first divergence", EnvVars: envName("verify")},
		},
		Action: runReplay,
	}
}

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
