package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/node/daemon"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
)

func tssCommand() *cli.Command {
	return &cli.Command{
		Name:  "tss",
		Usage: "threshold key tools",
		Subcommands: []*cli.Command{
			{
				Name:  "preparams",
				Usage: "fill the node's pre-parameter pool (safe primes, 2-30 s each) so keygen never waits",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Required: true, Usage: "the node's share store directory", EnvVars: envName("share-dir")},
					&cli.StringFlag{Name: "key-file", Required: true, Usage: "file holding the store's passphrase (mode 0600)", EnvVars: envName("key-file")},
					&cli.IntFlag{Name: "count", Value: 4, Usage: "fill the pool up to this many sets", EnvVars: envName("preparams-count")},
				},
				Action: func(c *cli.Context) error {
					pass, err := tss.PassphraseFromFile(c.String("key-file"))
					if err != nil {
						return err
					}
					store, err := tss.OpenShareStore(c.String("dir"), pass, tss.ShareStoreOptions{})
					if err != nil {
						return err
					}
					have, err := store.PoolSize()
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "pool holds %d, filling to %d\n", have, c.Int("count"))
					generate := func(ctx context.Context) (*keygen.LocalPreParams, error) {
						return keygen.GeneratePreParamsWithContext(ctx, runtime.NumCPU())
					}
					return store.FillPreParams(c.Context, c.Int("count"), generate, func(have, want int, took time.Duration) {
						fmt.Fprintf(c.App.Writer, "  %d of %d in %.1f s\n", have, want, took.Seconds())
					})
				},
			},
			{
				Name:      "shares",
				Usage:     "list the key shares a node holds, and what its log says of each key",
				UsageText: "metanode tss shares --home DIR [--json]",
				Description: "One line per share file in DIR/shares: key id, file format, size, last change, and what the\n" +
					"node's log (DIR/log, opened read-only) says of the key: current, previous (it was current\n" +
					"here once), or unknown. No passphrase is needed: the files are not opened. While the node\n" +
					"runs it holds its log, and every key shows as unknown.",
				Flags:  []cli.Flag{homeFlag(), jsonFlag()},
				Action: listShares,
			},
			{
				Name:  "testkeys",
				Usage: "generate TEST KEYS (safe primes and a real keygen; every share public) for committees such as 7/4",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Value: "tss/testkeys", Usage: "base directory (the committed test keys are built in from tss/testkeys)", EnvVars: envName("testkeys-out")},
					&cli.StringSliceFlag{Name: "committee", Value: cli.NewStringSlice("5/2", "7/4", "10/6"), Usage: "committees as `N/T` (repeatable)"},
				},
				Action: func(c *cli.Context) error {
					for _, spec := range c.StringSlice("committee") {
						ns, ts, ok := strings.Cut(spec, "/")
						n, err1 := strconv.Atoi(ns)
						t, err2 := strconv.Atoi(ts)
						if !ok || err1 != nil || err2 != nil || t < 1 || t >= n {
							return fmt.Errorf("--committee %q: want N/T with 1 <= T < N, e.g. 7/4", spec)
						}
						fmt.Fprintf(c.App.Writer, "test key n=%d t=%d into %s\n", n, t, testkeys.Dir(c.String("out"), n, t))
						err := testkeys.Generate(c.Context, c.String("out"), n, t, func(line string) { fmt.Fprintln(c.App.Writer, "  "+line) })
						if err != nil {
							return err
						}
					}
					return nil
				},
			},
		},
	}
}

// testKeysFS is the test keys of a --test-keys directory, or the committed
// ones built into the binary.
func testKeysFS(dir string) fs.FS {
	if dir == "" {
		return testkeys.FS
	}
	return os.DirFS(dir)
}

// shareLine is one held share, as `tss shares` prints it.
type shareLine struct {
	KeyID    string    `json:"key_id"`
	Format   string    `json:"format"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	Status   string    `json:"status"` // current, previous, unknown
}

func listShares(c *cli.Context) error {
	home := c.String("home")
	if _, err := os.Stat(home); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	held, err := tss.ListShares(filepath.Join(home, daemon.SharesDir))
	if err != nil {
		return err
	}
	current, previous, err := keysInLog(filepath.Join(home, node.LogDir))
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "the log says nothing of the keys: %v\n", err)
	}
	lines := make([]shareLine, len(held))
	for i, h := range held {
		l := shareLine{KeyID: h.KeyID.String(), Format: "unknown format", Size: h.Size, Modified: h.ModTime.UTC(), Status: "unknown"}
		if h.Format > 0 {
			l.Format = fmt.Sprintf("v%d", h.Format)
		}
		switch {
		case h.KeyID == current:
			l.Status = "current"
		case previous[h.KeyID]:
			l.Status = "previous"
		}
		lines[i] = l
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, lines)
	}
	if len(lines) == 0 {
		fmt.Fprintf(c.App.Writer, "no shares in %s\n", filepath.Join(home, daemon.SharesDir))
	}
	for _, l := range lines {
		fmt.Fprintf(c.App.Writer, "%s  %s  %6d bytes  %s  %s\n", l.KeyID, l.Format, l.Size, l.Modified.Format(time.RFC3339), l.Status)
	}
	return nil
}

// keysInLog folds a node's log (read-only) for its current key and the
// keys current before it.
func keysInLog(dir string) (events.Hash, map[events.Hash]bool, error) {
	store, err := events.Open(dir, events.Options{ReadOnly: true})
	if errors.Is(err, events.ErrLocked) {
		return events.Hash{}, nil, fmt.Errorf("%w (is the node running?)", err)
	}
	if err != nil {
		return events.Hash{}, nil, err
	}
	defer store.Close()
	state := projections.NewState()
	if _, err := replay.Run(store, state, replay.Until{}); err != nil {
		return events.Hash{}, nil, err
	}
	var current events.Hash
	if key, ok := state.Keys.Current(); ok {
		current = key.KeyID
	}
	previous := map[events.Hash]bool{}
	for _, id := range state.Keys.History() {
		if id != current {
			previous[id] = true
		}
	}
	return current, previous, nil
}
