package v1alpha1

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func decodeStrict(t *testing.T, js []byte, obj any) {
	t.Helper()
	strictErrs, err := kjson.UnmarshalStrict(js, obj)
	if err != nil || len(strictErrs) > 0 {
		t.Fatalf("strict decode: %v %v", err, strictErrs)
	}
}

func TestDecodeSeedAnalysisTemplate(t *testing.T) {
	data, err := os.ReadFile("testdata/seed-analysistemplate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatal(err)
	}
	var at AnalysisTemplate
	decodeStrict(t, js, &at)
	if len(at.Spec.Metrics) != 2 {
		t.Fatalf("metrics = %d", len(at.Spec.Metrics))
	}
	web := at.Spec.Metrics[0].Provider.Web
	if web == nil || web.URL != "https://my-service.kargo-demo.com/test" || web.TimeoutSeconds != 20 ||
		web.JSONPath != "{$.message}" || at.Spec.Metrics[0].SuccessCondition != `result == "Hello Audience!"` {
		t.Errorf("web metric = %+v", at.Spec.Metrics[0])
	}
	job := at.Spec.Metrics[1].Provider.Job
	if job == nil || !bytes.Contains(job.Raw, []byte(`"backoffLimit":1`)) {
		t.Fatalf("job provider = %v", job)
	}
	out, err := json.Marshal(&at)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, job.Raw) {
		t.Error("re-encoding changed the job provider")
	}
}

func TestMetricAbsentVersusZero(t *testing.T) {
	doc := `{"spec":{"metrics":[
	  {"name":"a","provider":{"prometheus":{"address":"http://p:9090","query":"up","timeout":0}}},
	  {"name":"b","failureLimit":0,"count":"{{args.n}}","consecutiveErrorLimit":2,
	   "provider":{"web":{"url":"http://x","method":"POST","jsonBody":{"k":[1]},"headers":[{"key":"A","value":"b"}]}}},
	  {"name":"c","provider":{"plugin":{"argoproj-labs/metric":{"any":"thing"}}}}]}}`
	var at AnalysisTemplate
	decodeStrict(t, []byte(doc), &at)
	a, b := at.Spec.Metrics[0], at.Spec.Metrics[1]
	if a.FailureLimit != nil || a.Count != nil || a.ConsecutiveErrorLimit != nil {
		t.Errorf("absent limits must stay nil: %+v", a)
	}
	if a.Provider.Prometheus.Timeout == nil || *a.Provider.Prometheus.Timeout != 0 {
		t.Errorf("timeout 0 must be kept as set: %v", a.Provider.Prometheus.Timeout)
	}
	if b.FailureLimit == nil || b.FailureLimit.IntValue() != 0 || b.FailureLimit.Type != intstr.Int {
		t.Errorf("failureLimit 0 must be kept as set: %v", b.FailureLimit)
	}
	if b.Count == nil || b.Count.StrVal != "{{args.n}}" {
		t.Errorf("count placeholder = %v", b.Count)
	}
	if string(b.Provider.Web.JSONBody.Raw) != `{"k":[1]}` || b.Provider.Web.Method != WebMetricMethodPost {
		t.Errorf("web = %+v", b.Provider.Web)
	}
	if plugin := at.Spec.Metrics[2].Provider.Plugin; plugin == nil || !strings.Contains(string(plugin.Raw), "argoproj-labs/metric") {
		t.Errorf("plugin provider = %v", plugin)
	}
	out, err := json.Marshal(at.Spec.Metrics[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "failureLimit") {
		t.Errorf("absent failureLimit re-encoded: %s", out)
	}
}

func TestAnalysisRunStatusDecodes(t *testing.T) {
	doc := `{"spec":{"metrics":[{"name":"m","provider":{"web":{"url":"u"}}}],"args":[
	   {"name":"svc","value":"x"},{"name":"token","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},
	   {"name":"ns","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}}],
	   "terminate":true,"dryRun":[{"metricName":"m"}],"measurementRetention":[{"metricName":"m","limit":5}]},
	 "status":{"phase":"Successful","message":"ok","startedAt":"2026-08-01T10:00:00Z",
	   "runSummary":{"count":1,"successful":1},"dryRunSummary":{"count":1},
	   "metricResults":[{"name":"m","phase":"Successful","count":1,"successful":1,"dryRun":true,
	     "measurements":[{"phase":"Successful","value":"1","startedAt":"2026-08-01T10:00:00Z","finishedAt":"2026-08-01T10:00:01Z"}]}]}}`
	var ar AnalysisRun
	decodeStrict(t, []byte(doc), &ar)
	if ar.Spec.Args[1].ValueFrom.SecretKeyRef.Key != "k" || ar.Spec.Args[1].Value != nil || *ar.Spec.Args[0].Value != "x" {
		t.Errorf("args = %+v", ar.Spec.Args)
	}
	if !ar.Status.Phase.Completed() || ar.Status.RunSummary.Successful != 1 || ar.Status.DryRunSummary == nil ||
		len(ar.Status.MetricResults[0].Measurements) != 1 {
		t.Errorf("status = %+v", ar.Status)
	}
	cp := ar.DeepCopy()
	*cp.Spec.Args[0].Value = "changed"
	if *ar.Spec.Args[0].Value != "x" {
		t.Error("DeepCopy shares argument values")
	}
}
