package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// version is the release, set at build time with
// -ldflags "-X github.com/caravan-dev/caravan/internal/cli.version=v1.2.3".
var version = "dev"

// Version returns the version caravan was built as.
func Version() string { return version }

func newVersionCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of caravan",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(streams.Out, "caravan %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
