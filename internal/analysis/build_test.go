package analysis

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

func template(name string, args []rolloutsapi.Argument, metrics ...rolloutsapi.Metric) Template {
	t := &rolloutsapi.AnalysisTemplate{Spec: rolloutsapi.AnalysisTemplateSpec{Args: args, Metrics: metrics}}
	t.Name = name
	return FromAnalysisTemplate(t)
}

func clusterTemplate(name string, args []rolloutsapi.Argument, metrics ...rolloutsapi.Metric) Template {
	t := &rolloutsapi.ClusterAnalysisTemplate{Spec: rolloutsapi.AnalysisTemplateSpec{Args: args, Metrics: metrics}}
	t.Name = name
	return FromClusterAnalysisTemplate(t)
}

func arg(name string, value ...string) rolloutsapi.Argument {
	a := rolloutsapi.Argument{Name: name}
	if len(value) > 0 {
		a.Value = &value[0]
	}
	return a
}

func secretArg(name, secret, key string) rolloutsapi.Argument {
	return rolloutsapi.Argument{Name: name, ValueFrom: &rolloutsapi.ValueFrom{
		SecretKeyRef: &rolloutsapi.SecretKeyRef{Name: secret, Key: key}}}
}

func TestBuildRunMergesAndResolves(t *testing.T) {
	web := rolloutsapi.Metric{
		Name:             "latency",
		Interval:         "{{args.interval}}",
		Count:            &intstr.IntOrString{Type: intstr.String, StrVal: "{{args.count}}"},
		SuccessCondition: "result < {{args.max}}",
		Provider: rolloutsapi.MetricProvider{Web: &rolloutsapi.WebMetric{
			Method:   "POST",
			URL:      "https://{{args.host}}/q?service={{ args.service }}",
			Headers:  []rolloutsapi.WebMetricHeader{{Key: "X-Service", Value: "{{args.service}}"}, {Key: "Authorization", Value: "Bearer {{args.token}}"}},
			JSONBody: &rolloutsapi.RawJSON{Raw: []byte(`{"query":"{{args.service}}","note":"{{args.note}}"}`)},
			JSONPath: "{$.p99}",
		}},
	}
	prom := rolloutsapi.Metric{
		Name:             "errors",
		FailureCondition: "result[0] > {{args.max}}",
		Provider: rolloutsapi.MetricProvider{Prometheus: &rolloutsapi.PrometheusMetric{
			Address: "http://prometheus:9090",
			Query:   `sum(rate(errors{service="{{args.service}}"}[5m]))`,
		}},
	}
	tmpl := template("web", []rolloutsapi.Argument{
		arg("host"), arg("service"), arg("interval", "1m"), arg("count", "3"), arg("max", "10"),
		arg("note"), secretArg("token", "api", "token"),
	}, web)
	tmpl.Spec.DryRun = []rolloutsapi.DryRun{{MetricName: "latency"}}
	cluster := clusterTemplate("shared", []rolloutsapi.Argument{arg("service"), arg("max", "10")}, prom)
	cluster.Spec.MeasurementRetention = []rolloutsapi.MeasurementRetention{{MetricName: ".*", Limit: 5}}

	spec, err := BuildRun([]Template{tmpl, cluster}, []rolloutsapi.Argument{
		arg("host", "api.example.com"), arg("service", "checkout"), arg("count", "5"),
		arg("note", "a \"quoted\"\nline"), arg("undeclared", "ignored"),
	})
	if err != nil {
		t.Fatalf("BuildRun: %v", err)
	}
	if len(spec.Metrics) != 2 || spec.Metrics[0].Name != "latency" || spec.Metrics[1].Name != "errors" {
		t.Fatalf("metrics = %+v; want latency, then errors", spec.Metrics)
	}
	w := spec.Metrics[0]
	checks := map[string][2]string{
		"url":              {w.Provider.Web.URL, "https://api.example.com/q?service=checkout"},
		"header":           {w.Provider.Web.Headers[0].Value, "checkout"},
		"secret header":    {w.Provider.Web.Headers[1].Value, "Bearer {{args.token}}"},
		"jsonBody":         {string(w.Provider.Web.JSONBody.Raw), `{"query":"checkout","note":"a \"quoted\"\nline"}`},
		"interval":         {string(w.Interval), "1m"},
		"count":            {w.Count.String(), "5"},
		"successCondition": {w.SuccessCondition, "result < 10"},
		"query":            {spec.Metrics[1].Provider.Prometheus.Query, `sum(rate(errors{service="checkout"}[5m]))`},
		"failureCondition": {spec.Metrics[1].FailureCondition, "result[0] > 10"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	var body map[string]string
	if err := json.Unmarshal(w.Provider.Web.JSONBody.Raw, &body); err != nil || body["note"] != "a \"quoted\"\nline" {
		t.Errorf("jsonBody note = %q (%v): quotes and newlines of a value must survive", body["note"], err)
	}
	args := map[string]rolloutsapi.Argument{}
	for _, a := range spec.Args {
		args[a.Name] = a
	}
	if len(spec.Args) != 7 || *args["count"].Value != "5" || *args["interval"].Value != "1m" || args["token"].ValueFrom == nil {
		t.Errorf("args = %+v; want the 7 declared ones, defaults overridden, the secret as valueFrom", spec.Args)
	}
	if _, ok := args["undeclared"]; ok {
		t.Errorf("an argument no template declares was kept; Argo Rollouts ignores it")
	}
	if len(spec.DryRun) != 1 || len(spec.MeasurementRetention) != 1 {
		t.Errorf("dryRun %v, measurementRetention %v; want both templates' rules", spec.DryRun, spec.MeasurementRetention)
	}
	// The templates are left as they were.
	if tmpl.Spec.Metrics[0].Provider.Web.URL != "https://{{args.host}}/q?service={{ args.service }}" || tmpl.Spec.Args[0].Value != nil {
		t.Errorf("BuildRun modified its template: %+v", tmpl.Spec)
	}
}

func TestBuildRunArgumentMerging(t *testing.T) {
	m := webMetric("m", "http://x/{{args.a}}")
	cases := []struct {
		name      string
		templates []Template
		args      []rolloutsapi.Argument
		wantURL   string
		wantErr   string
	}{{
		name:      "a template default",
		templates: []Template{template("t", []rolloutsapi.Argument{arg("a", "dflt")}, m)},
		wantURL:   "http://x/dflt",
	}, {
		name:      "a given value beats the default",
		templates: []Template{template("t", []rolloutsapi.Argument{arg("a", "dflt")}, m)},
		args:      []rolloutsapi.Argument{arg("a", "given")},
		wantURL:   "http://x/given",
	}, {
		name: "a later template supplies a value an earlier one lacks",
		templates: []Template{
			template("t1", []rolloutsapi.Argument{arg("a")}, m),
			clusterTemplate("t2", []rolloutsapi.Argument{arg("a", "from-t2")}, webMetric("n", "http://y")),
		},
		wantURL: "http://x/from-t2",
	}, {
		name: "the same default in two templates",
		templates: []Template{
			template("t1", []rolloutsapi.Argument{arg("a", "same")}, m),
			template("t2", []rolloutsapi.Argument{arg("a", "same")}, webMetric("n", "http://y")),
		},
		wantURL: "http://x/same",
	}, {
		name:      "a given value replaces a secret",
		templates: []Template{template("t", []rolloutsapi.Argument{secretArg("a", "s", "k")}, m)},
		args:      []rolloutsapi.Argument{arg("a", "plain")},
		wantURL:   "http://x/plain",
	}, {
		name:      "a given secret replaces a default",
		templates: []Template{template("t", []rolloutsapi.Argument{arg("a", "dflt")}, m)},
		args:      []rolloutsapi.Argument{secretArg("a", "s", "k")},
		wantURL:   "http://x/{{args.a}}",
	}, {
		name:      "an argument without a value",
		templates: []Template{template("t", []rolloutsapi.Argument{arg("a")}, m)},
		wantErr:   `argument "a" has no value: pass a value for it (a Stage's verification args), or give it a default value in AnalysisTemplate "t"`,
	}, {
		name: "two different defaults",
		templates: []Template{
			template("t1", []rolloutsapi.Argument{arg("a", "one")}, m),
			clusterTemplate("t2", []rolloutsapi.Argument{arg("a", "two")}, webMetric("n", "http://y")),
		},
		wantErr: `argument "a" has the default value "one" in AnalysisTemplate "t1" but "two" in ClusterAnalysisTemplate "t2"`,
	}, {
		name: "a metric name used twice",
		templates: []Template{
			template("t1", nil, webMetric("m", "http://x")),
			clusterTemplate("t2", nil, webMetric("m", "http://y")),
		},
		wantErr: `metric "m" is defined by both AnalysisTemplate "t1" and ClusterAnalysisTemplate "t2"`,
	}, {
		name:      "a placeholder of an undeclared argument",
		templates: []Template{template("t", nil, m)},
		wantErr:   `AnalysisTemplate "t": metric "m": placeholder {{args.a}} names no argument: declare "a" under the template's args`,
	}, {
		name:      "a placeholder that is not an argument",
		templates: []Template{template("t", nil, webMetric("m", "http://x/{{inputs.a}}"))},
		wantErr:   "placeholder {{inputs.a}} is not an argument: only {{args.NAME}} placeholders are supported",
	}, {
		name:      "an unclosed placeholder",
		templates: []Template{template("t", []rolloutsapi.Argument{arg("a", "v")}, webMetric("m", "http://x/{{args.a"))},
		wantErr:   `has no closing "}}"`,
	}, {
		name: "a fieldRef argument",
		templates: []Template{template("t", []rolloutsapi.Argument{{Name: "a", ValueFrom: &rolloutsapi.ValueFrom{
			FieldRef: &rolloutsapi.FieldRef{FieldPath: "metadata.labels['env']"}}}}, m)},
		wantErr: `argument "a" takes its value from valueFrom.fieldRef, which only a Rollout can resolve`,
	}, {
		name:    "no templates",
		wantErr: "no analysis templates",
	}, {
		name: "an argument that makes the metric invalid",
		templates: []Template{template("t", []rolloutsapi.Argument{arg("n", "2")}, rolloutsapi.Metric{
			Name: "m", Count: &intstr.IntOrString{Type: intstr.String, StrVal: "{{args.n}}"},
			Provider: rolloutsapi.MetricProvider{Web: &rolloutsapi.WebMetric{URL: "http://x"}},
		})},
		wantErr: "the merged analysis is invalid: spec.metrics[0].interval: Required value: count is 2, so measurements need an interval",
	}, {
		name: "the same dryRun rule twice",
		templates: func() []Template {
			t1 := template("t1", nil, webMetric("m", "http://x"))
			t1.Spec.DryRun = []rolloutsapi.DryRun{{MetricName: "m"}}
			t2 := template("t2", nil, webMetric("n", "http://y"))
			t2.Spec.DryRun = []rolloutsapi.DryRun{{MetricName: "m"}}
			return []Template{t1, t2}
		}(),
		wantErr: "spec.dryRun[1].metricName: Duplicate value",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := BuildRun(tc.templates, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("BuildRun error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("BuildRun: %v", err)
			}
			if got := spec.Metrics[0].Provider.Web.URL; got != tc.wantURL {
				t.Errorf("url = %q, want %q", got, tc.wantURL)
			}
		})
	}
}
