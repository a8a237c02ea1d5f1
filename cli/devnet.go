package cli

import "github.com/urfave/cli/v2"

func devnetCommand() *cli.Command {
	return &cli.Command{Name: "devnet", Usage: "run a local devnet", Action: func(*cli.Context) error { return nil }}
}
