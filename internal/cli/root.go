// Package cli implements the caravan command line: one file per command, each
// with an options struct holding its flags and a run method doing the work.
// Every command but `server` talks to a Caravan server through the HTTP API
// (package apiclient), never to the store directly.
package cli

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/caravan-dev/caravan/internal/apiclient"
)

// ErrReported is returned by a command that failed after it already told the
// user why (e.g. apply with some documents failing): the caller exits 1
// without printing anything more.
var ErrReported = errors.New("failure already reported")

// Streams are the command line's standard streams.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// globalOptions are the flags every client command shares.
type globalOptions struct {
	conn    apiclient.ConnectionFlags
	streams Streams
}

// client builds an API client from the connection flags, the environment
// and the defaults.
func (g *globalOptions) client() (*apiclient.Client, error) {
	cfg, err := g.conn.Resolve()
	if err != nil {
		return nil, err
	}
	return apiclient.New(cfg)
}

// NewRootCommand returns the caravan command with every subcommand.
func NewRootCommand(streams Streams) *cobra.Command {
	g := &globalOptions{streams: streams}
	root := &cobra.Command{
		Use:   "caravan",
		Short: "Caravan: continuous promotion for GitOps, compatible with Kargo",
		Long: "Caravan moves versioned artifacts through a pipeline of stages, running the\n" +
			"promotion steps that change each stage's desired state in Git. It accepts\n" +
			"Kargo's resource manifests unchanged.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)

	pf := root.PersistentFlags()
	pf.StringVar(&g.conn.Server, "server", "", "Caravan server URL (default $"+apiclient.EnvServer+", else "+apiclient.DefaultServer+")")
	pf.StringVar(&g.conn.Token, "token", "", "bearer token (default $"+apiclient.EnvToken+", else the default data directory's admin-token)")
	pf.StringVar(&g.conn.TokenFile, "token-file", "", "file holding the bearer token")

	root.AddCommand(
		newServerCommand(streams),
		newApplyCommand(g),
		newGetCommand(g),
		newDeleteCommand(g),
		newRefreshCommand(g),
		newVerifyCommand(g),
		newPromoteCommand(g),
		newApproveCommand(g),
		newVersionCommand(streams),
	)
	return root
}
