package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Version is stamped by the build; "dev" otherwise.
var Version = "dev"

// NewApp returns the metanode command line.
func NewApp() *cli.App {
	return &cli.App{
		Name:    "metanode",
		Usage:   "a threshold-signature bridge node",
		Version: Version,
		Description: "metanode keeps a peer list through signed pings, signs bridge transactions with a\n" +
			"threshold key, and records every input in an append-only event log that replays exactly.",
		Commands: []*cli.Command{
			initCommand(),
			runCommand(),
			devnetCommand(),
			simCommand(),
			logCommand(),
			replayCommand(),
			queryCommand(),
			auditCommand(),
			tssCommand(),
			benchCommand(),
		},
		EnableBashCompletion: true,
		// --partition 5m-10m:0,1 holds commas of its own.
		DisableSliceFlagSeparator: true,
		HideHelpCommand:           true,
	}
}

// envName gives the environment variable that mirrors a flag.
func envName(flag string) []string {
	return []string{"METANODE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

func logDirFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:     "log",
		Usage:    "the node's log directory (holding events.db)",
		EnvVars:  envName("log"),
		Required: true,
	}
}

func jsonFlag() *cli.BoolFlag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text", EnvVars: envName("json")}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonLine prints v as one line of JSON.
func jsonLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// table prints aligned "name value" rows.
func table(w io.Writer, rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s  %s\n", width, r[0], r[1])
	}
}
