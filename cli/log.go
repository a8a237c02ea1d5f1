package cli

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

func logCommand() *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "inspect and check a node's event log",
		Subcommands: []*cli.Command{
			{
				Name:   "stats",
				Usage:  "events per kind, seq range, tick range and peers seen",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag()},
				Action: logStats,
			},
			{
				Name:  "tail",
				Usage: "the last events, one line each",
				Flags: []cli.Flag{logDirFlag(), jsonFlag(),
					&cli.Uint64Flag{Name: "n", Value: 20, Usage: "how many events", EnvVars: envName("tail-n")},
				},
				Action: logTail,
			},
			{
				Name: "verify",
				Usage: "check every record (checksum, seq, kind, body) and the file's pages; " +
					"exits non-zero with a one-line reason at the first fault",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag()},
				Action: logVerify,
			},
		},
	}
}

func openReadOnly(c *cli.Context) (*events.Store, error) {
	return events.Open(c.String("log"), events.Options{ReadOnly: true})
}

type statsOutput struct {
	Log       string                  `json:"log"`
	FileBytes int64                   `json:"file_bytes"`
	Network   string                  `json:"network"`
	NodeID    string                  `json:"node_id"`
	Events    uint64                  `json:"events"`
	LastSeq   uint64                  `json:"last_seq"`
	FirstTick string                  `json:"first_tick,omitempty"`
	LastTick  string                  `json:"last_tick,omitempty"`
	PeersSeen int                     `json:"peers_seen"`
	PerKind   []projections.KindCount `json:"per_kind"`
	StateHash string                  `json:"state_hash"`
}

func logStats(c *cli.Context) error {
	store, err := openReadOnly(c)
	if err != nil {
		return err
	}
	defer store.Close()
	state := projections.NewState()
	summary := state.Summary
	res, err := replay.Run(store, state, replay.Until{})
	if err != nil {
		return err
	}
	out := statsOutput{
		Log: store.Path(), Network: summary.Network, NodeID: fmt.Sprintf("%x", summary.NodeID),
		Events: res.Events, LastSeq: res.LastSeq, PeersSeen: len(summary.Peers()),
		PerKind: summary.PerKind(), StateHash: res.StateHash.String(),
	}
	if info, err := os.Stat(store.Path()); err == nil {
		out.FileBytes = info.Size()
	}
	if summary.FirstTick != 0 {
		out.FirstTick, out.LastTick = summary.FirstTick.String(), summary.LastTick.String()
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, out)
	}
	rows := [][2]string{
		{"log", fmt.Sprintf("%s (%d bytes)", out.Log, out.FileBytes)},
		{"network", fmt.Sprintf("%s, node %s", out.Network, summary.NodeID.Short())},
		{"events", fmt.Sprintf("%d (seq 1 to %d)", out.Events, out.LastSeq)},
		{"ticks", fmt.Sprintf("%s to %s", out.FirstTick, out.LastTick)},
		{"peers seen", fmt.Sprint(out.PeersSeen)},
	}
	for _, k := range out.PerKind {
		rows = append(rows, [2]string{"  " + k.Name, fmt.Sprint(k.Count)})
	}
	rows = append(rows, [2]string{"state hash", out.StateHash})
	table(c.App.Writer, rows)
	return nil
}

type tailLine struct {
	Seq     uint64 `json:"seq"`
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
}

func logTail(c *cli.Context) error {
	store, err := openReadOnly(c)
	if err != nil {
		return err
	}
	defer store.Close()
	last := store.LastSeq()
	n := c.Uint64("n")
	from := uint64(1)
	if last > n {
		from = last - n + 1
	}
	return store.ForEach(from, last, func(seq uint64, ev events.Event) error {
		line := tailLine{Seq: seq, Kind: ev.Kind().String(), Summary: describe(ev)}
		if c.Bool("json") {
			return jsonLine(c.App.Writer, line)
		}
		_, err := fmt.Fprintf(c.App.Writer, "%8d  %-22s  %s\n", line.Seq, line.Kind, line.Summary)
		return err
	})
}

type verifyOutput struct {
	Log     string `json:"log"`
	OK      bool   `json:"ok"`
	Events  uint64 `json:"events"`
	LastSeq uint64 `json:"last_seq"`
	Bytes   uint64 `json:"record_bytes"`
	Fault   string `json:"fault,omitempty"`
}

func logVerify(c *cli.Context) error {
	store, err := openReadOnly(c)
	if err != nil {
		if c.Bool("json") && events.IsDamage(err) {
			if perr := printJSON(c.App.Writer, verifyOutput{Log: c.String("log"), Fault: err.Error()}); perr != nil {
				return perr
			}
		}
		return err
	}
	defer store.Close()
	report, err := store.Verify()
	out := verifyOutput{Log: store.Path(), OK: err == nil, Events: report.Events, LastSeq: report.LastSeq, Bytes: report.Bytes}
	if err != nil {
		out.Fault = err.Error()
	}
	if c.Bool("json") {
		if perr := printJSON(c.App.Writer, out); perr != nil {
			return perr
		}
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "ok: %s: %d events, seq 1 to %d, %d record bytes\n", out.Log, out.Events, out.LastSeq, out.Bytes)
	return nil
}
