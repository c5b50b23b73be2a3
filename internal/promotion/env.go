package promotion

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/expr"
)

// Lookups reads what the promotion-time expression functions need. The
// Promotion reconciler implements it over the store. Every method returns
// nil and no error for an object that does not exist; other errors make the
// evaluation, and so the step, fail.
type Lookups interface {
	// Secret returns the data of a Secret, decoded to strings.
	// secret(name) reads the project's namespace and sharedSecret(name)
	// EngineOptions.SharedNamespace. As in Kargo, from the shared namespace
	// only generic Secrets (labelled kargo.akuity.io/cred-type: generic) may
	// be read: for any other Secret there, return nil, so that repository
	// credentials shared with every project stay out of expressions.
	Secret(ctx context.Context, namespace, name string) (map[string]string, error)
	// ConfigMap returns the data of a ConfigMap (configMap(name),
	// sharedConfigMap(name)).
	ConfigMap(ctx context.Context, namespace, name string) (map[string]string, error)
	// FreightMetadata returns a Freight's status.metadata, each value
	// decoded from JSON (freightMetadata(name)).
	FreightMetadata(ctx context.Context, project, freight string) (map[string]any, error)
	// FreightStatus returns a Freight's whole status as a JSON-shaped map
	// (freightStatus(name)).
	FreightStatus(ctx context.Context, project, freight string) (map[string]any, error)
	// StageMetadata returns a Stage's metadata, each value decoded from JSON
	// (stageMetadata(name)).
	StageMetadata(ctx context.Context, project, stage string) (map[string]any, error)
	// Warehouse returns a Warehouse. When a promotion brings Freight from
	// several Warehouses, their subscriptions decide which one an
	// imageFrom/commitFrom/chartFrom/artifactFrom without an origin means,
	// as in Kargo; nil makes the Freight itself decide.
	Warehouse(ctx context.Context, project, name string) (*kargoapi.Warehouse, error)
}

var _ expr.DataLookups = Lookups(nil)

// run is one call of Engine.Run: the promotion's input and what every
// step's evaluation shares.
type run struct {
	e       *Engine
	in      *Input
	status  *kargoapi.PromotionStatus
	save    func(ctx context.Context, status *kargoapi.PromotionStatus) error
	log     *slog.Logger
	steps   []plannedStep
	aliases []string
	// outputs holds each step's output by alias, as JSON values.
	outputs map[string]any
	// origins are the Freight of the promotion, one per origin.
	origins []expr.Origin
	// ctxVar is the value of the ctx variable.
	ctxVar map[string]any
}

// newOrigins returns the Freight of the promotion as lookup origins, sorted
// by origin; with more than one, each carries its Warehouse's subscriptions.
func (r *run) newOrigins(ctx context.Context) error {
	coll := r.in.Freight.DeepCopy()
	if r.in.TargetFreight.Name != "" {
		found := false
		for _, ref := range coll.Freight {
			if ref.Name == r.in.TargetFreight.Name {
				found = true
				break
			}
		}
		if !found {
			coll.UpdateOrPush(r.in.TargetFreight)
		}
	}
	keys := make([]string, 0, len(coll.Freight))
	for k := range coll.Freight {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r.origins = make([]expr.Origin, 0, len(keys))
	for _, k := range keys {
		ref := coll.Freight[k]
		o := expr.Origin{Origin: ref.Origin, Freight: expr.ReferenceSource(ref)}
		if len(keys) > 1 && r.e.lookups != nil && ref.Origin.Name != "" {
			w, err := r.e.lookups.Warehouse(ctx, r.in.Project, ref.Origin.Name)
			if err != nil {
				return fmt.Errorf("get warehouse %q: %w", ref.Origin.Name, err)
			}
			if w != nil {
				o.Subscriptions = w.Spec.Subscriptions
				if o.Subscriptions == nil {
					o.Subscriptions = kargoapi.RepoSubscriptions{}
				}
			}
		}
		r.origins = append(r.origins, o)
	}
	return nil
}

// buildCtxVar returns the ctx variable of expressions.
func (r *run) buildCtxVar() {
	origin := map[string]any{"name": r.in.TargetFreight.Origin.Name}
	if r.in.TargetFreight.Origin.Kind != "" {
		origin["kind"] = string(r.in.TargetFreight.Origin.Kind)
	}
	r.ctxVar = map[string]any{
		"project":   r.in.Project,
		"stage":     r.in.Stage,
		"promotion": r.in.Promotion,
		"targetFreight": map[string]any{
			"name":   r.in.TargetFreight.Name,
			"origin": origin,
		},
		"meta": map[string]any{
			"promotion": map[string]any{"actor": r.in.Actor},
		},
	}
}

// scope is the evaluation scope of one step: its variables, functions and
// the secrets read while evaluating them.
type scope struct {
	r     *run
	index int
	alias string
	red   *redactor
	// fns are the functions of promotion variables; stepFns add the status
	// functions for the step's vars, if and config.
	fns, stepFns []expr.Function
	// vars is the vars variable once evaluated.
	vars map[string]any
	// lookupErr is the first error a lookup returned during the
	// evaluation: a failure of the store, not of the manifest.
	lookupErr error
}

// newScope prepares the evaluation of step i with context ctx.
func (r *run) newScope(ctx context.Context, i int) *scope {
	sc := &scope{r: r, index: i, alias: r.steps[i].alias, red: &redactor{}}
	sc.fns = append(sc.fns, expr.FreightFunctions(r.origins...)...)
	sc.fns = append(sc.fns, expr.ArtifactFunctions(r.origins...)...)
	if r.e.lookups != nil {
		l := &cachingLookups{Lookups: r.e.lookups, failed: &sc.lookupErr}
		sc.fns = append(sc.fns, expr.DataFunctions(ctx, l,
			expr.DataScope{Project: r.in.Project, SharedNamespace: r.e.shared, OnSecret: sc.red.add})...)
	}
	sc.stepFns = append(append([]expr.Function(nil), sc.fns...),
		expr.StatusFunctions(sc.alias, r.aliases, r.status.StepExecutionMetadata[:i])...)
	return sc
}

// stepEnv returns the environment of the step's own vars, if and config.
func (sc *scope) stepEnv() map[string]any {
	env := map[string]any{
		"ctx":     sc.r.ctxVar,
		"outputs": sc.r.outputs,
		"vars":    sc.vars,
	}
	if ns, _ := expr.SplitAlias(sc.alias); ns != "" {
		prefix := ns + expr.AliasSeparator
		taskOutputs := map[string]any{}
		for k, v := range sc.r.outputs {
			if strings.HasPrefix(k, prefix) {
				taskOutputs[k[len(prefix):]] = v
			}
		}
		env["task"] = map[string]any{"outputs": taskOutputs}
	}
	return env
}

// evalVars evaluates the promotion's variables, in order, over ctx and the
// variables before them, then the step's, which also see outputs (and
// task.outputs). Later variables override earlier ones of the same name.
func (sc *scope) evalVars(step *kargoapi.PromotionStep) error {
	sc.vars = map[string]any{}
	if len(sc.r.in.Vars) > 0 {
		env := map[string]any{"ctx": sc.r.ctxVar, "vars": sc.vars}
		for _, v := range sc.r.in.Vars {
			val, err := expr.EvaluateTemplate(v.Value, env, expr.WithFunctions(sc.fns...))
			if err != nil {
				return fmt.Errorf("promotion variable %q: %w", v.Name, err)
			}
			sc.vars[v.Name] = val
		}
	}
	if len(step.Vars) > 0 {
		env := sc.stepEnv()
		for _, v := range step.Vars {
			val, err := expr.EvaluateTemplate(v.Value, env, expr.WithFunctions(sc.stepFns...))
			if err != nil {
				return fmt.Errorf("step variable %q: %w", v.Name, err)
			}
			sc.vars[v.Name] = val
		}
	}
	return nil
}

// evalIf evaluates the step's if. Like Kargo it takes ${{ }} expressions;
// a condition written without delimiters is evaluated as a bare expression
// (so `if: always()` works too), and "true"/"false" are themselves.
func (sc *scope) evalIf(cond string) (bool, error) {
	var (
		v   any
		err error
	)
	opt := expr.WithFunctions(sc.stepFns...)
	trimmed := strings.TrimSpace(cond)
	switch {
	case expr.HasExpression(cond):
		v, err = expr.EvaluateTemplate(cond, sc.stepEnv(), opt)
	case trimmed == "true" || trimmed == "false":
		v = trimmed == "true"
	default:
		v, err = expr.Eval(trimmed, sc.stepEnv(), opt)
	}
	if err != nil {
		return false, fmt.Errorf("if: %w", err)
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if p, perr := strconv.ParseBool(strings.TrimSpace(b)); perr == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("if must evaluate to true or false, got %s: compare values, e.g. ${{ status('x') == 'Succeeded' }}",
		describeValue(v))
}

// evalConfig evaluates the expressions in raw, a step's config.
func (sc *scope) evalConfig(raw []byte) ([]byte, error) {
	if !containsExpression(raw) {
		return raw, nil
	}
	out, err := expr.EvaluateJSONTemplate(raw, sc.stepEnv(), expr.WithFunctions(sc.stepFns...))
	if err != nil {
		// Errors at a JSON path read "images[0].tag: …"; others (a
		// config that is a single string) have no path.
		msg := err.Error()
		for _, p := range []string{"parse JSON template", "evaluate expression", "invalid expression"} {
			if strings.HasPrefix(msg, p) {
				return nil, fmt.Errorf("config: %w", err)
			}
		}
		return nil, fmt.Errorf("config.%w", err)
	}
	return out, nil
}

// containsExpression reports whether a JSON document may hold an
// expression.
func containsExpression(raw []byte) bool {
	return strings.Contains(string(raw), "${{") || strings.Contains(string(raw), "${%")
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			x = x[:60] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	}
	return fmt.Sprintf("%T %v", v, v)
}

// cachingLookups remembers Secrets and ConfigMaps for one step's
// evaluation, which may read the same one in many places, and records the
// first lookup error. Freight and Stage metadata are read fresh each time: an
// earlier step may just have changed them.
type cachingLookups struct {
	Lookups
	cache  map[string]map[string]string
	failed *error
}

func (c *cachingLookups) fail(err error) error {
	if err != nil && *c.failed == nil {
		*c.failed = err
	}
	return err
}

func (c *cachingLookups) cached(kind, ns, name string, read func() (map[string]string, error)) (map[string]string, error) {
	key := kind + "/" + ns + "/" + name
	if v, ok := c.cache[key]; ok {
		return v, nil
	}
	v, err := read()
	if err != nil {
		return nil, c.fail(err)
	}
	if c.cache == nil {
		c.cache = map[string]map[string]string{}
	}
	c.cache[key] = v
	return v, nil
}

// Secret implements expr.DataLookups.
func (c *cachingLookups) Secret(ctx context.Context, ns, name string) (map[string]string, error) {
	return c.cached("Secret", ns, name, func() (map[string]string, error) { return c.Lookups.Secret(ctx, ns, name) })
}

// ConfigMap implements expr.DataLookups.
func (c *cachingLookups) ConfigMap(ctx context.Context, ns, name string) (map[string]string, error) {
	return c.cached("ConfigMap", ns, name, func() (map[string]string, error) { return c.Lookups.ConfigMap(ctx, ns, name) })
}

// FreightMetadata implements expr.DataLookups.
func (c *cachingLookups) FreightMetadata(ctx context.Context, project, freight string) (map[string]any, error) {
	v, err := c.Lookups.FreightMetadata(ctx, project, freight)
	return v, c.fail(err)
}

// FreightStatus implements expr.DataLookups.
func (c *cachingLookups) FreightStatus(ctx context.Context, project, freight string) (map[string]any, error) {
	v, err := c.Lookups.FreightStatus(ctx, project, freight)
	return v, c.fail(err)
}

// StageMetadata implements expr.DataLookups.
func (c *cachingLookups) StageMetadata(ctx context.Context, project, stage string) (map[string]any, error) {
	v, err := c.Lookups.StageMetadata(ctx, project, stage)
	return v, c.fail(err)
}

// minRedacted is the shortest secret value that is redacted: shorter ones
// ("1", "true") would blank out unrelated text.
const minRedacted = 4

// redactor collects the secret values one step's evaluation read and
// removes them from what the step reports: its message and its output.
type redactor struct {
	values []string
}

func (r *redactor) add(v string) {
	if len(v) >= minRedacted {
		r.values = append(r.values, v)
	}
}

// string replaces every collected secret value in s with "***".
func (r *redactor) string(s string) string {
	if r == nil || len(r.values) == 0 {
		return s
	}
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "***")
	}
	return s
}

// value redacts the strings of a JSON value in place and returns it.
func (r *redactor) value(v any) any {
	if r == nil || len(r.values) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		return r.string(x)
	case map[string]any:
		for k, e := range x {
			x[k] = r.value(e)
		}
	case []any:
		for i, e := range x {
			x[i] = r.value(e)
		}
	}
	return v
}
