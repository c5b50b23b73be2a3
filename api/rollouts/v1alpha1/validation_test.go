package v1alpha1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decodeAnalysisManifest decodes a YAML manifest strictly into a new T.
func decodeAnalysisManifest[T any](t *testing.T, manifest string) *T {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("convert manifest to JSON: %v", err)
	}
	obj := new(T)
	strictErrs, err := kjson.UnmarshalStrict(data, obj)
	if err != nil || len(strictErrs) > 0 {
		t.Fatalf("decode manifest: %v %v", err, strictErrs)
	}
	return obj
}

// assertFieldErrors checks that errs holds exactly one error per want entry
// ("<field path>: <text in the message>"), in any order.
func assertFieldErrors(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	used := make([]bool, len(errs))
	for _, w := range want {
		path, text, _ := strings.Cut(w, ": ")
		found := false
		for i, err := range errs {
			if !used[i] && err.Field == path && strings.Contains(err.Error(), text) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing error %q", w)
		}
	}
	for i, err := range errs {
		if !used[i] {
			t.Errorf("unexpected error: %v", err)
		}
	}
}

func TestValidateAnalysisTemplate(t *testing.T) {
	seed, err := os.ReadFile("testdata/seed-analysistemplate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name:     "seed document's AnalysisTemplate",
		manifest: string(seed),
	}, {
		name: "placeholders, every limit, dry run and retention",
		manifest: `
metadata: {name: smoke}
spec:
  args:
  - name: url
  - name: count
    value: "3"
  - name: token
    valueFrom:
      secretKeyRef: {name: creds, key: token}
  metrics:
  - name: healthy
    count: "{{args.count}}"
    interval: "{{args.interval}}"
    initialDelay: 5s
    failureLimit: 1
    inconclusiveLimit: "1"
    consecutiveErrorLimit: 2
    consecutiveSuccessLimit: 2
    successCondition: result == "ok"
    provider:
      web:
        method: POST
        url: "{{args.url}}"
        jsonBody: {probe: true}
        headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
        jsonPath: "{$.status}"
  - name: latency
    count: 5
    interval: 1m
    failureLimit: -1
    provider:
      prometheus:
        address: http://prometheus:9090
        query: histogram_quantile(0.99, rate(x[5m]))
  - name: external
    provider:
      plugin:
        argoproj-labs/sample: {anything: 1}
  dryRun:
  - metricName: latency
  - metricName: ".*"
  measurementRetention:
  - metricName: healthy
    limit: 20`,
	}, {
		name: "no metrics",
		manifest: `
metadata: {name: t}
spec:
  metrics: []`,
		want: []string{"spec.metrics: Required value: at least one metric is needed"},
	}, {
		name: "names, providers and arguments",
		manifest: `
metadata: {name: t}
spec:
  args:
  - value: x
  - name: s
    valueFrom:
      secretKeyRef: {}
  metrics:
  - name: a
    provider:
      web: {url: http://x}
  - name: a
    provider:
      web: {url: http://x}
      prometheus: {query: up}
  - name: ""
    provider: {}
  - name: p
    provider:
      plugin: {one: {}, two: {}}`,
		want: []string{
			"spec.args[0].name: Required value",
			"spec.args[1].valueFrom.secretKeyRef.name: Required value",
			"spec.args[1].valueFrom.secretKeyRef.key: Required value",
			`spec.metrics[1].name: Duplicate value: "a": already used at spec.metrics[0].name`,
			"spec.metrics[1].provider: Forbidden: a metric has exactly one provider but this one sets web, prometheus",
			"spec.metrics[2].name: Required value",
			"spec.metrics[2].provider: Required value: a metric needs exactly one provider: add one of web, prometheus",
			"spec.metrics[3].provider: Forbidden: a metric has exactly one provider but this one sets plugin/",
		},
	}, {
		name: "intervals, counts and limits",
		manifest: `
metadata: {name: t}
spec:
  metrics:
  - name: a
    interval: 5 minutes
    initialDelay: -1s
    count: 2
    failureLimit: 3
    inconclusiveLimit: 4
    provider: {web: {url: http://x}}
  - name: b
    count: 3
    provider: {web: {url: http://x}}
  - name: c
    count: many
    failureLimit: -2
    inconclusiveLimit: -1
    consecutiveErrorLimit: -1
    provider: {web: {url: http://x}}`,
		want: []string{
			`spec.metrics[0].interval: Invalid value: "5 minutes": must be a duration such as "30s"`,
			`spec.metrics[0].initialDelay: Invalid value: "-1s": must not be negative`,
			"spec.metrics[0].count: count must be at least failureLimit (3)",
			"spec.metrics[0].count: count must be at least inconclusiveLimit (4)",
			"spec.metrics[1].interval: Required value: count is 3, so measurements need an interval between them",
			`spec.metrics[2].count: Invalid value: "many": must be a whole number`,
			"spec.metrics[2].failureLimit: Invalid value: -2: must be at least -1",
			"spec.metrics[2].inconclusiveLimit: Invalid value: -1: must be at least 0",
			"spec.metrics[2].consecutiveErrorLimit: Invalid value: -1: must be at least 0",
		},
	}, {
		name: "web provider rules",
		manifest: `
metadata: {name: t}
spec:
  metrics:
  - name: a
    provider:
      web:
        method: DELETE
  - name: b
    provider:
      web:
        url: http://x
        body: "{}"
        jsonBody: {a: 1}
        method: POST
  - name: c
    provider:
      web:
        url: http://x
        body: "{}"
        timeoutSeconds: -1
        headers: [{value: v}]`,
		want: []string{
			"spec.metrics[0].provider.web.url: Required value",
			`spec.metrics[0].provider.web.method: Unsupported value: "DELETE": supported values: "GET", "POST", "PUT"`,
			"spec.metrics[1].provider.web.jsonBody: Forbidden: body and jsonBody cannot both be set",
			"spec.metrics[2].provider.web.method: a request body is sent only with POST or PUT",
			"spec.metrics[2].provider.web.timeoutSeconds: must not be negative",
			"spec.metrics[2].provider.web.headers[0].key: Required value",
		},
	}, {
		name: "dry-run and retention rules",
		manifest: `
metadata: {name: t}
spec:
  metrics:
  - name: a
    provider: {web: {url: http://x}}
  dryRun:
  - metricName: other-template-metric
  - metricName: other-template-metric
  - metricName: "("
  measurementRetention:
  - metricName: ""
    limit: 5`,
		want: []string{
			`spec.dryRun[1].metricName: Duplicate value: "other-template-metric"`,
			`spec.dryRun[2].metricName: Invalid value: "(": must be a metric name or a valid regular expression`,
			"spec.measurementRetention[0].metricName: Required value",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := decodeAnalysisManifest[AnalysisTemplate](t, tt.manifest)
			assertFieldErrors(t, ValidateAnalysisTemplate(at), tt.want...)
			cat := decodeAnalysisManifest[ClusterAnalysisTemplate](t, tt.manifest)
			assertFieldErrors(t, ValidateClusterAnalysisTemplate(cat), tt.want...)
		})
	}
}

func TestValidateAnalysisRun(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid, with placeholders kept in the metrics",
		manifest: `
metadata: {name: r}
spec:
  args:
  - name: url
    value: https://uat.example.com/healthz
  - name: token
    valueFrom:
      secretKeyRef: {name: creds, key: token}
  metrics:
  - name: healthy
    count: 3
    interval: 10s
    provider:
      web:
        url: "{{args.url}}"
        headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
  dryRun:
  - metricName: heal.*
  measurementRetention:
  - metricName: healthy
    limit: 5`,
	}, {
		name: "unresolved argument and rules matching no metric",
		manifest: `
metadata: {name: r}
spec:
  args:
  - name: url
  metrics:
  - name: healthy
    provider: {web: {url: "{{args.url}}"}}
  dryRun:
  - metricName: latency
  measurementRetention:
  - metricName: ^x$
    limit: 1`,
		want: []string{
			"spec.args[0].value: Required value: an AnalysisRun's arguments are resolved: give args.url a value",
			`spec.dryRun[0].metricName: Invalid value: "latency": matches none of the run's metrics`,
			`spec.measurementRetention[0].metricName: Invalid value: "^x$": matches none of the run's metrics`,
		},
	}, {
		name: "no metrics",
		manifest: `
metadata: {name: r}
spec: {}`,
		want: []string{"spec.metrics: Required value"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFieldErrors(t, ValidateAnalysisRun(decodeAnalysisManifest[AnalysisRun](t, tt.manifest)), tt.want...)
		})
	}
}

// TestValidateExamples checks that the AnalysisTemplates shipped with
// Caravan's examples pass validation.
func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "examples", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no example manifests found")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---") {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s[%d]: %v", file, i, err)
			}
			if meta.APIVersion != "argoproj.io/v1alpha1" {
				continue
			}
			var errs field.ErrorList
			switch meta.Kind {
			case "AnalysisTemplate":
				errs = ValidateAnalysisTemplate(decodeAnalysisManifest[AnalysisTemplate](t, doc))
			case "ClusterAnalysisTemplate":
				errs = ValidateClusterAnalysisTemplate(decodeAnalysisManifest[ClusterAnalysisTemplate](t, doc))
			default:
				continue
			}
			for _, err := range errs {
				t.Errorf("%s[%d] (%s): %v", file, i, meta.Kind, err)
			}
		}
	}
}
