// Command metanode is the metanode node and its tools.
package main

import (
	"fmt"
	"os"

	"github.com/metanode/metanode/cli"
)

func main() {
	if err := cli.NewApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "metanode: %v\n", err)
		os.Exit(1)
	}
}
