package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/apiclient"
	"github.com/caravan-dev/caravan/internal/controller"
	"github.com/caravan-dev/caravan/internal/kinds"
)

// refreshPollInterval paces the fallback polling of `refresh --wait` when
// the server's watch cannot be used.
const refreshPollInterval = 250 * time.Millisecond

// refreshOptions are the flags of `caravan refresh warehouse`.
type refreshOptions struct {
	global  *globalOptions
	project string
	wait    bool
	timeout time.Duration
}

func newRefreshCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "refresh",
		Short: "Ask a controller to reconcile an object now",
		Long: "Refresh sets the kargo.akuity.io/refresh annotation of an object to a new\n" +
			"value, which makes its controller reconcile it at once, as Kargo's does.",
		Args: cobra.NoArgs,
	}
	o := &refreshOptions{global: g}
	wh := &cobra.Command{
		Use:     "warehouse NAME",
		Aliases: []string{"warehouses"},
		Short:   "Discover a Warehouse's artifacts now",
		Long: "Refresh warehouse makes the Warehouse discover its subscriptions' artifacts\n" +
			"now instead of at its next interval. With --wait it returns once the\n" +
			"discovery has run and prints the Freight it created, if any; it exits 1\n" +
			"with the Warehouse's message when discovery failed.",
		Example: "  caravan refresh warehouse kargo-demo -p kargo-demo --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	o.addFlags(wh.Flags())
	cmd.AddCommand(wh)
	return cmd
}

func (o *refreshOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.project, "project", "p", "", "project of the Warehouse")
	fs.BoolVar(&o.wait, "wait", false, "wait until the discovery has run, and print the Freight it created")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long --wait waits")
}

func (o *refreshOptions) run(ctx context.Context, name string) error {
	info := kinds.ByKind("Warehouse")
	ns, err := namespaceFor(info, o.project)
	if err != nil {
		return err
	}
	c, err := o.global.client()
	if err != nil {
		return err
	}
	token := time.Now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{kargoapi.AnnotationKeyRefresh: token}},
	})
	if err != nil {
		return fmt.Errorf("encode refresh patch: %w", err)
	}
	patched, err := c.Patch(ctx, info, ns, name, patch)
	if err != nil {
		return err
	}
	if !o.wait {
		fmt.Fprintf(o.global.streams.Out, "%s refresh requested\n", ref(info.Kind, name))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	w, err := waitForRefresh(ctx, c, info, ns, name, token, patched)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s did not handle the refresh within %s: check that `caravan server` is running, "+
				"and see its status with `caravan get warehouse %s -p %s -o yaml`", ref(info.Kind, name), o.timeout, name, ns)
		}
		return err
	}
	return o.report(ctx, c, w)
}

// waitForRefresh returns the Warehouse once its status.lastHandledRefresh
// is token. It watches the object; when the watch cannot be opened or
// ends, it reads the object again and watches from there, so it degrades to
// polling every refreshPollInterval.
func waitForRefresh(ctx context.Context, c *apiclient.Client, info *kinds.Info, ns, name, token string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	handled := func(u *unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledRefresh")
		return v == token
	}
	for {
		if handled(obj) {
			return obj, nil
		}
		w, err := c.Watch(ctx, info, ns, apiclient.WatchOptions{
			ListOptions:     apiclient.ListOptions{FieldSelector: "metadata.name=" + name},
			ResourceVersion: obj.GetResourceVersion(),
		})
		if err == nil {
			if done := watchUntil(ctx, w, handled); done != nil {
				return done, nil
			}
		}
		// The watch could not be opened or ended (410 Expired, a closed
		// stream): read the object again after a pause, then watch anew.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(refreshPollInterval):
		}
		if obj, err = c.Get(ctx, info, ns, name); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
}

// watchUntil reads w until an object satisfies ok (returned) or the stream
// ends (nil).
func watchUntil(ctx context.Context, w watch.Interface, ok func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, open := <-w.ResultChan():
			if !open || ev.Type == watch.Error {
				return nil
			}
			if u, isObj := ev.Object.(*unstructured.Unstructured); isObj && (ev.Type == watch.Added || ev.Type == watch.Modified) && ok(u) {
				return u
			}
		}
	}
}

// report prints what the handled refresh's discovery did.
func (o *refreshOptions) report(ctx context.Context, c *apiclient.Client, w *unstructured.Unstructured) error {
	var st kargoapi.WarehouseStatus
	if raw, found, _ := unstructured.NestedMap(w.Object, "status"); found {
		b, err := json.Marshal(raw)
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			return fmt.Errorf("decode status of warehouse %s: %w", w.GetName(), err)
		}
	}
	if ready := meta.FindStatusCondition(st.Conditions, controller.ConditionReady); ready != nil && ready.Status == metav1.ConditionFalse {
		return fmt.Errorf("warehouse %s: %s", w.GetName(), ready.Message)
	}
	created := meta.FindStatusCondition(st.Conditions, controller.ConditionFreightCreated)
	if created == nil || created.Status != metav1.ConditionTrue || st.LastFreightID == "" {
		fmt.Fprintln(o.global.streams.Out, "no new Freight")
		return nil
	}
	f, err := c.Get(ctx, kinds.ByKind("Freight"), w.GetNamespace(), st.LastFreightID)
	if apierrors.IsNotFound(err) {
		fmt.Fprintln(o.global.streams.Out, "no new Freight")
		return nil
	}
	if err != nil {
		return err
	}
	alias, _, _ := unstructured.NestedString(f.Object, "alias")
	fmt.Fprintf(o.global.streams.Out, "%s (alias %s) created\n", ref("Freight", f.GetName()), alias)
	return nil
}
