package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// deleteOptions are the flags of `caravan delete`.
type deleteOptions struct {
	global   *globalOptions
	project  string
	filename string
}

func newDeleteCommand(g *globalOptions) *cobra.Command {
	o := &deleteOptions{global: g}
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME | -f FILE|DIR|-)",
		Short: "Delete an object, or the objects of manifests",
		Long: "Delete deletes one object by kind and name, or every object a manifest\n" +
			"describes. Freight documents are deleted by their computed ID (the name\n" +
			"Kargo gives them); Promotion documents are refused, since a Promotion's\n" +
			"name is generated: delete it by name. Deleting a project deletes\n" +
			"everything in it.",
		Example: "  caravan delete stage uat -p kargo-demo\n  caravan delete -f examples/quickstart/",
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *deleteOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.project, "project", "p", "", "project (namespace) of namespaced kinds")
	fs.StringVarP(&o.filename, "filename", "f", "", "manifest file, directory, or - for stdin, naming the objects to delete")
}

func (o *deleteOptions) run(ctx context.Context, args []string) error {
	switch {
	case o.filename != "" && len(args) > 0:
		return errors.New("give either KIND NAME or -f FILE, not both")
	case o.filename != "":
		return o.runFile(ctx)
	case len(args) != 2:
		return errors.New("delete needs KIND NAME (e.g. caravan delete stage uat -p PROJECT) or -f FILE")
	}
	info, err := resolveKind(args[0])
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
	if err := c.Delete(ctx, info, ns, args[1]); err != nil {
		return err
	}
	fmt.Fprintf(o.global.streams.Out, "%s deleted\n", ref(info.Kind, args[1]))
	return nil
}

// target is one object a manifest names for deletion.
type target struct {
	info      *kinds.Info
	namespace string
	name      string
	err       error // why the document cannot be deleted
	label     string
}

// runFile deletes what the documents of -f name: everything else first, then
// Projects (whose deletion takes their contents along), reporting each.
func (o *deleteOptions) runFile(ctx context.Context) error {
	docs, err := readDocuments(o.filename, o.global.streams.In)
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("no objects to delete in %s", o.filename)
	}
	targets := make([]target, len(docs))
	for i, d := range docs {
		targets[i] = o.targetOf(d, i)
	}
	c, err := o.global.client()
	if err != nil {
		return err
	}
	failed := false
	for _, projectsPass := range []bool{false, true} {
		for _, t := range targets {
			isProject := t.info != nil && t.info.OwnsNamespace
			if isProject != projectsPass {
				continue
			}
			if t.err == nil {
				t.err = c.Delete(ctx, t.info, t.namespace, t.name)
			}
			if t.err != nil {
				failed = true
				fmt.Fprintf(o.global.streams.Err, "%s: %s\n", t.label, t.err.Error())
				continue
			}
			fmt.Fprintf(o.global.streams.Out, "%s deleted\n", t.label)
		}
	}
	if failed {
		return ErrReported
	}
	return nil
}

func (o *deleteOptions) targetOf(d document, i int) target {
	t := target{label: fmt.Sprintf("document %d of %s", i+1, d.source)}
	obj, err := d.decode()
	if err != nil {
		t.err = err
		return t
	}
	kind, apiVersion := obj.GetKind(), obj.GetAPIVersion()
	info := kinds.ByKind(kind)
	if info == nil || info.APIVersion() != apiVersion {
		t.err = fmt.Errorf("unknown kind %q in apiVersion %q", kind, apiVersion)
		if kind != "" {
			t.label = ref(kind, obj.GetName())
		}
		return t
	}
	t.info = info
	t.name = obj.GetName()
	t.label = ref(info.Kind, t.name)
	switch info.Kind {
	case "Promotion":
		t.err = errors.New("a Promotion document cannot be deleted with -f: its name is generated when it is created; " +
			"find it with `caravan get promotions -p PROJECT` and delete it by name")
		return t
	case "Freight":
		id, err := freightID(obj)
		if err != nil {
			t.err = err
			return t
		}
		t.name = id
		t.label = ref(info.Kind, id)
	}
	if t.name == "" {
		t.err = errors.New("the document has no metadata.name")
		return t
	}
	if info.Namespaced {
		t.namespace = obj.GetNamespace()
		if t.namespace == "" {
			t.namespace = o.project
		}
		if t.namespace == "" {
			t.err = fmt.Errorf("%s is namespaced and the document has no metadata.namespace: say which project with --project PROJECT (or -p PROJECT)", info.Kind)
		}
	}
	return t
}
