package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/node"
)

func devnetCommand() *cli.Command {
	return &cli.Command{
		Name:  "devnet",
		Usage: "run a local devnet of several nodes in this process, on the embedded defaults",
		Description: "Each node gets its own directory (identity key and event log) under --dir and\n" +
			"runs on the wall clock; the nodes exchange signed pings over an in-process bus.\n" +
			"A second run continues the same nodes from their logs. Stop with Ctrl-C; then\n" +
			"inspect a node with `metanode log stats --log DIR/node-0/log`.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 4, Usage: "how many nodes", EnvVars: envName("devnet-nodes")},
			&cli.IntFlag{Name: "threshold", Usage: "tss threshold t; a signature needs t+1 shares (default: (nodes-1)*2/3)", EnvVars: envName("devnet-threshold")},
			&cli.StringFlag{Name: "dir", Value: "devnet", Usage: "where the nodes keep their data", EnvVars: envName("devnet-dir")},
			&cli.DurationFlag{Name: "duration", Usage: "stop after this long (default: run until interrupted)", EnvVars: envName("devnet-duration")},
			&cli.DurationFlag{Name: "status-every", Value: 10 * time.Second, Usage: "how often to print the nodes' status", EnvVars: envName("devnet-status-every")},
			&cli.BoolFlag{Name: "fresh", Usage: "delete --dir first and start new nodes", EnvVars: envName("devnet-fresh")},
		},
		Action: runDevnet,
	}
}

func runDevnet(c *cli.Context) error {
	count := c.Int("nodes")
	if count < 2 {
		return fmt.Errorf("--nodes %d: a devnet needs at least 2 nodes", count)
	}
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
	params := events.DefaultParams(count, threshold)
	params.Network = "devnet"
	params.MinStakeAge = 0
	params.KeygenUntil = events.TimeOf(time.Now().Add(time.Hour))

	bus := net.NewBus()
	nodes := make([]*node.Node, 0, count)
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for i := range count {
		n, err := node.Open(filepath.Join(dir, fmt.Sprintf("node-%d", i)), node.Config{Params: params, Publish: bus.Publish})
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		bus.Join(n.ID(), n)
		nodes = append(nodes, n)
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if d := c.Duration("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	w := c.App.Writer
	fmt.Fprintf(w, "devnet: %d nodes (t=%d) in %s, a ping every %v; Ctrl-C stops\n", count, threshold, dir, params.PingInterval)

	clock := time.NewTicker(time.Second)
	defer clock.Stop()
	status := time.NewTicker(c.Duration("status-every"))
	defer status.Stop()
	tick := func(now time.Time) error {
		for i, n := range nodes {
			if err := n.Tick(now); err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
		}
		return nil
	}
	if err := tick(time.Now()); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			printDevnetStatus(w, nodes, true)
			fmt.Fprintf(w, "inspect a node: metanode log stats --log %s\n", filepath.Join(dir, "node-0", node.LogDir))
			return nil
		case now := <-clock.C:
			if err := tick(now); err != nil {
				return err
			}
		case <-status.C:
			printDevnetStatus(w, nodes, false)
		}
	}
}

func printDevnetStatus(w interface{ Write([]byte) (int, error) }, nodes []*node.Node, final bool) {
	for i, n := range nodes {
		st := n.Status()
		line := fmt.Sprintf("%s  node-%d %s  events %6d  peers %d  pings sent %4d  dropped %d",
			st.LastTick.Std().Format("15:04:05"), i, st.ID.Short(), st.Events, st.PeersSeen, st.PingsSent, st.Dropped)
		if final {
			line += "  state " + st.StateHash.String()[:16]
		}
		fmt.Fprintln(w, line)
	}
}
