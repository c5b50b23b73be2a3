package v1alpha1

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the field validation of the analysis kinds, with Argo
// Rollouts' rules: at least one metric, unique metric names, exactly one
// provider per metric, intervals and delays that parse, counts and limits
// that agree, and named arguments. Values that hold {{args.NAME}}
// placeholders are only known when a measurement is taken (a run keeps its
// placeholders, as in Argo Rollouts, so that secret values are never
// stored) and are not checked. Providers Caravan does not execute are kept
// as written and not looked into, beyond telling which one is chosen.

// placeholder reports whether s holds an {{args.NAME}} (or other {{…}})
// placeholder, substituted when a run is made from a template.
func placeholder(s string) bool {
	return strings.Contains(s, "{{")
}

// ValidateAnalysisTemplate checks an AnalysisTemplate's own fields.
func ValidateAnalysisTemplate(t *AnalysisTemplate) field.ErrorList {
	if t == nil {
		return nil
	}
	return validateTemplateSpec(field.NewPath("spec"), &t.Spec)
}

// ValidateClusterAnalysisTemplate checks a ClusterAnalysisTemplate by the same
// rules as an AnalysisTemplate.
func ValidateClusterAnalysisTemplate(t *ClusterAnalysisTemplate) field.ErrorList {
	if t == nil {
		return nil
	}
	return validateTemplateSpec(field.NewPath("spec"), &t.Spec)
}

// ValidateAnalysisRun checks an AnalysisRun's own fields. A run is made with
// its arguments resolved, so, beyond the template rules, every argument must
// have a value and every dryRun and measurementRetention rule must match one
// of the run's metrics, as Argo Rollouts requires when it starts a run.
func ValidateAnalysisRun(r *AnalysisRun) field.ErrorList {
	if r == nil {
		return nil
	}
	spec := field.NewPath("spec")
	errs := validateMetrics(spec.Child("metrics"), r.Spec.Metrics)
	errs = append(errs, validateArgs(spec.Child("args"), r.Spec.Args, true)...)
	names := make([]string, len(r.Spec.Metrics))
	for i, m := range r.Spec.Metrics {
		names[i] = m.Name
	}
	dryRun := make([]string, len(r.Spec.DryRun))
	for i, d := range r.Spec.DryRun {
		dryRun[i] = d.MetricName
	}
	errs = append(errs, validateMetricRules(spec.Child("dryRun"), dryRun, names)...)
	retention := make([]string, len(r.Spec.MeasurementRetention))
	for i, m := range r.Spec.MeasurementRetention {
		retention[i] = m.MetricName
	}
	errs = append(errs, validateMetricRules(spec.Child("measurementRetention"), retention, names)...)
	return errs
}

func validateTemplateSpec(spec *field.Path, s *AnalysisTemplateSpec) field.ErrorList {
	errs := validateMetrics(spec.Child("metrics"), s.Metrics)
	errs = append(errs, validateArgs(spec.Child("args"), s.Args, false)...)
	dryRun := make([]string, len(s.DryRun))
	for i, d := range s.DryRun {
		dryRun[i] = d.MetricName
	}
	// A template's rules may match metrics of other templates combined into
	// the same run, so only their syntax is checked here.
	errs = append(errs, validateMetricRules(spec.Child("dryRun"), dryRun, nil)...)
	retention := make([]string, len(s.MeasurementRetention))
	for i, m := range s.MeasurementRetention {
		retention[i] = m.MetricName
	}
	errs = append(errs, validateMetricRules(spec.Child("measurementRetention"), retention, nil)...)
	return errs
}

func validateMetrics(p *field.Path, metrics []Metric) field.ErrorList {
	if len(metrics) == 0 {
		return field.ErrorList{field.Required(p,
			"at least one metric is needed: add a metric with a name and a provider such as web or prometheus")}
	}
	var errs field.ErrorList
	firstByName := make(map[string]*field.Path, len(metrics))
	for i := range metrics {
		m := &metrics[i]
		mp := p.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"),
				"a metric needs a name that identifies its results: set name"))
		} else if first, seen := firstByName[m.Name]; seen {
			dup := field.Duplicate(mp.Child("name"), m.Name)
			dup.Detail = fmt.Sprintf("already used at %s: give each metric its own name", first)
			errs = append(errs, dup)
		} else {
			firstByName[m.Name] = mp.Child("name")
		}
		errs = append(errs, validateMetric(mp, m)...)
	}
	return errs
}

// limit is an integer field of a metric, or a placeholder.
type limit struct {
	value int
	set   bool
}

// parseLimit reads an int-or-string field. A placeholder is reported as
// unset; any other string must be a whole number.
func parseLimit(p *field.Path, v *intstr.IntOrString) (limit, *field.Error) {
	if v == nil {
		return limit{}, nil
	}
	if v.Type == intstr.Int {
		return limit{value: int(v.IntVal), set: true}, nil
	}
	if placeholder(v.StrVal) {
		return limit{}, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.StrVal))
	if err != nil {
		return limit{}, field.Invalid(p, v.StrVal,
			"must be a whole number: write a number, or an {{args.NAME}} placeholder")
	}
	return limit{value: n, set: true}, nil
}

// parseDuration checks a duration field; a placeholder is left for the
// measurement.
func parseDuration(p *field.Path, d DurationString) *field.Error {
	if d == "" || placeholder(string(d)) {
		return nil
	}
	v, err := d.Duration()
	if err != nil {
		return field.Invalid(p, string(d), fmt.Sprintf(
			"must be a duration such as \"30s\", \"5m\" or \"1h\": %v", err,
		))
	}
	if v < 0 {
		return field.Invalid(p, string(d), "must not be negative: use a positive duration")
	}
	return nil
}

func validateMetric(mp *field.Path, m *Metric) field.ErrorList {
	var errs field.ErrorList
	if err := parseDuration(mp.Child("interval"), m.Interval); err != nil {
		errs = append(errs, err)
	}
	if err := parseDuration(mp.Child("initialDelay"), m.InitialDelay); err != nil {
		errs = append(errs, err)
	}
	read := func(name string, v *intstr.IntOrString, min int) limit {
		l, err := parseLimit(mp.Child(name), v)
		if err != nil {
			errs = append(errs, err)
			return limit{}
		}
		if l.set && l.value < min {
			errs = append(errs, field.Invalid(mp.Child(name), l.value, fmt.Sprintf(
				"must be at least %d", min,
			)))
			return limit{}
		}
		return l
	}
	count := read("count", m.Count, 0)
	failure := read("failureLimit", m.FailureLimit, -1)
	inconclusive := read("inconclusiveLimit", m.InconclusiveLimit, 0)
	read("consecutiveErrorLimit", m.ConsecutiveErrorLimit, 0)
	read("consecutiveSuccessLimit", m.ConsecutiveSuccessLimit, 0)

	if count.set && count.value > 0 {
		if failure.set && count.value < failure.value {
			errs = append(errs, field.Invalid(mp.Child("count"), count.value, fmt.Sprintf(
				"count must be at least failureLimit (%d), or the metric could never fail: "+
					"raise count or lower failureLimit", failure.value,
			)))
		}
		if inconclusive.set && count.value < inconclusive.value {
			errs = append(errs, field.Invalid(mp.Child("count"), count.value, fmt.Sprintf(
				"count must be at least inconclusiveLimit (%d): raise count or lower inconclusiveLimit",
				inconclusive.value,
			)))
		}
	}
	if count.set && count.value > 1 && m.Interval == "" {
		errs = append(errs, field.Required(mp.Child("interval"), fmt.Sprintf(
			"count is %d, so measurements need an interval between them: set interval, e.g. \"30s\"", count.value,
		)))
	}
	errs = append(errs, validateProvider(mp.Child("provider"), &m.Provider)...)
	return errs
}

// providerNames lists the providers a metric sets.
func providerNames(pr *MetricProvider) []string {
	var names []string
	add := func(set bool, name string) {
		if set {
			names = append(names, name)
		}
	}
	add(pr.Web != nil, "web")
	add(pr.Prometheus != nil, "prometheus")
	add(pr.Job != nil && len(pr.Job.Raw) > 0, "job")
	add(pr.Kayenta != nil && len(pr.Kayenta.Raw) > 0, "kayenta")
	add(pr.Datadog != nil && len(pr.Datadog.Raw) > 0, "datadog")
	add(pr.NewRelic != nil && len(pr.NewRelic.Raw) > 0, "newRelic")
	add(pr.Wavefront != nil && len(pr.Wavefront.Raw) > 0, "wavefront")
	add(pr.CloudWatch != nil && len(pr.CloudWatch.Raw) > 0, "cloudWatch")
	add(pr.Graphite != nil && len(pr.Graphite.Raw) > 0, "graphite")
	add(pr.Influxdb != nil && len(pr.Influxdb.Raw) > 0, "influxdb")
	add(pr.SkyWalking != nil && len(pr.SkyWalking.Raw) > 0, "skywalking")
	if pr.Plugin != nil && len(pr.Plugin.Raw) > 0 {
		// Each key of plugin names one plugin, and each counts as a provider.
		var plugins map[string]json.RawMessage
		if err := json.Unmarshal(pr.Plugin.Raw, &plugins); err == nil {
			for name := range plugins {
				names = append(names, "plugin/"+name)
			}
		} else {
			names = append(names, "plugin")
		}
	}
	return names
}

const providerKeys = "web, prometheus, job, datadog, newRelic, wavefront, kayenta, cloudWatch, graphite, influxdb, skywalking or plugin"

func validateProvider(p *field.Path, pr *MetricProvider) field.ErrorList {
	names := providerNames(pr)
	switch {
	case len(names) == 0:
		return field.ErrorList{field.Required(p, "a metric needs exactly one provider: add one of "+providerKeys)}
	case len(names) > 1:
		return field.ErrorList{field.Forbidden(p, fmt.Sprintf(
			"a metric has exactly one provider but this one sets %s: split it into one metric per provider",
			strings.Join(names, ", "),
		))}
	}
	if pr.Web != nil {
		return validateWeb(p.Child("web"), pr.Web)
	}
	return nil
}

// validateWeb checks the web provider, which Caravan runs.
func validateWeb(p *field.Path, w *WebMetric) field.ErrorList {
	var errs field.ErrorList
	if w.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), "a web metric needs the URL to call: set url"))
	}
	method := w.Method
	if method != "" && !placeholder(string(method)) {
		switch method {
		case WebMetricMethodGet, WebMetricMethodPost, WebMetricMethodPut:
		default:
			errs = append(errs, field.NotSupported(p.Child("method"), method,
				[]string{string(WebMetricMethodGet), string(WebMetricMethodPost), string(WebMetricMethodPut)}))
		}
	}
	hasJSONBody := w.JSONBody != nil && len(w.JSONBody.Raw) > 0
	if w.Body != "" && hasJSONBody {
		errs = append(errs, field.Forbidden(p.Child("jsonBody"),
			"body and jsonBody cannot both be set: keep one"))
	}
	if (w.Body != "" || hasJSONBody) && (method == "" || method == WebMetricMethodGet) {
		// Argo Rollouts refuses to start such a metric.
		errs = append(errs, field.Invalid(p.Child("method"), string(method),
			"a request body is sent only with POST or PUT: set method to POST or PUT, or remove the body"))
	}
	if w.TimeoutSeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("timeoutSeconds"), w.TimeoutSeconds,
			"must not be negative: set a number of seconds, or remove it for the default of 10"))
	}
	for i, h := range w.Headers {
		if h.Key == "" {
			errs = append(errs, field.Required(p.Child("headers").Index(i).Child("key"),
				"a header needs a name: set key"))
		}
	}
	return errs
}

// validateArgs checks arguments: each is named, named once, and (in a run)
// has a value.
func validateArgs(p *field.Path, args []Argument, resolved bool) field.ErrorList {
	var errs field.ErrorList
	for i, a := range args {
		ap := p.Index(i)
		if a.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"),
				"an argument needs the name metrics refer to as {{args.NAME}}: set name"))
		}
		if vf := a.ValueFrom; vf != nil {
			if ref := vf.SecretKeyRef; ref != nil {
				if ref.Name == "" {
					errs = append(errs, field.Required(ap.Child("valueFrom", "secretKeyRef", "name"),
						"set the name of the Secret holding the value"))
				}
				if ref.Key == "" {
					errs = append(errs, field.Required(ap.Child("valueFrom", "secretKeyRef", "key"),
						"set the key of the Secret holding the value"))
				}
			}
			if vf.SecretKeyRef == nil && vf.FieldRef == nil {
				errs = append(errs, field.Required(ap.Child("valueFrom"),
					"valueFrom needs secretKeyRef (or fieldRef): set one, or use value"))
			}
		}
		if resolved && a.Value == nil && a.ValueFrom == nil {
			errs = append(errs, field.Required(ap.Child("value"), fmt.Sprintf(
				"an AnalysisRun's arguments are resolved: give args.%s a value (or valueFrom)", a.Name,
			)))
		}
	}
	return errs
}

// validateMetricRules checks dryRun or measurementRetention rules: each names
// a metric or is a regular expression over metric names, no rule appears
// twice, and, when the metric names are known (a run), each matches one.
func validateMetricRules(p *field.Path, rules []string, metrics []string) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]*field.Path, len(rules))
	for i, rule := range rules {
		rp := p.Index(i).Child("metricName")
		if rule == "" {
			errs = append(errs, field.Required(rp,
				"set metricName to a metric's name or a regular expression over metric names, such as \".*\""))
			continue
		}
		if first, dup := seen[rule]; dup {
			d := field.Duplicate(rp, rule)
			d.Detail = fmt.Sprintf("already used at %s: keep one rule per metric name", first)
			errs = append(errs, d)
			continue
		}
		seen[rule] = rp
		re, err := regexp.Compile(rule)
		if err != nil {
			errs = append(errs, field.Invalid(rp, rule, fmt.Sprintf(
				"must be a metric name or a valid regular expression: %v: fix the pattern", err,
			)))
			continue
		}
		if metrics == nil {
			continue
		}
		matched := false
		for _, name := range metrics {
			if re.MatchString(name) {
				matched = true
				break
			}
		}
		if !matched {
			errs = append(errs, field.Invalid(rp, rule,
				"matches none of the run's metrics: name one of them, or remove the rule"))
		}
	}
	return errs
}
