package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/apiclient"
	"github.com/caravan-dev/caravan/internal/kinds"
)

// Output formats of `caravan get`.
const (
	outputTable = "table"
	outputYAML  = "yaml"
	outputJSON  = "json"
)

// getOptions are the flags of `caravan get`.
type getOptions struct {
	global  *globalOptions
	project string
	output  string
}

func newGetCommand(g *globalOptions) *cobra.Command {
	o := &getOptions{global: g}
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show one object or list the objects of a kind",
		Long: "Get shows one object, or lists every object of a kind. KIND is a kind's\n" +
			"singular, plural or short name, in any case (stage, stages, promo, ...).\n" +
			"Namespaced kinds need --project.",
		Example: "  caravan get projects\n  caravan get stages -p kargo-demo\n  caravan get stage test -p kargo-demo -o yaml",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			return o.run(cmd.Context(), args[0], name)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *getOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.project, "project", "p", "", "project (namespace) of namespaced kinds")
	fs.StringVarP(&o.output, "output", "o", outputTable, "output format: table, yaml or json")
}

func (o *getOptions) validate() error {
	switch o.output {
	case outputTable, outputYAML, outputJSON:
		return nil
	}
	return fmt.Errorf("unknown output format %q: use -o table, -o yaml or -o json", o.output)
}

func (o *getOptions) run(ctx context.Context, kind, name string) error {
	if err := o.validate(); err != nil {
		return err
	}
	info, err := resolveKind(kind)
	if err != nil {
		return err
	}
	ns, err := namespaceFor(info, o.project)
	if err != nil {
		return err
	}
	c, err := o.global.client()
	if err != nil {
		return err
	}
	out := o.global.streams.Out
	if name != "" {
		obj, err := c.Get(ctx, info, ns, name)
		if err != nil {
			return err
		}
		if err := o.print(out, info, []unstructured.Unstructured{*obj}, true); err != nil {
			return err
		}
		if info.Kind == "Promotion" && o.output == outputTable {
			return printPromotionSteps(out, obj, time.Now())
		}
		return nil
	}
	list, err := c.List(ctx, info, ns, apiclient.ListOptions{})
	if err != nil {
		return err
	}
	if len(list.Items) == 0 && o.output == outputTable {
		if ns != "" {
			fmt.Fprintf(o.global.streams.Err, "No %s found in project %s.\n", info.Resource, ns)
		} else {
			fmt.Fprintf(o.global.streams.Err, "No %s found.\n", info.Resource)
		}
		return nil
	}
	return o.print(out, info, list.Items, false)
}

// print writes objects in the chosen format; single means one named object
// was asked for, which yaml and json print bare rather than in a List.
func (o *getOptions) print(w io.Writer, info *kinds.Info, objs []unstructured.Unstructured, single bool) error {
	switch o.output {
	case outputJSON:
		var v any = listOf(objs)
		if single {
			v = objs[0].Object
		}
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case outputYAML:
		var v any = listOf(objs)
		if single {
			v = objs[0].Object
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	default:
		p, err := newTablePrinter(info, time.Now())
		if err != nil {
			return err
		}
		return p.print(w, objs)
	}
}

// list is the kubectl-style List wrapper of -o json and -o yaml.
type list struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Items      []map[string]any `json:"items"`
}

func listOf(objs []unstructured.Unstructured) list {
	l := list{APIVersion: "v1", Kind: "List", Items: make([]map[string]any, len(objs))}
	for i := range objs {
		l.Items[i] = objs[i].Object
	}
	return l
}
