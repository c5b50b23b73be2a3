package analysis

import (
	"errors"
	"fmt"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// Kinds of templates, as Template.Kind names them.
const (
	KindAnalysisTemplate        = "AnalysisTemplate"
	KindClusterAnalysisTemplate = "ClusterAnalysisTemplate"
)

// Template is one AnalysisTemplate or ClusterAnalysisTemplate a run is built
// from. Kind and Name only name it in messages.
type Template struct {
	// Kind is KindAnalysisTemplate or KindClusterAnalysisTemplate.
	Kind string
	// Name is the template's name.
	Name string
	// Spec is the template's body; BuildRun does not modify it.
	Spec *rolloutsapi.AnalysisTemplateSpec
}

// FromAnalysisTemplate returns the Template of t.
func FromAnalysisTemplate(t *rolloutsapi.AnalysisTemplate) Template {
	return Template{Kind: KindAnalysisTemplate, Name: t.Name, Spec: &t.Spec}
}

// FromClusterAnalysisTemplate returns the Template of t.
func FromClusterAnalysisTemplate(t *rolloutsapi.ClusterAnalysisTemplate) Template {
	return Template{Kind: KindClusterAnalysisTemplate, Name: t.Name, Spec: &t.Spec}
}

func (t Template) String() string {
	kind := t.Kind
	if kind == "" {
		kind = KindAnalysisTemplate
	}
	return fmt.Sprintf("%s %q", kind, t.Name)
}

// BuildRun merges templates into the spec of an AnalysisRun, as Argo Rollouts
// does when it creates a run from templates:
//
//   - the metrics of all templates, in order; a metric name used twice is an
//     error;
//   - the templates' arguments, where one name declared by several templates
//     must not have two different default values; then args override them
//     by name (a value replaces a valueFrom and the reverse); args that no
//     template declares are ignored, as in Argo Rollouts; an argument left
//     with neither value nor valueFrom is an error that names it;
//   - the templates' dryRun and measurementRetention rules (no rule twice).
//
// Every {{args.NAME}} placeholder in the metrics is replaced by the
// argument's value, except placeholders of arguments read from a Secret
// (valueFrom.secretKeyRef): those are resolved by the Runner, through
// Options.Secrets, each time a measurement is taken, so that secret values
// are never stored. The returned spec passes the API's AnalysisRun
// validation; an error says what to fix.
func BuildRun(templates []Template, args []rolloutsapi.Argument) (*rolloutsapi.AnalysisRunSpec, error) {
	if len(templates) == 0 {
		return nil, errors.New("no analysis templates: reference at least one AnalysisTemplate or ClusterAnalysisTemplate")
	}
	for _, t := range templates {
		if t.Spec == nil {
			return nil, fmt.Errorf("%s has no spec", t)
		}
	}
	metrics, err := flattenMetrics(templates)
	if err != nil {
		return nil, err
	}
	merged, declaredBy, err := flattenArgs(templates)
	if err != nil {
		return nil, err
	}
	merged = overrideArgs(merged, args)
	values := make(map[string]argValue, len(merged))
	for _, a := range merged {
		v, err := buildArgValue(a, declaredBy[a.Name])
		if err != nil {
			return nil, err
		}
		values[a.Name] = v
	}

	spec := &rolloutsapi.AnalysisRunSpec{Args: merged}
	for _, t := range templates {
		spec.DryRun = append(spec.DryRun, t.Spec.DryRun...)
		spec.MeasurementRetention = append(spec.MeasurementRetention, t.Spec.MeasurementRetention...)
	}
	for i := range metrics {
		m, err := resolveMetric(&metrics[i].metric, values)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", metrics[i].from, err)
		}
		spec.Metrics = append(spec.Metrics, *m)
	}
	if errs := rolloutsapi.ValidateAnalysisRun(&rolloutsapi.AnalysisRun{Spec: *spec}); len(errs) > 0 {
		return nil, fmt.Errorf("the merged analysis is invalid: %w", errs.ToAggregate())
	}
	return spec, nil
}

// templateMetric is a metric and the template it comes from.
type templateMetric struct {
	metric rolloutsapi.Metric
	from   Template
}

func flattenMetrics(templates []Template) ([]templateMetric, error) {
	var out []templateMetric
	first := map[string]Template{}
	for _, t := range templates {
		for _, m := range t.Spec.Metrics {
			if prev, dup := first[m.Name]; dup {
				return nil, fmt.Errorf("metric %q is defined by both %s and %s: "+
					"metric names must be unique across the templates of a run; rename one", m.Name, prev, t)
			}
			first[m.Name] = t
			out = append(out, templateMetric{metric: m, from: t})
		}
	}
	return out, nil
}

// flattenArgs combines the templates' arguments. An argument declared with a
// value keeps it; one declared without a value takes a later template's.
func flattenArgs(templates []Template) ([]rolloutsapi.Argument, map[string]Template, error) {
	var out []rolloutsapi.Argument
	declaredBy := map[string]Template{}
	index := map[string]int{}
	for _, t := range templates {
		for _, a := range t.Spec.Args {
			i, seen := index[a.Name]
			if !seen {
				index[a.Name] = len(out)
				declaredBy[a.Name] = t
				out = append(out, *a.DeepCopy())
				continue
			}
			prev := out[i]
			if prev.Value != nil && a.Value != nil && *prev.Value != *a.Value {
				return nil, nil, fmt.Errorf("argument %q has the default value %q in %s but %q in %s: "+
					"give it the same default in both templates, or none in one of them",
					a.Name, *prev.Value, declaredBy[a.Name], *a.Value, t)
			}
			if prev.Value == nil {
				out[i] = *a.DeepCopy()
			}
		}
	}
	return out, declaredBy, nil
}

// overrideArgs applies the caller's arguments to the templates' ones.
func overrideArgs(merged, args []rolloutsapi.Argument) []rolloutsapi.Argument {
	index := make(map[string]int, len(merged))
	for i, a := range merged {
		index[a.Name] = i
	}
	for _, a := range args {
		i, ok := index[a.Name]
		if !ok {
			continue
		}
		switch {
		case a.Value != nil:
			v := *a.Value
			merged[i].Value, merged[i].ValueFrom = &v, nil
		case a.ValueFrom != nil:
			merged[i].Value, merged[i].ValueFrom = nil, a.ValueFrom.DeepCopy()
		}
	}
	return merged
}

// buildArgValue says how an argument takes part in BuildRun's substitution.
func buildArgValue(a rolloutsapi.Argument, declaredBy Template) (argValue, error) {
	switch {
	case a.Value != nil:
		return argValue{value: *a.Value}, nil
	case a.ValueFrom == nil:
		return argValue{}, fmt.Errorf("argument %q has no value: pass a value for it (a Stage's verification args), "+
			"or give it a default value in %s", a.Name, declaredBy)
	case a.ValueFrom.SecretKeyRef != nil:
		ref := a.ValueFrom.SecretKeyRef
		if ref.Name == "" || ref.Key == "" {
			return argValue{}, fmt.Errorf("argument %q reads a Secret but does not say which: "+
				"set valueFrom.secretKeyRef.name and .key", a.Name)
		}
		return argValue{keep: true}, nil
	default:
		return argValue{}, fmt.Errorf("argument %q takes its value from valueFrom.fieldRef, which only a Rollout "+
			"can resolve: pass a value for it instead", a.Name)
	}
}
