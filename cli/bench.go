package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/bench"
	"github.com/metanode/metanode/devnet"
)

func benchCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "scratch directory (default: a new temporary one, removed after)", EnvVars: envName("bench-dir")}
	return &cli.Command{
		Name:  "bench",
		Usage: "measure a hot path beside its reference, in one run on this machine",
		Subcommands: []*cli.Command{
			{
				Name:  "log",
				Usage: "durable appends from concurrent writers vs raw bbolt writes of the same bytes and batch size",
				Flags: []cli.Flag{jsonFlag(), dirFlag,
					&cli.IntFlag{Name: "events", Value: 200_000, Usage: "events to append", EnvVars: envName("bench-events")},
					&cli.IntFlag{Name: "appenders", Value: 256, Usage: "concurrent appending goroutines", EnvVars: envName("bench-appenders")},
				},
				Action: func(c *cli.Context) error {
					return withScratch(c, func(dir string) (any, error) {
						res, err := bench.Log(dir, c.Int("events"), c.Int("appenders"))
						if err == nil && !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "append  %.0f events/s (p50 %.2f ms, p99 %.2f ms, %.1f events/commit)\nraw     %.0f events/s (bbolt, same bytes and batch size)\nratio   %.2f   goal: >= %.0f events/s, p99 <= %.0f ms\n",
								res.EventsPerSec, res.P50AppendMs, res.P99AppendMs, res.MeanBatch, res.LimitEventsPerSec, res.Ratio, res.GoalEventsPerSec, res.GoalP99AppendMs)
						}
						return res, err
					})
				},
			},
			{
				Name:  "raft",
				Usage: "appends committed by 3 replicas over raft on loopback vs one node's log; failover after killing the leader vs the election timeout",
				Flags: []cli.Flag{jsonFlag(), dirFlag,
					&cli.IntFlag{Name: "count", Value: bench.DefaultRaftCount, Usage: "events to append (and to one node's log, for the reference)", EnvVars: envName("bench-count")},
					&cli.IntFlag{Name: "appenders", Value: bench.DefaultRaftAppenders, Usage: "concurrent appending goroutines, one event per append", EnvVars: envName("bench-appenders")},
					&cli.IntFlag{Name: "kills", Value: bench.DefaultRaftKills, Usage: "leaders to kill, one at a time", EnvVars: envName("bench-kills")},
					&cli.IntFlag{Name: "load", Value: bench.DefaultRaftLoadPerSec, Usage: "background appends per second during the kills", EnvVars: envName("bench-load")},
				},
				Action: func(c *cli.Context) error {
					return withScratch(c, func(dir string) (any, error) {
						res, err := bench.Raft(bench.RaftOptions{Dir: dir, Count: c.Int("count"), Appenders: c.Int("appenders"), Kills: c.Int("kills"), LoadPerSec: c.Int("load")})
						if err == nil && !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "replicated  %.0f events/s (p50 %.2f ms, p99 %.2f ms; %d replicas, %d appenders, %.1f events/apply)   one node %.0f events/s (p50 %.2f ms, p99 %.2f ms)   goal: >= %.0f events/s\nfailover    p50 %.0f ms, max %.0f ms (%d kills, %d appends in the background)   election timeout %.0f ms   goal: <= %.0f ms\n",
								res.EventsPerSec, res.P50CommitMs, res.P99CommitMs, res.Replicas, res.Appenders, res.EventsPerApply, res.ReferenceEventsPerSec, res.ReferenceP50CommitMs, res.ReferenceP99CommitMs, res.GoalEventsPerSec,
								res.FailoverP50Ms, res.FailoverMaxMs, res.Kills, res.LoadAppends, res.ElectionTimeoutMs, res.GoalFailoverMs)
						}
						return res, err
					})
				},
			},
			{
				Name:  "pings",
				Usage: "CPU of validation, admission and durable logging of pings from a large peer list (one ping per 3 s each)",
				Flags: []cli.Flag{jsonFlag(), dirFlag,
					&cli.IntFlag{Name: "peers", Value: 1000, Usage: "admitted peers pinging", EnvVars: envName("bench-peers")},
					&cli.IntFlag{Name: "seconds", Value: 60, Usage: "seconds of load", EnvVars: envName("bench-seconds")},
				},
				Action: func(c *cli.Context) error {
					return withScratch(c, func(dir string) (any, error) {
						res, err := bench.Pings(dir, c.Int("peers"), c.Int("seconds"))
						if err == nil && !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "pings   %d peers, %.0f pings/s for %d s: %.2f cpu s, %.1f us/ping\nshare   %.4f of one core   goal: <= %.2f\n",
								res.Peers, res.PingsPerSec, res.Seconds, res.CPUSeconds, res.MicrosPerPing, res.CPUShareOfCore, res.Goal)
						}
						return res, err
					})
				},
			},
			{
				Name:  "round",
				Usage: "signing rounds over real libp2p between 5 metanode processes vs the in-process tss-lib floor; node memory",
				Flags: []cli.Flag{jsonFlag(), dirFlag,
					&cli.IntFlag{Name: "rounds", Value: 3, Usage: "signed rounds to measure", EnvVars: envName("bench-rounds")},
					&cli.IntFlag{Name: "base-port", Value: 27500, Usage: "the devnet's ports (see metanode devnet)", EnvVars: envName("bench-base-port")},
				},
				Action: func(c *cli.Context) error {
					bin, err := os.Executable()
					if err != nil {
						return err
					}
					return withScratch(c, func(dir string) (any, error) {
						progress := func(s string) {
							if !c.Bool("json") {
								fmt.Fprintln(c.App.Writer, s)
							}
						}
						res, err := devnet.BenchRound(c.Context, bin, filepath.Join(dir, "devnet"), c.Int("base-port"), c.Int("rounds"), progress)
						if err == nil && !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "network %.3f s per signing session (%d sessions, %d signers, 5 processes on libp2p)\nfloor   %.3f s (raw tss-lib, one process)\nratio   %.2f   goal: <= %.1f\nrss     idle %v MiB, peak %v MiB\n",
								res.NetworkSeconds, res.Sessions, res.Signers, res.FloorSeconds, res.Ratio, res.Goal, res.RSSIdleMB, res.RSSPeakMB)
						}
						return res, err
					})
				},
			},
			{
				Name:  "tss",
				Usage: "signing with 3, 5 and 7 signers, keygen n=5 and resharing 5->5 through the session runner vs raw tss-lib (real proofs)",
				Flags: []cli.Flag{jsonFlag(),
					&cli.StringFlag{Name: "test-keys", Usage: "a directory of test keys (default: the committed ones, built in)", EnvVars: envName("bench-test-keys")},
					&cli.IntFlag{Name: "runs", Value: 3, Usage: "runs of each side, alternating; each keeps its best", EnvVars: envName("bench-runs")},
				},
				Action: func(c *cli.Context) error {
					pairs, err := bench.TSS(testKeysFS(c.String("test-keys")), c.Int("runs"), func(p bench.TSSPair) {
						if !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "%-16s runner %6.2f s   raw tss-lib %6.2f s   ratio %.2f (goal <= 1.10)\n", p.Name, p.RunnerSeconds, p.FloorSeconds, p.Ratio)
						}
					})
					if err != nil {
						return fmt.Errorf("bench tss: %w", err)
					}
					if c.Bool("json") {
						return jsonLine(c.App.Writer, map[string]any{"pairs": pairs})
					}
					return nil
				},
			},
			{
				Name:  "replay",
				Usage: "replay of a ping log on one core vs bare msgpack decoding of the same events",
				Flags: []cli.Flag{jsonFlag(), dirFlag,
					&cli.IntFlag{Name: "events", Value: 1_000_000, Usage: "events in the log", EnvVars: envName("bench-events")},
					&cli.IntFlag{Name: "rounds", Value: 3, Usage: "measurements per side; the best counts", EnvVars: envName("bench-rounds")},
				},
				Action: func(c *cli.Context) error {
					return withScratch(c, func(dir string) (any, error) {
						res, err := bench.Replay(dir, c.Int("events"), c.Int("rounds"))
						if err == nil && !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "replay  %.0f events/s (one core)\nbare    %.0f events/s (msgpack decoding from memory)\nratio   %.2f   goal: >= %.0f events/s and ratio >= %.2f\n",
								res.EventsPerSec, res.LimitEventsPerSec, res.Ratio, res.GoalEventsPerSec, res.GoalRatio)
						}
						return res, err
					})
				},
			},
		},
	}
}

// withScratch runs a benchmark in --dir or a temporary directory, and
// prints its result as JSON when asked.
func withScratch(c *cli.Context, run func(dir string) (any, error)) error {
	dir := c.String("dir")
	if dir == "" {
		tmp, err := os.MkdirTemp("", "metanode-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	res, err := run(dir)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if c.Bool("json") {
		return jsonLine(c.App.Writer, res)
	}
	return nil
}
