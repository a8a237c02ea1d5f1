package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/tss"
)

func tssCommand() *cli.Command {
	return &cli.Command{
		Name:  "tss",
		Usage: "threshold key tools",
		Subcommands: []*cli.Command{
			{
				Name:  "fixtures",
				Usage: "generate test key data (safe primes and a real keygen) for committees such as 7/4",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Value: "tss/testdata/fixtures", Usage: "base directory", EnvVars: envName("fixtures-out")},
					&cli.StringSliceFlag{Name: "committee", Value: cli.NewStringSlice("7/4", "10/6"), Usage: "committees as `N/T` (repeatable)"},
				},
				Action: func(c *cli.Context) error {
					for _, spec := range c.StringSlice("committee") {
						ns, ts, ok := strings.Cut(spec, "/")
						n, err1 := strconv.Atoi(ns)
						t, err2 := strconv.Atoi(ts)
						if !ok || err1 != nil || err2 != nil || t < 1 || t >= n {
							return fmt.Errorf("--committee %q: want N/T with 1 <= T < N, e.g. 7/4", spec)
						}
						fmt.Fprintf(c.App.Writer, "committee n=%d t=%d into %s\n", n, t, tss.FixtureDir(c.String("out"), n, t))
						err := tss.GenerateFixtures(c.Context, c.String("out"), n, t, func(line string) { fmt.Fprintln(c.App.Writer, "  "+line) })
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
