package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// approveOptions are the flags of `caravan approve`.
type approveOptions struct {
	global  *globalOptions
	project string
	freight string
	stage   string
}

func newApproveCommand(g *globalOptions) *cobra.Command {
	o := &approveOptions{global: g}
	cmd := &cobra.Command{
		Use:   "approve",
		Short: "Approve Freight for a Stage",
		Long: "Approve makes Freight available to a Stage without its being verified (or\n" +
			"soaked) in the Stage's upstream Stages: the server records the approval in\n" +
			"the Freight's status.approvedFor, with a FreightApproved Event naming you.\n" +
			"Auto-promotion may then promote it, or you can with `caravan promote`.\n" +
			"--freight takes the Freight's name or its alias. Approving again changes\n" +
			"nothing.",
		Example: "  caravan approve --project kargo-demo --freight lazy-lion --stage prod",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *approveOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.project, "project", "p", "", "project of the Freight and the Stage")
	fs.StringVar(&o.freight, "freight", "", "name or alias of the Freight to approve")
	fs.StringVar(&o.stage, "stage", "", "Stage to approve the Freight for")
}

func (o *approveOptions) validate() error {
	switch {
	case o.project == "":
		return errors.New("Freight lives in a project: say which with --project PROJECT (or -p PROJECT)")
	case o.freight == "":
		return errors.New("say which Freight to approve with --freight NAME|ALIAS (see them with `caravan get freight -p " +
			o.project + "`)")
	case o.stage == "":
		return errors.New("say which Stage to approve the Freight for with --stage STAGE")
	}
	return nil
}

// run POSTs the approval to the Freight's approve action.
func (o *approveOptions) run(ctx context.Context) error {
	c, err := o.global.client()
	if err != nil {
		return err
	}
	out := &unstructured.Unstructured{}
	if err := c.Action(ctx, kinds.ByKind("Freight"), o.project, o.freight, "approve",
		map[string]string{"stage": o.stage}, &out.Object); err != nil {
		return err
	}
	name := ref("Freight", out.GetName())
	if alias, _, _ := unstructured.NestedString(out.Object, "alias"); alias != "" {
		name += fmt.Sprintf(" (alias %s)", alias)
	}
	fmt.Fprintf(o.global.streams.Out, "%s approved for %s\n", name, ref("Stage", o.stage))
	return nil
}
