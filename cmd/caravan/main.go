// Command caravan is Caravan's one binary: `caravan server` runs the
// orchestrator; the other subcommands talk to it over its HTTP API.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/caravan-dev/caravan/internal/cli"
)

func main() {
	root := cli.NewRootCommand(cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	if err := root.Execute(); err != nil {
		if !errors.Is(err, cli.ErrReported) {
			fmt.Fprintln(os.Stderr, "error: "+err.Error())
		}
		os.Exit(1)
	}
}
