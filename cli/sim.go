package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/sim"
)

func simCommand() *cli.Command {
	return &cli.Command{
		Name:      "sim",
		Usage:     "run a deterministic simulation of many nodes on a virtual clock",
		UsageText: "metanode sim --nodes N --threshold T --seed S --duration D --out DIR [--byzantine KIND@INDEX,...] [--drop P] [--partition FROM-UNTIL:I,J] [--json]",
		Description: "Each node is a real node with its own event log under DIR/node-<i>; the simulator plays\n" +
			"the network and the chains. The same flags and seed give the same logs, byte for byte,\n" +
			"and `metanode replay --log DIR/node-<i>/log` gives the state hash printed here.\n" +
			"Byzantine kinds: " + behaviours() + ".\n" +
			"Node 0 has the most senior stake, node N-1 the most junior.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 7, Usage: "how many nodes", EnvVars: envName("sim-nodes")},
			&cli.IntFlag{Name: "threshold", Usage: "tss threshold t (default: (nodes-1)*2/3)", EnvVars: envName("sim-threshold")},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of everything random", EnvVars: envName("sim-seed")},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Minute, Usage: "virtual time to run", EnvVars: envName("sim-duration")},
			&cli.StringFlag{Name: "out", Usage: "directory for the nodes' logs (must be empty or new)", Required: true, EnvVars: envName("sim-out")},
			&cli.StringFlag{Name: "byzantine", Usage: "faulty nodes as `KIND@INDEX,...`", EnvVars: envName("sim-byzantine")},
			&cli.Float64Flag{Name: "drop", Usage: "probability that a message to one receiver is lost", EnvVars: envName("sim-drop")},
			&cli.Float64Flag{Name: "drop-tss", Usage: "the same for tss messages only, on top of --drop", EnvVars: envName("sim-drop-tss")},
			&cli.BoolFlag{Name: "lockstep", Usage: "the old world, for comparison only: every node ticks at one instant and messages land before the next tick", EnvVars: envName("sim-lockstep")},
			&cli.DurationFlag{Name: "max-delay", Value: 300 * time.Millisecond, Usage: "with --lockstep: largest delivery delay", EnvVars: envName("sim-max-delay")},
			&cli.DurationFlag{Name: "clock-spread", Value: sim.DefaultClockSpread, Usage: "node clock offsets spread over this much", EnvVars: envName("sim-clock-spread")},
			&cli.Float64Flag{Name: "drift-ppm", Usage: "node clocks run fast or slow by up to this many parts per million", EnvVars: envName("sim-drift-ppm")},
			&cli.DurationFlag{Name: "delay-median", Value: sim.DefaultDelayMedian, Usage: "median delivery delay (lognormal)", EnvVars: envName("sim-delay-median")},
			&cli.DurationFlag{Name: "delay-p99", Value: sim.DefaultDelayP99, Usage: "99th percentile delivery delay (lognormal)", EnvVars: envName("sim-delay-p99")},
			&cli.DurationFlag{Name: "chain-lag", Value: sim.DefaultChainLag, Usage: "each node sees a chain fact within this long of it happening", EnvVars: envName("sim-chain-lag")},
			&cli.BoolFlag{Name: "tss", Usage: "run every tss session for real, on the built-in test key of the committee (5/2, 7/4 or 10/6)", EnvVars: envName("sim-tss")},
			&cli.IntFlag{Name: "committee", Usage: "how many nodes hold key shares (n; default: all)", EnvVars: envName("sim-committee")},
			&cli.StringFlag{Name: "test-keys", Usage: "a directory of test keys for --tss (default: the committed ones, built in)", EnvVars: envName("sim-test-keys")},
			&cli.DurationFlag{Name: "deposit-every", Value: time.Minute, Usage: "mean time between deposits", EnvVars: envName("sim-deposit-every")},
			&cli.DurationFlag{Name: "keygen-for", Usage: "run keygen epochs this long before the key locks (default: start with a locked key)", EnvVars: envName("sim-keygen-for")},
			&cli.StringSliceFlag{Name: "partition", Usage: "cut nodes I,J off from the rest: `FROM-UNTIL:I,J` (repeatable)", EnvVars: envName("sim-partition")},
			jsonFlag(),
		},
		Action: runSim,
	}
}

// simTiming reads the timing flags.
func simTiming(c *cli.Context) sim.Timing {
	return sim.Timing{
		Lockstep: c.Bool("lockstep"), ClockSpread: c.Duration("clock-spread"), DriftPPM: c.Float64("drift-ppm"),
		DelayMedian: c.Duration("delay-median"), DelayP99: c.Duration("delay-p99"), ChainLag: c.Duration("chain-lag"),
	}
}

func behaviours() string {
	names := make([]string, len(sim.Behaviours))
	for i, b := range sim.Behaviours {
		names[i] = string(b)
	}
	return strings.Join(names, ", ")
}

func runSim(c *cli.Context) error {
	cfg := sim.Config{
		Nodes: c.Int("nodes"), Threshold: c.Int("threshold"), Seed: c.Uint64("seed"),
		Duration: c.Duration("duration"), Dir: c.String("out"), Drop: c.Float64("drop"), DropTSS: c.Float64("drop-tss"), MaxDelay: c.Duration("max-delay"),
		Timing:    simTiming(c),
		Committee: c.Int("committee"), KeygenFor: c.Duration("keygen-for"), DepositEvery: c.Duration("deposit-every"), TSS: c.Bool("tss"), TestKeys: testKeysFS(c.String("test-keys")),
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = max(1, (cfg.Nodes-1)*2/3)
	}
	var err error
	if cfg.Faults, err = sim.ParseFaults(c.String("byzantine")); err != nil {
		return err
	}
	for _, spec := range c.StringSlice("partition") {
		p, err := sim.ParsePartition(spec)
		if err != nil {
			return err
		}
		cfg.Partitions = append(cfg.Partitions, p)
	}
	if entries, err := os.ReadDir(cfg.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("--out %s is not empty: a simulation writes new logs", cfg.Dir)
	}
	start := time.Now()
	res, err := sim.Run(cfg)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	if c.Bool("json") {
		return printJSON(c.App.Writer, struct {
			*sim.Result
			WallSeconds            float64 `json:"wall_seconds"`
			VirtualSecondsPerWallS float64 `json:"virtual_seconds_per_wall_second"`
		}{res, wall.Seconds(), cfg.Duration.Seconds() / wall.Seconds()})
	}
	if res.Signatures > 0 {
		defer fmt.Fprintf(c.App.Writer, "real tss signatures verified under the group key: %d\n", res.Signatures)
	}
	printSimResult(c.App.Writer, res, fmt.Sprintf("sim: %d nodes, t=%d, seed %d, %v virtual in %.1f s (%.0f virtual s per wall s)",
		cfg.Nodes, cfg.Threshold, cfg.Seed, cfg.Duration, wall.Seconds(), cfg.Duration.Seconds()/wall.Seconds()))
	return nil
}

// printSimResult prints a run's summary under a headline.
func printSimResult(w io.Writer, res *sim.Result, headline string) {
	fmt.Fprintln(w, headline)
	fmt.Fprintf(w, "rounds: %d signed, %d aborted, %d skipped; rounds where two different sets started signing: %d\n",
		res.Signed, res.Aborted, res.Skipped, res.ConflictingStarts)
	if res.WithTransfers > 0 {
		fmt.Fprintf(w, "rounds with transfers (t+1 honest nodes had a doc): %d, signed %d (%.1f%%)\n",
			res.WithTransfers, res.SignedWithTransfers, 100*float64(res.SignedWithTransfers)/float64(res.WithTransfers))
	}
	type blockKey struct {
		peer   int
		reason string
	}
	counts := map[blockKey]int{}
	var order []blockKey
	for _, b := range res.Blocks {
		k := blockKey{b.Peer, b.Reason}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	if len(order) == 0 {
		fmt.Fprintln(w, "blocks: none")
	} else {
		fmt.Fprintln(w, "blocks (made by honest nodes):")
		for _, k := range order {
			fmt.Fprintf(w, "  node-%d  %-16s by %d nodes\n", k.peer, k.reason, counts[k])
		}
	}
	for _, a := range res.Attempts {
		kind := "keygen"
		if a.Regroup {
			kind = "regroup"
		}
		line := fmt.Sprintf("%s epoch %d: %s", kind, a.Epoch, a.Outcome)
		if a.Reason != "" {
			line += " (" + a.Reason + ")"
		}
		if len(a.Culprits) > 0 {
			line += fmt.Sprintf(", culprits %v", a.Culprits)
		}
		fmt.Fprintln(w, line)
	}
	for _, k := range res.Keys {
		fmt.Fprintf(w, "key %s  group key %s  vault %s  members %v\n", k.KeyID[:12], k.PublicKey[:16], k.Address, k.Members)
	}
	fmt.Fprintln(w, "nodes:")
	for _, n := range res.Nodes {
		faults := ""
		if len(n.Faults) > 0 {
			faults = "  byzantine: " + strings.Join(n.Faults, ",")
		}
		fmt.Fprintf(w, "  node-%-3d events %7d  listed %3d  dropped %5d  state %s%s\n", n.Index, n.Events, n.PeersListed, n.Dropped, n.StateHash, faults)
	}
}
