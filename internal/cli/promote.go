package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/apiclient"
	"github.com/caravan-dev/caravan/internal/kinds"
)

// DefaultPromoteTimeout bounds how long `promote --wait` waits.
const DefaultPromoteTimeout = 30 * time.Minute

// promoteOptions are the flags of `caravan promote`.
type promoteOptions struct {
	global       *globalOptions
	project      string
	stage        string
	freight      string
	freightAlias string
	abort        string
	wait         bool
	timeout      time.Duration
	// downstreamFrom and warehouse select the pipeline forms (promote.go's
	// second half).
	downstreamFrom string
	warehouse      string
}

func newPromoteCommand(g *globalOptions) *cobra.Command {
	o := &promoteOptions{global: g}
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Promote Freight into a Stage, or abort a Promotion",
		Long: "Promote creates a Promotion that moves one Freight (named by --freight, or by\n" +
			"its alias with --freight-alias) into a Stage by running the Stage's promotion\n" +
			"steps. The server names the Promotion <stage>.<ULID>.<freight prefix> and\n" +
			"runs it once no earlier Promotion of the Stage is unfinished.\n\n" +
			"With --wait it returns when the Promotion ends, and exits 1 unless it\n" +
			"Succeeded, naming the step that failed and its message.\n\n" +
			"With --abort NAME it aborts a Promotion instead (the kargo.akuity.io/abort\n" +
			"annotation): a Pending one at once, a Running one at its next step boundary.\n\n" +
			"With --warehouse W instead of a Freight it promotes the Freight from that\n" +
			"Warehouse that auto-promotion would pick (the newest available to the Stage).\n\n" +
			"With --downstream-from S instead of --stage it promotes Freight verified in\n" +
			"Stage S into every Stage immediately downstream of S to which it is\n" +
			"available, and says why it skipped the others; exit 1 when it promoted\n" +
			"into none.",
		Example: "  caravan promote -p kargo-demo --stage test --freight-alias lazy-lion --wait\n" +
			"  caravan promote -p kargo-demo --abort test.01j9z7w3k2v5q8r1t4y6u0x2ab.8f4e2c1\n" +
			"  caravan promote -p kargo-demo --stage uat --warehouse kargo-demo\n" +
			"  caravan promote -p kargo-demo --downstream-from test --freight lazy-lion",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if o.abort != "" {
				return o.runAbort(cmd.Context())
			}
			if o.downstreamFrom != "" {
				return o.runDownstream(cmd.Context())
			}
			if o.warehouse != "" {
				return o.runByOrigin(cmd.Context())
			}
			return o.runPromote(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *promoteOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.project, "project", "p", "", "project of the Stage")
	fs.StringVar(&o.stage, "stage", "", "Stage to promote into")
	fs.StringVar(&o.freight, "freight", "", "name (ID) of the Freight to promote")
	fs.StringVar(&o.freightAlias, "freight-alias", "", "alias of the Freight to promote")
	fs.StringVar(&o.abort, "abort", "", "abort the Promotion of this name instead of promoting")
	fs.BoolVar(&o.wait, "wait", false, "wait until the Promotion ends; exit 1 unless it Succeeded")
	fs.DurationVar(&o.timeout, "timeout", DefaultPromoteTimeout, "how long --wait waits")
	fs.StringVar(&o.downstreamFrom, "downstream-from", "",
		"promote --freight (name or alias), verified in this Stage, into every Stage immediately downstream of it")
	fs.StringVar(&o.warehouse, "warehouse", "",
		"promote into --stage the Freight from this Warehouse that auto-promotion would pick")
}

func (o *promoteOptions) validate() error {
	if o.project == "" {
		return errors.New("a Promotion lives in a project: say which with --project PROJECT (or -p PROJECT)")
	}
	if o.downstreamFrom != "" || o.warehouse != "" {
		return o.validatePipeline()
	}
	if o.abort != "" {
		if o.stage != "" || o.freight != "" || o.freightAlias != "" {
			return errors.New("--abort takes only the Promotion's name: drop --stage, --freight and --freight-alias")
		}
		return nil
	}
	if o.stage == "" {
		return errors.New("say which Stage to promote into with --stage STAGE")
	}
	switch {
	case o.freight == "" && o.freightAlias == "":
		return errors.New("say which Freight to promote with --freight NAME or --freight-alias ALIAS " +
			"(see them with `caravan get freight -p " + o.project + "`)")
	case o.freight != "" && o.freightAlias != "":
		return errors.New("--freight and --freight-alias both name the Freight: give only one")
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout %s: need a positive duration", o.timeout)
	}
	return nil
}

// runPromote creates the Promotion and, with --wait, follows it.
func (o *promoteOptions) runPromote(ctx context.Context) error {
	c, err := o.global.client()
	if err != nil {
		return err
	}
	freight := o.freight
	if o.freightAlias != "" {
		if freight, err = freightByAlias(ctx, c, o.project, o.freightAlias); err != nil {
			return err
		}
	}
	info := kinds.ByKind("Promotion")
	promo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": info.APIVersion(),
		"kind":       info.Kind,
		"metadata":   map[string]any{"namespace": o.project},
		"spec":       map[string]any{"stage": o.stage, "freight": freight},
	}}
	created, err := c.Create(ctx, promo)
	if err != nil {
		return err
	}
	out := o.global.streams.Out
	fmt.Fprintf(out, "%s created\n", ref(info.Kind, created.GetName()))
	if !o.wait {
		return nil
	}
	return o.follow(ctx, c, created)
}

// freightByAlias returns the name of the project's Freight with alias.
func freightByAlias(ctx context.Context, c *apiclient.Client, project, alias string) (string, error) {
	list, err := c.List(ctx, kinds.ByKind("Freight"), project, apiclient.ListOptions{
		LabelSelector: kargoapi.LabelKeyAlias + "=" + alias,
	})
	if err != nil {
		return "", err
	}
	if len(list.Items) != 1 {
		return "", fmt.Errorf("no Freight has the alias %q in project %s: see the aliases with `caravan get freight -p %s`",
			alias, project, project)
	}
	return list.Items[0].GetName(), nil
}

// runAbort asks the server to abort a Promotion and, with --wait, follows
// it to its end.
func (o *promoteOptions) runAbort(ctx context.Context) error {
	c, err := o.global.client()
	if err != nil {
		return err
	}
	info := kinds.ByKind("Promotion")
	req, err := json.Marshal(kargoapi.AbortPromotionRequest{Action: kargoapi.PromotionAbortActionTerminate})
	if err != nil {
		return fmt.Errorf("encode abort request: %w", err)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{kargoapi.AnnotationKeyAbort: string(req)}},
	})
	if err != nil {
		return fmt.Errorf("encode abort patch: %w", err)
	}
	patched, err := c.Patch(ctx, info, o.project, o.abort, patch)
	if err != nil {
		return err
	}
	if phase := promotionPhase(patched); phase.IsTerminal() {
		return fmt.Errorf("%s already ended (%s): there is nothing to abort", ref(info.Kind, o.abort), phase)
	}
	fmt.Fprintf(o.global.streams.Out, "%s abort requested\n", ref(info.Kind, o.abort))
	if !o.wait {
		return nil
	}
	return o.follow(ctx, c, patched)
}

// follow waits until the Promotion ends and reports how: nil when it
// Succeeded, else an error naming the failed step.
func (o *promoteOptions) follow(ctx context.Context, c *apiclient.Client, obj *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	info := kinds.ByKind("Promotion")
	name := obj.GetName()
	ended := func(u *unstructured.Unstructured) bool { return promotionPhase(u).IsTerminal() }
	final, err := watchObject(ctx, c, info, o.project, name, obj, ended)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s did not end within %s: check that `caravan server` is running, and follow it with "+
				"`caravan get promotion %s -p %s`", ref(info.Kind, name), o.timeout, name, o.project)
		}
		return err
	}
	phase := promotionPhase(final)
	if phase == kargoapi.PromotionPhaseSucceeded {
		fmt.Fprintf(o.global.streams.Out, "%s %s\n", ref(info.Kind, name), phase)
		return nil
	}
	return errors.New(promotionFailure(final))
}

// watchObject returns the object once done says so, watching it and
// falling back to reading it again when the watch cannot be used.
func watchObject(ctx context.Context, c *apiclient.Client, info *kinds.Info, ns, name string,
	obj *unstructured.Unstructured, done func(*unstructured.Unstructured) bool) (*unstructured.Unstructured, error) {
	for {
		if done(obj) {
			return obj, nil
		}
		w, err := c.Watch(ctx, info, ns, apiclient.WatchOptions{
			ListOptions:     apiclient.ListOptions{FieldSelector: "metadata.name=" + name},
			ResourceVersion: obj.GetResourceVersion(),
		})
		if err == nil {
			if u := watchUntil(ctx, w, done); u != nil {
				return u, nil
			}
		}
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

// promotionPhase reads status.phase.
func promotionPhase(u *unstructured.Unstructured) kargoapi.PromotionPhase {
	s, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return kargoapi.PromotionPhase(s)
}

// decodePromotion decodes a Promotion leniently (for display only).
func decodePromotion(u *unstructured.Unstructured) *kargoapi.Promotion {
	p := &kargoapi.Promotion{}
	if b, err := json.Marshal(u.Object); err == nil {
		_ = json.Unmarshal(b, p)
	}
	return p
}

// promotionFailure says how a Promotion that did not succeed ended, naming
// the step that ended it: "promotion/NAME Failed at step 3 "alias"
// (uses): message", steps counted from 0 as the engine's messages do.
func promotionFailure(u *unstructured.Unstructured) string {
	p := decodePromotion(u)
	out := fmt.Sprintf("%s %s", ref("Promotion", p.Name), p.Status.Phase)
	msg := p.Status.Message
	if i := failedStep(p); i >= 0 {
		alias := stepAlias(p, i)
		// The engine's message names the step already; say it otherwise.
		if !strings.Contains(msg, strconv.Quote(alias)) {
			out += fmt.Sprintf(" at step %d %q", i, alias)
			if uses := stepUses(p, i); uses != "" {
				out += " (" + uses + ")"
			}
			if md := p.Status.StepExecutionMetadata[i].Message; md != "" && !strings.Contains(msg, md) {
				msg = strings.TrimPrefix(msg+"; "+md, "; ")
			}
		}
	}
	if msg != "" {
		out += ": " + msg
	}
	return out
}

// failedStep returns the index of the step that ended the Promotion: the
// last one that failed, errored or was aborted without continueOnError,
// else the current step; -1 when there is none.
func failedStep(p *kargoapi.Promotion) int {
	mds := p.Status.StepExecutionMetadata
	for i := len(mds) - 1; i >= 0; i-- {
		switch mds[i].Status {
		case kargoapi.PromotionStepStatusFailed, kargoapi.PromotionStepStatusErrored, kargoapi.PromotionStepStatusAborted:
			if !mds[i].ContinueOnError {
				return i
			}
		}
	}
	if i := int(p.Status.CurrentStep); i >= 0 && i < len(mds) {
		return i
	}
	return -1
}

// stepAlias is the step's recorded alias, else its alias in the spec, else
// Kargo's default step-N (N counting from 0, as step indexes do).
func stepAlias(p *kargoapi.Promotion, i int) string {
	if i < len(p.Status.StepExecutionMetadata) && p.Status.StepExecutionMetadata[i].Alias != "" {
		return p.Status.StepExecutionMetadata[i].Alias
	}
	if i < len(p.Spec.Steps) && p.Spec.Steps[i].As != "" {
		return p.Spec.Steps[i].As
	}
	return "step-" + strconv.Itoa(i)
}

// stepUses is the `uses` of step i, or "" when the spec's steps do not
// line up with the recorded ones (a task step, inflated into several).
func stepUses(p *kargoapi.Promotion, i int) string {
	if i >= len(p.Spec.Steps) || len(p.Status.StepExecutionMetadata) > len(p.Spec.Steps) {
		return ""
	}
	for _, s := range p.Spec.Steps[:i+1] {
		if s.Task != nil {
			return ""
		}
	}
	return p.Spec.Steps[i].Uses
}

// printPromotionSteps writes the step view of one Promotion under its
// table row: the Promotion's message, then one row per step with its
// alias, what it uses, its status, its error count and its message.
func printPromotionSteps(w io.Writer, u *unstructured.Unstructured, now time.Time) error {
	p := decodePromotion(u)
	if p.Status.Message != "" {
		fmt.Fprintf(w, "\nMessage: %s\n", oneLine(p.Status.Message))
	}
	n := max(len(p.Spec.Steps), len(p.Status.StepExecutionMetadata))
	if n == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "STEP\tALIAS\tUSES\tSTATUS\tERRORS\tDURATION\tMESSAGE")
	for i := range n {
		status, errs, dur, msg := "", "", "", ""
		if i < len(p.Status.StepExecutionMetadata) {
			md := p.Status.StepExecutionMetadata[i]
			status, msg = string(md.Status), md.Message
			if md.ErrorCount > 0 {
				errs = strconv.FormatUint(uint64(md.ErrorCount), 10)
			}
			if md.StartedAt != nil {
				end := now
				if md.FinishedAt != nil {
					end = md.FinishedAt.Time
				}
				// Times are stored to the second.
				if d := end.Sub(md.StartedAt.Time).Round(time.Second); d < time.Second {
					dur = "<1s"
				} else {
					dur = d.String()
				}
			}
		}
		if status == "" {
			status = "-"
		}
		uses := stepUses(p, i)
		if uses == "" {
			uses = "-"
		}
		cells := []string{strconv.Itoa(i), stepAlias(p, i), uses, status, orDash(errs), orDash(dur), oneLine(msg)}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// validatePipeline checks the flags of the pipeline forms: --downstream-from
// with a Freight, or --stage with --warehouse.
func (o *promoteOptions) validatePipeline() error {
	switch {
	case o.abort != "":
		return errors.New("--abort takes only the Promotion's name: drop --downstream-from and --warehouse")
	case o.downstreamFrom != "" && o.warehouse != "":
		return errors.New("--downstream-from promotes one Freight you name with --freight; --warehouse picks one for --stage: give only one of them")
	case o.downstreamFrom != "" && o.stage != "":
		return errors.New("--downstream-from promotes into the Stages downstream of it: drop --stage")
	case o.downstreamFrom != "" && o.freight == "" && o.freightAlias == "":
		return errors.New("say which Freight to promote downstream with --freight NAME|ALIAS (see them with `caravan get freight -p " +
			o.project + "`)")
	case o.freight != "" && o.freightAlias != "":
		return errors.New("--freight and --freight-alias both name the Freight: give only one")
	case o.warehouse != "" && o.stage == "":
		return errors.New("say which Stage to promote into with --stage STAGE")
	case o.warehouse != "" && (o.freight != "" || o.freightAlias != ""):
		return errors.New("--warehouse lets the server pick the Freight: drop --freight and --freight-alias, or drop --warehouse")
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %s: need a positive duration", o.timeout)
	}
	return nil
}

// runByOrigin creates a Promotion by origin (spec.origin, the Warehouse),
// which the server resolves to the Freight auto-promotion would pick, and
// with --wait follows it.
func (o *promoteOptions) runByOrigin(ctx context.Context) error {
	c, err := o.global.client()
	if err != nil {
		return err
	}
	info := kinds.ByKind("Promotion")
	created, err := c.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": info.APIVersion(),
		"kind":       info.Kind,
		"metadata":   map[string]any{"namespace": o.project},
		"spec": map[string]any{
			"stage":  o.stage,
			"origin": map[string]any{"kind": string(kargoapi.FreightOriginKindWarehouse), "name": o.warehouse},
		},
	}})
	if err != nil {
		return err
	}
	freight, _, _ := unstructured.NestedString(created.Object, "spec", "freight")
	fmt.Fprintf(o.global.streams.Out, "%s created (%s)\n", ref(info.Kind, created.GetName()), ref("Freight", freight))
	if !o.wait {
		return nil
	}
	return o.follow(ctx, c, created)
}

// promoteDownstreamResult is the server's answer to promote-downstream.
type promoteDownstreamResult struct {
	Promotions []map[string]any `json:"promotions"`
	Skipped    []struct {
		Stage  string `json:"stage"`
		Reason string `json:"reason"`
	} `json:"skipped"`
}

// runDownstream asks the server to promote the Freight into the Stages
// downstream of --downstream-from and reports, per Stage, the Promotion
// created or why it was skipped; with --wait it follows the Promotions.
func (o *promoteOptions) runDownstream(ctx context.Context) error {
	c, err := o.global.client()
	if err != nil {
		return err
	}
	freight := o.freight
	if freight == "" {
		freight = o.freightAlias
	}
	var res promoteDownstreamResult
	err = c.Action(ctx, kinds.ByKind("Stage"), o.project, o.downstreamFrom, "promote-downstream",
		map[string]string{"freight": freight}, &res)
	if err != nil {
		return err
	}
	out := o.global.streams.Out
	info := kinds.ByKind("Promotion")
	created := make([]*unstructured.Unstructured, 0, len(res.Promotions))
	for _, p := range res.Promotions {
		u := &unstructured.Unstructured{Object: p}
		stage, _, _ := unstructured.NestedString(u.Object, "spec", "stage")
		fmt.Fprintf(out, "%s created (%s)\n", ref(info.Kind, u.GetName()), ref("Stage", stage))
		created = append(created, u)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(out, "%s skipped: %s\n", ref("Stage", s.Stage), s.Reason)
	}
	if len(created) == 0 {
		return fmt.Errorf("no Promotion was created: no Stage downstream of %q could take Freight %q (reasons above)",
			o.downstreamFrom, freight)
	}
	if !o.wait {
		return nil
	}
	var errs []error
	for _, u := range created {
		errs = append(errs, o.follow(ctx, c, u))
	}
	return errors.Join(errs...)
}
