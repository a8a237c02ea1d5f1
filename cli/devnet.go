package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/sim"
)

func devnetCommand() *cli.Command {
	return &cli.Command{
		Name:  "devnet",
		Usage: "run a local devnet of several nodes in this process, on the embedded defaults",
		Description: "The simulator paced to the wall clock: real nodes, each with its identity and event log\n" +
			"under --dir/node-<i>, exchanging signed pings, proposals, signing sets and checksums, with\n" +
			"an embedded world that confirms their stakes, sends deposits and swap intents, and stands\n" +
			"in for tss sessions until the tss work lands. Stop with Ctrl-C; then inspect a node with\n" +
			"`metanode query rounds --log DIR/node-0/log` or `metanode audit round R --log ...`.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "how many nodes", EnvVars: envName("devnet-nodes")},
			&cli.IntFlag{Name: "threshold", Usage: "tss threshold t; a signature needs t+1 shares (default: (nodes-1)*2/3)", EnvVars: envName("devnet-threshold")},
			&cli.StringFlag{Name: "dir", Value: "devnet", Usage: "where the nodes keep their data", EnvVars: envName("devnet-dir")},
			&cli.DurationFlag{Name: "duration", Usage: "stop after this much devnet time (default: run until interrupted)", EnvVars: envName("devnet-duration")},
			&cli.Float64Flag{Name: "speed", Value: 1, Usage: "devnet seconds per wall-clock second", EnvVars: envName("devnet-speed")},
			&cli.DurationFlag{Name: "status-every", Value: 20 * time.Second, Usage: "how often (devnet time) to print the nodes' status", EnvVars: envName("devnet-status-every")},
			&cli.StringFlag{Name: "byzantine", Usage: "faulty nodes as `KIND@INDEX,...` (see metanode sim --help)", EnvVars: envName("devnet-byzantine")},
			&cli.BoolFlag{Name: "fresh", Usage: "delete --dir first", EnvVars: envName("devnet-fresh")},
			&cli.BoolFlag{Name: "tss", Value: true, Usage: "real tss-lib sessions on the built-in test keys (committees 5/2, 7/4, 10/6); --tss=false stands them in", EnvVars: envName("devnet-tss")},
			&cli.DurationFlag{Name: "keygen-for", Usage: "run real keygen epochs this long before the key locks (default: start on the test key)", EnvVars: envName("devnet-keygen-for")},
		},
		Action: runDevnet,
	}
}

func runDevnet(c *cli.Context) error {
	count := c.Int("nodes")
	threshold := c.Int("threshold")
	if threshold == 0 {
		threshold = max(1, (count-1)*2/3)
	}
	dir := c.String("dir")
	if c.Bool("fresh") {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("--fresh: %w", err)
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("--dir %s holds an earlier devnet: pass --fresh to start a new one (inspect the old one with metanode query rounds --log %s)",
			dir, filepath.Join(dir, "node-0", node.LogDir))
	}
	speed := c.Float64("speed")
	if speed <= 0 {
		return fmt.Errorf("--speed %v: must be positive", speed)
	}
	faults, err := sim.ParseFaults(c.String("byzantine"))
	if err != nil {
		return err
	}
	duration := c.Duration("duration")
	if duration <= 0 {
		duration = 100 * 365 * 24 * time.Hour
	}
	s, err := sim.New(sim.Config{
		Nodes: count, Threshold: threshold, Seed: uint64(time.Now().UnixNano()), Duration: duration, Dir: dir,
		Faults: faults, Start: time.Now().UTC().Truncate(time.Second), DepositEvery: 20 * time.Second,
		TSS: c.Bool("tss"), KeygenFor: c.Duration("keygen-for"),
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Open(); err != nil {
		if c.Bool("tss") {
			return fmt.Errorf("%w (or run with --tss=false)", err)
		}
		return err
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := c.App.Writer
	mode := "tss sessions stand in"
	if c.Bool("tss") {
		mode = "real tss-lib sessions"
	}
	fmt.Fprintf(w, "devnet: %d nodes (t=%d) in %s; a signing round every minute, %s; Ctrl-C stops\n", count, threshold, dir, mode)
	wallStart, devStart := time.Now(), s.Now()
	end := devStart.Add(duration)
	nextStatus := devStart.Add(c.Duration("status-every"))
	for s.Now().Before(end) {
		if err := s.Step(); err != nil {
			return err
		}
		if !s.Now().Before(nextStatus) {
			printDevnetStatus(w, s)
			nextStatus = nextStatus.Add(c.Duration("status-every"))
		}
		due := wallStart.Add(time.Duration(float64(s.Now().Sub(devStart)) / speed))
		select {
		case <-ctx.Done():
			end = s.Now()
		case <-time.After(time.Until(due)):
		}
	}
	fmt.Fprintln(w)
	printSimResult(w, s.Result(), fmt.Sprintf("devnet: %d nodes, t=%d, %v", count, threshold, s.Now().Sub(devStart).Round(time.Second)))
	fmt.Fprintf(w, "inspect a node: metanode query rounds --log %s\n", filepath.Join(dir, "node-0", node.LogDir))
	return nil
}

func printDevnetStatus(w io.Writer, s *sim.Sim) {
	res := s.Result()
	fmt.Fprintf(w, "%s  rounds signed %d, aborted %d, skipped %d; tss signatures verified %d\n", s.Now().Format("15:04:05"), res.Signed, res.Aborted, res.Skipped, res.Signatures)
	for i, st := range s.Statuses() {
		fmt.Fprintf(w, "          node-%d %s  events %6d  listed %d  pings sent %4d  dropped %d\n",
			i, st.ID.Short(), st.Events, st.PeersListed, st.PingsSent, st.Dropped)
	}
}
