package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// applyOptions are the flags of `caravan apply`.
type applyOptions struct {
	global   *globalOptions
	filename string
}

func newApplyCommand(g *globalOptions) *cobra.Command {
	o := &applyOptions{global: g}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from manifests",
		Long: "Apply creates or updates the objects of Kargo manifests: a file, every .yaml,\n" +
			".yml and .json file in a directory (in name order), or stdin (-f -).\n" +
			"Projects are applied first, then the rest in order; each document is\n" +
			"validated and written on its own. It prints one line per document and\n" +
			"exits 1 if any failed.",
		Example: "  caravan apply -f examples/quickstart/\n  cat stage.yaml | caravan apply -f -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *applyOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.filename, "filename", "f", "", "manifest file, directory, or - for stdin")
}

func (o *applyOptions) run(ctx context.Context) error {
	docs, err := readDocuments(o.filename, o.global.streams.In)
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("no objects to apply in %s", o.filename)
	}
	c, err := o.global.client()
	if err != nil {
		return err
	}
	resp, err := c.Apply(ctx, joinDocuments(docs))
	if err != nil {
		return err
	}
	failed := false
	for i, r := range resp.Results {
		if err := r.Err(); err != nil {
			failed = true
			what := ref(r.Kind, r.Name)
			if r.Kind == "" {
				what = fmt.Sprintf("document %d", i+1)
			}
			fmt.Fprintf(o.global.streams.Err, "%s: %s\n", what, err.Error())
			continue
		}
		fmt.Fprintf(o.global.streams.Out, "%s %s\n", ref(r.Kind, r.Name), r.Action)
	}
	if failed {
		return ErrReported
	}
	return nil
}
