package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/urfave/cli/v2"

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
					store, err := tss.OpenShareStore(c.String("dir"), pass)
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
