package cli

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/metanode/metanode/node/daemon"
)

func homeFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "home", Usage: "the node's home directory", EnvVars: envName("home"), Required: true}
}

// overrideFlags change config.toml settings for one run; each also reads
// METANODE_<SECTION>_<KEY>.
func overrideFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "p2p-moniker", Usage: "[p2p] moniker", EnvVars: envName("p2p-moniker")},
		&cli.StringSliceFlag{Name: "p2p-listen", Usage: "[p2p] listen (multiaddr; repeat for more)", EnvVars: envName("p2p-listen")},
		&cli.StringSliceFlag{Name: "p2p-peers", Usage: "[p2p] peers (multiaddr with /p2p/ID; repeat for more)", EnvVars: envName("p2p-peers")},
		&cli.StringFlag{Name: "rest-listen", Usage: "[rest] listen (host:port, \"\" off)", EnvVars: envName("rest-listen")},
		&cli.StringFlag{Name: "metrics-listen", Usage: "[metrics] listen (host:port, \"\" off)", EnvVars: envName("metrics-listen")},
		&cli.StringFlag{Name: "log-level", Usage: "[log] level", EnvVars: envName("log-level")},
		&cli.StringFlag{Name: "log-format", Usage: "[log] format (json, text, auto)", EnvVars: envName("log-format")},
		&cli.StringFlag{Name: "tss-passphrase-file", Usage: "[tss] passphrase_file", EnvVars: envName("tss-passphrase-file")},
		&cli.UintFlag{Name: "tss-argon2-time", Usage: "[tss] argon2_time (passes, at least 3)", EnvVars: envName("tss-argon2-time")},
		&cli.UintFlag{Name: "tss-argon2-memory-kib", Usage: "[tss] argon2_memory_kib (at least 65536)", EnvVars: envName("tss-argon2-memory-kib")},
		&cli.UintFlag{Name: "tss-argon2-threads", Usage: "[tss] argon2_threads (at least 4)", EnvVars: envName("tss-argon2-threads")},
		&cli.StringFlag{Name: "chain-url", Usage: "[chain] url", EnvVars: envName("chain-url")},
		&cli.StringFlag{Name: "chain-stake-tx", Usage: "[chain] stake_tx", EnvVars: envName("chain-stake-tx")},
		&cli.StringFlag{Name: "raft-id", Usage: "[raft] id (this replica's)", EnvVars: envName("raft-id")},
		&cli.StringFlag{Name: "raft-bind", Usage: "[raft] bind (host:port)", EnvVars: envName("raft-bind")},
		&cli.StringSliceFlag{Name: "raft-replicas", Usage: "[raft] replicas (id@host:port; repeat, or separate with commas)", EnvVars: envName("raft-replicas")},
	}
}

func applyOverrides(c *cli.Context, cfg *daemon.Config) {
	set := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	set("p2p-moniker", &cfg.P2P.Moniker)
	set("rest-listen", &cfg.REST.Listen)
	set("metrics-listen", &cfg.Metrics.Listen)
	set("log-level", &cfg.Log.Level)
	set("log-format", &cfg.Log.Format)
	set("tss-passphrase-file", &cfg.TSS.PassphraseFile)
	set("chain-url", &cfg.Chain.URL)
	set("chain-stake-tx", &cfg.Chain.StakeTx)
	set("raft-id", &cfg.Raft.ID)
	set("raft-bind", &cfg.Raft.Bind)
	setUint := func(name string, dst *uint32) {
		if c.IsSet(name) {
			*dst = uint32(min(c.Uint(name), math.MaxUint32))
		}
	}
	setUint("tss-argon2-time", &cfg.TSS.Argon2Time)
	setUint("tss-argon2-memory-kib", &cfg.TSS.Argon2MemoryKiB)
	setUint("tss-argon2-threads", &cfg.TSS.Argon2Threads)
	if c.IsSet("p2p-listen") {
		cfg.P2P.Listen = c.StringSlice("p2p-listen")
	}
	if c.IsSet("p2p-peers") {
		cfg.P2P.Peers = c.StringSlice("p2p-peers")
	}
	if c.IsSet("raft-replicas") {
		// commas too: METANODE_RAFT_REPLICAS holds the list in one value
		// (the app splits no slice flag, for --partition's sake)
		cfg.Raft.Replicas = nil
		for _, v := range c.StringSlice("raft-replicas") {
			for _, r := range strings.Split(v, ",") {
				if r = strings.TrimSpace(r); r != "" {
					cfg.Raft.Replicas = append(cfg.Raft.Replicas, r)
				}
			}
		}
	}
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "make a node's home: a sealed identity key and a commented config.toml",
		UsageText: "metanode init --home DIR [--genesis FILE] [--p2p-moniker NAME] [...]",
		Description: "Writes DIR/identity.key (an Ed25519 key sealed with the passphrase: METANODE_PASSPHRASE,\n" +
			"or --tss-passphrase-file; without either, a random passphrase is written to DIR/passphrase,\n" +
			"mode 0600: move it somewhere safer) and DIR/config.toml. --genesis copies the network's\n" +
			"genesis.toml in. Refuses a home that already holds a node.",
		Flags: append([]cli.Flag{homeFlag(),
			&cli.StringFlag{Name: "genesis", Usage: "the network's genesis.toml to copy in", EnvVars: envName("genesis")},
		}, overrideFlags()...),
		Action: func(c *cli.Context) error {
			home := c.String("home")
			cfg := daemon.DefaultConfig()
			applyOverrides(c, &cfg)
			opts := daemon.InitOptions{Config: cfg}
			if path := c.String("genesis"); path != "" {
				g, _, err := daemon.LoadGenesisFile(path)
				if err != nil {
					return err
				}
				opts.Genesis = &g
			}
			if env := os.Getenv(daemon.PassphraseEnv); env != "" {
				opts.Passphrase = []byte(env)
			} else if c.IsSet("tss-passphrase-file") {
				pass, err := daemon.Passphrase(home, cfg)
				if err != nil {
					return err
				}
				opts.Passphrase = pass
			}
			res, err := daemon.Init(home, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "node %s initialised in %s\n", res.Peer, home)
			if res.PassphraseFile != "" {
				fmt.Fprintf(c.App.Writer, "a random passphrase was written to %s (mode 0600): keep a copy somewhere safe\n", res.PassphraseFile)
			}
			return nil
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run the node on the wall clock over libp2p until SIGINT or SIGTERM",
		UsageText: "metanode run --home DIR [overrides]",
		Description: "Reads DIR/config.toml and DIR/genesis.toml, unlocks the identity key and the share store\n" +
			"with the passphrase, and runs: pings, stake checks, signing rounds, keygen and regroup over\n" +
			"libp2p gossipsub, a read-only REST API ([rest]) and Prometheus metrics ([metrics]).\n" +
			"SIGINT or SIGTERM stops it cleanly. Logs go to stderr (JSON unless a terminal).",
		Flags: append([]cli.Flag{homeFlag()}, overrideFlags()...),
		Action: func(c *cli.Context) error {
			home := c.String("home")
			cfg, err := daemon.LoadConfig(home)
			if err != nil {
				return err
			}
			applyOverrides(c, &cfg)
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := newLogger(c.App.ErrWriter, cfg.Log)
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			daemon.Version = Version
			return daemon.Run(ctx, home, cfg, log)
		},
	}
}

// newLogger is the node's slog logger: JSON unless stderr is a terminal.
func newLogger(w io.Writer, cfg daemon.LogConfig) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
