package expr

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// This file holds the context functions only a promotion provides: the
// lookups of Secrets, ConfigMaps and Freight or Stage metadata, the status
// functions of step conditions, and artifactFrom.

// DataLookups reads the objects the promotion-time data functions need. The
// promotion engine's Lookups satisfies it. Every method returns nil (and no
// error) for an object that does not exist.
type DataLookups interface {
	// Secret returns the Secret's data as strings.
	Secret(ctx context.Context, namespace, name string) (map[string]string, error)
	// ConfigMap returns the ConfigMap's data.
	ConfigMap(ctx context.Context, namespace, name string) (map[string]string, error)
	// FreightMetadata returns the Freight's status.metadata, each value
	// decoded from JSON.
	FreightMetadata(ctx context.Context, project, freight string) (map[string]any, error)
	// FreightStatus returns the Freight's whole status as a JSON-shaped map.
	FreightStatus(ctx context.Context, project, freight string) (map[string]any, error)
	// StageMetadata returns the Stage's metadata, each value decoded from
	// JSON.
	StageMetadata(ctx context.Context, project, stage string) (map[string]any, error)
}

// DataScope says where the data functions look.
type DataScope struct {
	// Project is the promotion's project: secret(), configMap(),
	// freightMetadata(), freightStatus() and stageMetadata() read its
	// namespace.
	Project string
	// SharedNamespace is read by sharedSecret() and sharedConfigMap().
	SharedNamespace string
	// OnSecret, if set, is called with every value a secret function
	// returns, so that the caller can keep them out of messages and outputs.
	OnSecret func(value string)
}

// DataFunctions returns the data functions over l, for WithFunctions:
//
//	secret(name)          → map[string]string, the project's Secret (empty when absent)
//	sharedSecret(name)    → the same from the shared namespace
//	configMap(name)       → map[string]string, the project's ConfigMap (empty when absent)
//	sharedConfigMap(name) → the same from the shared namespace
//	freightMetadata(freightName[, key]) → map[string]any (nil when absent), or one value
//	freightStatus(freightName)          → map[string]any (nil when absent)
//	stageMetadata(stageName)            → map[string]any (nil when absent)
//
// As in Kargo, a missing Secret or ConfigMap is an empty map, so
// secret('x').token ?? 'default' works; missing metadata is nil. Lookups
// run when an expression calls them, with ctx; the values of Secrets read
// are reported to scope.OnSecret and never appear in error messages.
func DataFunctions(ctx context.Context, l DataLookups, scope DataScope) []Function {
	d := &dataFuncs{ctx: ctx, l: l, scope: scope}
	return []Function{
		{Name: "secret", Call: d.secret(scope.Project, "secret")},
		{Name: "sharedSecret", Call: d.secret(scope.SharedNamespace, "sharedSecret")},
		{Name: "configMap", Call: d.configMap(scope.Project, "configMap")},
		{Name: "sharedConfigMap", Call: d.configMap(scope.SharedNamespace, "sharedConfigMap")},
		{Name: "freightMetadata", Call: d.freightMetadata},
		{Name: "freightStatus", Call: d.freightStatus},
		{Name: "stageMetadata", Call: d.stageMetadata},
	}
}

type dataFuncs struct {
	ctx   context.Context
	l     DataLookups
	scope DataScope
}

func (d *dataFuncs) name(fn string, args []any) (string, error) {
	if len(args) < 1 {
		return "", fmt.Errorf("%s takes 1 argument: call it as %s", fn, contextFunctions[fn].usage)
	}
	s, err := stringArg(fn, "name", args[0])
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s(): the name must not be empty", fn)
	}
	return s, nil
}

func (d *dataFuncs) secret(namespace, fn string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		name, err := d.name(fn, args)
		if err != nil {
			return nil, err
		}
		if namespace == "" {
			return nil, fmt.Errorf("%s(%q): no namespace is configured for it", fn, name)
		}
		data, err := d.l.Secret(d.ctx, namespace, name)
		if err != nil {
			return nil, fmt.Errorf("%s(%q): read secret: %w", fn, name, err)
		}
		out := make(map[string]string, len(data))
		for k, v := range data {
			out[k] = v
			if d.scope.OnSecret != nil {
				d.scope.OnSecret(v)
			}
		}
		return out, nil
	}
}

func (d *dataFuncs) configMap(namespace, fn string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		name, err := d.name(fn, args)
		if err != nil {
			return nil, err
		}
		if namespace == "" {
			return nil, fmt.Errorf("%s(%q): no namespace is configured for it", fn, name)
		}
		data, err := d.l.ConfigMap(d.ctx, namespace, name)
		if err != nil {
			return nil, fmt.Errorf("%s(%q): read config map: %w", fn, name, err)
		}
		if data == nil {
			data = map[string]string{}
		}
		return data, nil
	}
}

func (d *dataFuncs) freightMetadata(args ...any) (any, error) {
	name, err := d.name("freightMetadata", args)
	if err != nil {
		return nil, err
	}
	md, err := d.l.FreightMetadata(d.ctx, d.scope.Project, name)
	if err != nil {
		return nil, fmt.Errorf("freightMetadata(%q): %w", name, err)
	}
	if len(args) == 2 {
		// The two-argument form, deprecated in Kargo v1.8, returns one value.
		key, err := stringArg("freightMetadata", "key", args[1])
		if err != nil {
			return nil, err
		}
		if md == nil {
			return nil, nil
		}
		return md[key], nil
	}
	if md == nil {
		return nil, nil
	}
	return md, nil
}

func (d *dataFuncs) freightStatus(args ...any) (any, error) {
	name, err := d.name("freightStatus", args)
	if err != nil {
		return nil, err
	}
	st, err := d.l.FreightStatus(d.ctx, d.scope.Project, name)
	if err != nil {
		return nil, fmt.Errorf("freightStatus(%q): %w", name, err)
	}
	if st == nil {
		return nil, nil
	}
	return st, nil
}

func (d *dataFuncs) stageMetadata(args ...any) (any, error) {
	name, err := d.name("stageMetadata", args)
	if err != nil {
		return nil, err
	}
	md, err := d.l.StageMetadata(d.ctx, d.scope.Project, name)
	if err != nil {
		return nil, fmt.Errorf("stageMetadata(%q): %w", name, err)
	}
	if md == nil {
		return nil, nil
	}
	return md, nil
}

// AliasSeparator separates a task step's alias from the alias of the task
// step that inflated it: "<task alias>::<step alias>".
const AliasSeparator = "::"

// SplitAlias returns the task namespace and the short alias of a step alias:
// ("deploy", "push") for "deploy::push", ("", alias) for an alias outside a
// task.
func SplitAlias(alias string) (namespace, short string) {
	ns, short, ok := strings.Cut(alias, AliasSeparator)
	if !ok || strings.Contains(short, AliasSeparator) {
		return "", alias
	}
	return ns, short
}

// StatusFunctions returns success(), failure() and status(alias) for the
// step whose alias is current, over the metadata of the steps before it
// (metas, in order) and the aliases of every step of the promotion
// (aliases):
//
//	success()     → true when no earlier step failed or errored, ignoring
//	                steps with continueOnError
//	failure()     → the opposite
//	status(alias) → the status of the step with that alias ("Succeeded",
//	                "Skipped", "Failed", "Errored", "Running" …), "" for a
//	                step that has not run yet
//
// Inside a task (an alias of the form task::step), status('x') names the
// task's step x; a full alias such as 'task::x' works everywhere. An alias
// no step has is an error that lists the aliases.
func StatusFunctions(current string, aliases []string, metas []v1alpha1.StepExecutionMetadata) []Function {
	failed := false
	for _, m := range metas {
		if !m.ContinueOnError && (m.Status == v1alpha1.PromotionStepStatusFailed ||
			m.Status == v1alpha1.PromotionStepStatusErrored) {
			failed = true
			break
		}
	}
	ns, _ := SplitAlias(current)
	status := func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("status takes 1 argument: call it as status(stepAlias)")
		}
		alias, err := stringArg("status", "stepAlias", args[0])
		if err != nil {
			return nil, err
		}
		if alias == "" {
			return nil, fmt.Errorf("status(): the step alias must not be empty")
		}
		full := alias
		if ns != "" && !strings.Contains(alias, AliasSeparator) {
			full = ns + AliasSeparator + alias
		}
		for _, want := range []string{full, alias} {
			for _, m := range metas {
				if m.Alias == want {
					return string(m.Status), nil
				}
			}
		}
		for _, a := range aliases {
			if a == full || a == alias {
				return "", nil // a later step, not run yet
			}
		}
		return nil, fmt.Errorf("status(%q): no step has the alias %q; the aliases are %s",
			alias, alias, strings.Join(aliases, ", "))
	}
	return []Function{
		{Name: "success", Call: func(...any) (any, error) { return !failed, nil }},
		{Name: "failure", Call: func(...any) (any, error) { return failed, nil }},
		{Name: "status", Call: status},
	}
}

// ArtifactSource is a FreightSource that also holds generic artifacts, which
// artifactFrom reads.
type ArtifactSource interface {
	FreightSource
	Artifacts() []v1alpha1.ArtifactReference
}

// ReferenceSource returns the artifacts of a Freight reference, generic ones
// included, for Origin.Freight in a promotion.
func ReferenceSource(r v1alpha1.FreightReference) ArtifactSource {
	return refSource{artifactSet: artifactSet{commits: r.Commits, images: r.Images, charts: r.Charts}, artifacts: r.Artifacts}
}

type refSource struct {
	artifactSet
	artifacts []v1alpha1.ArtifactReference
}

func (r refSource) Artifacts() []v1alpha1.ArtifactReference { return r.artifacts }

// Artifact is what artifactFrom returns: a generic artifact with its
// metadata decoded, so expressions can read artifactFrom('s').Metadata.key.
type Artifact struct {
	ArtifactType     string         `json:"artifactType,omitempty"`
	SubscriptionName string         `json:"subscriptionName"`
	Version          string         `json:"version"`
	Metadata         map[string]any `json:"metadata,omitempty"`
}

// ArtifactFunctions returns artifactFrom over the Freight of origins:
//
//	artifactFrom(subscriptionName[, origin]) → Artifact
//
// It finds the artifact a generic subscription of that name contributed.
// Without an origin the single origin that could provide it is used (by its
// Warehouse's subscriptions when known, else by its Freight); more than one
// is an error asking for the origin. Nothing found is nil. Origins whose
// Freight is not an ArtifactSource have no generic artifacts.
func ArtifactFunctions(origins ...Origin) []Function {
	return []Function{{Name: "artifactFrom", Call: func(args ...any) (any, error) { return artifactFrom(origins, args) }}}
}

func artifactFrom(origins []Origin, args []any) (any, error) {
	usage := contextFunctions["artifactFrom"].usage
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("artifactFrom takes 1 or 2 arguments, got %d: call it as %s", len(args), usage)
	}
	sub, ok := args[0].(string)
	if !ok || strings.TrimSpace(sub) == "" {
		return nil, fmt.Errorf("artifactFrom: subscriptionName must be a non-empty string, got %s: call it as %s", describe(args[0]), usage)
	}
	call := fmt.Sprintf("artifactFrom(%q)", sub)
	var picked []Origin
	if len(args) == 2 {
		o, ok := asOrigin(args[1])
		if !ok {
			return nil, fmt.Errorf(`artifactFrom: origin must be a Freight origin such as warehouse("name"), got %s: call it as %s`,
				describe(args[1]), usage)
		}
		call = fmt.Sprintf("artifactFrom(%q, warehouse(%q))", sub, o.Name)
		for _, c := range origins {
			if sameOrigin(c.Origin, o) {
				picked = append(picked, c)
			}
		}
		if len(picked) == 0 {
			names := make([]string, len(origins))
			for i, c := range origins {
				names[i] = originString(c.Origin)
			}
			return nil, fmt.Errorf("%s: %s is not an origin of this Freight; the origins are %s",
				call, originString(o), strings.Join(names, ", "))
		}
	} else {
		for _, c := range origins {
			if providesArtifact(c, sub) {
				picked = append(picked, c)
			}
		}
	}
	switch len(picked) {
	case 0:
		return nil, nil
	case 1:
	default:
		names := make([]string, len(picked))
		for i, c := range picked {
			names[i] = originString(c.Origin)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%s is ambiguous: Freight from %s could provide it; name the origin, e.g. artifactFrom(%q, warehouse(%q))",
			call, strings.Join(names, ", "), sub, picked[0].Origin.Name)
	}
	src, ok := picked[0].Freight.(ArtifactSource)
	if !ok || src == nil {
		return nil, nil
	}
	for _, a := range src.Artifacts() {
		if a.SubscriptionName != sub {
			continue
		}
		out := Artifact{ArtifactType: a.ArtifactType, SubscriptionName: a.SubscriptionName, Version: a.Version,
			Metadata: map[string]any{}}
		if !a.Metadata.IsEmpty() {
			if err := json.Unmarshal(a.Metadata.Raw, &out.Metadata); err != nil {
				return nil, fmt.Errorf("%s: decode the artifact's metadata: %w", call, err)
			}
		}
		return out, nil
	}
	return nil, nil
}

// providesArtifact reports whether origin o could provide an artifact of
// the named subscription.
func providesArtifact(o Origin, sub string) bool {
	if o.Subscriptions != nil {
		for _, s := range o.Subscriptions {
			if s.Name == sub || (s.Generic != nil && s.Generic.Name == sub) {
				return true
			}
		}
		return false
	}
	src, ok := o.Freight.(ArtifactSource)
	if !ok || src == nil {
		return false
	}
	for _, a := range src.Artifacts() {
		if a.SubscriptionName == sub {
			return true
		}
	}
	return false
}
