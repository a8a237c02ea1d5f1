package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/devnet"
)

func devnetCommand() *cli.Command {
	return &cli.Command{
		Name:  "devnet",
		Usage: "run a local devnet of real node processes on loopback, on the embedded defaults",
		Description: "Starts N `metanode run` processes on 127.0.0.1, each with its home (identity, config.toml,\n" +
			"genesis.toml, sealed shares, event log, node.log) under --dir/node-<i>, talking libp2p\n" +
			"gossipsub, and plays their chain in this process: stakes, deposits with swap intents, and\n" +
			"the confirmation of every tx whose signature verifies under the vault key. The network\n" +
			"starts on the built-in test key of its committee (5/2, 7/4, 10/6). A live table shows each\n" +
			"node's state from its REST API; Ctrl-C stops every node cleanly. Inspect a node with\n" +
			"`metanode query rounds --log DIR/node-0/log` or curl its API. --replicas 3 runs node-0 as\n" +
			"three HA replica processes (node-0, node-0b, node-0c: one identity, raft between them);\n" +
			"the table shows which leads.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "how many nodes: 5, 7 or 10 (the test keys' committees)", EnvVars: envName("devnet-nodes")},
			&cli.StringFlag{Name: "dir", Value: ".devnet", Usage: "where the nodes keep their homes", EnvVars: envName("devnet-dir")},
			&cli.BoolFlag{Name: "fresh", Usage: "delete --dir first", EnvVars: envName("devnet-fresh")},
			&cli.DurationFlag{Name: "duration", Usage: "stop after this long (default: until Ctrl-C)", EnvVars: envName("devnet-duration")},
			&cli.IntFlag{Name: "base-port", Value: 27100, Usage: "node i: p2p on PORT+i, REST on PORT+100+i, metrics on PORT+200+i; the chain on PORT+300", EnvVars: envName("devnet-base-port")},
			&cli.DurationFlag{Name: "deposit-every", Value: 20 * time.Second, Usage: "mean time between the chain's deposits", EnvVars: envName("devnet-deposit-every")},
			&cli.DurationFlag{Name: "status-every", Value: 10 * time.Second, Usage: "how often to print the nodes' table", EnvVars: envName("devnet-status-every")},
			&cli.StringFlag{Name: "byzantine", Usage: "faulty nodes as `KIND@INDEX,...` (" + devnetBehaviours() + ")", EnvVars: envName("devnet-byzantine")},
			&cli.StringFlag{Name: "bin", Usage: "the metanode binary the nodes run (default: this one)", EnvVars: envName("devnet-bin")},
			&cli.IntFlag{Name: "replicas", Value: 1, Usage: "run node-0 as this many HA replicas (3 or more; raft on PORT+320+k): homes node-0, node-0b, node-0c...", EnvVars: envName("devnet-replicas")},
		},
		Action: runDevnet,
	}
}

func runDevnet(c *cli.Context) error {
	dir := c.String("dir")
	if c.Bool("fresh") {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("--fresh: %w", err)
		}
	}
	byzantine, err := parseByzantine(c.String("byzantine"), c.Int("nodes"))
	if err != nil {
		return err
	}
	bin := c.String("bin")
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("devnet: this binary's path: %w (pass --bin)", err)
		}
	}
	d, err := devnet.Setup(devnet.Config{Nodes: c.Int("nodes"), Dir: dir, Binary: bin, BasePort: c.Int("base-port"),
		DepositEvery: c.Duration("deposit-every"), Byzantine: byzantine, Replicas: c.Int("replicas")})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := c.App.Writer
	if err := d.Start(ctx); err != nil {
		_ = d.Stop()
		return err
	}
	fmt.Fprintf(w, "devnet: %d metanode processes (t=%d, test key) in %s; chain at %s; Ctrl-C stops\n",
		len(d.Nodes), d.Genesis.Threshold, dir, d.ChainURL)
	for _, n := range d.Nodes {
		raft := ""
		if n.RaftID != "" {
			raft = "  raft " + n.Raft
		}
		fmt.Fprintf(w, "  %-7s %s  api http://%s/api/v1/status  metrics http://%s/metrics%s  log %s\n",
			n.Name, n.Peer.String()[:16], n.REST, n.Metrics, raft, filepath.Join(n.Home, "node.log"))
	}
	var deadline <-chan time.Time
	if dur := c.Duration("duration"); dur > 0 {
		deadline = time.After(dur)
	}
	ticker := time.NewTicker(c.Duration("status-every"))
	defer ticker.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-deadline:
			running = false
		case <-ticker.C:
			printDevnetTable(w, d)
		}
	}
	fmt.Fprintln(w, "devnet: stopping the nodes")
	printDevnetTable(w, d)
	err = d.Stop()
	fmt.Fprintf(w, "devnet: stopped; inspect a node with metanode query rounds --log %s\n", filepath.Join(dir, "node-0", "log"))
	return err
}

func printDevnetTable(w io.Writer, d *devnet.Devnet) {
	stats := d.Chain.Stats()
	fmt.Fprintf(w, "%s  chain: deposits %d, txs confirmed %d\n", time.Now().Format("15:04:05"), stats.Deposits, stats.Confirmed)
	fmt.Fprintf(w, "  %-8s %-9s %-9s %-8s %-6s %-7s %-7s %s\n", "node", "role", "state", "round", "peers", "signed", "events", "last signature")
	for i, n := range d.Nodes {
		st, err := d.Status(i)
		if err != nil {
			fmt.Fprintf(w, "  %-8s %s\n", n.Name, err)
			continue
		}
		role := "-" // a node of one process
		if st.Role != "" {
			role = st.Role
		}
		fmt.Fprintf(w, "  %-8s %-9s %-9s %-8d %-6d %-7d %-7d %s\n", n.Name, role, st.State, st.Round, st.PeersListed, st.RoundsSigned, st.LogSeq, st.LastSignature)
	}
}

// devnetBehaviours lists the byzantine behaviours this binary's nodes
// can play: none unless it was built with -tags devnet.
func devnetBehaviours() string {
	if len(devnet.Behaviours()) == 0 {
		return "only in a binary built with -tags devnet: make devnet"
	}
	return strings.Join(devnet.Behaviours(), ", ")
}

// parseByzantine reads KIND@INDEX,...
func parseByzantine(spec string, nodes int) (map[int]string, error) {
	out := map[int]string{}
	if spec == "" {
		return out, nil
	}
	for _, part := range strings.Split(spec, ",") {
		kind, at, ok := strings.Cut(strings.TrimSpace(part), "@")
		i, err := strconv.Atoi(at)
		if !ok || err != nil || i < 0 || i >= nodes {
			return nil, fmt.Errorf("--byzantine %q: want KIND@INDEX with 0 <= INDEX < %d", part, nodes)
		}
		if len(devnet.Behaviours()) == 0 {
			return nil, fmt.Errorf("--byzantine %q: this binary has no byzantine behaviours (build it with -tags devnet, as make devnet does)", part)
		}
		if !devnet.KnownBehaviour(kind) {
			return nil, fmt.Errorf("--byzantine %q: unknown behaviour %q (known: %s)", part, kind, strings.Join(devnet.Behaviours(), ", "))
		}
		out[i] = kind
	}
	return out, nil
}
