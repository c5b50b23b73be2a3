package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// TestSecretsNeverShown builds a run whose headers and URL carry a Secret's
// value, runs it against endpoints that echo the value back or fail with it
// in the URL, and checks that the value is sent but appears nowhere: not in
// the run (spec or status: values, messages, metadata) nor in the logs.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "s3cr3t-t0ken"
	// echo answers the Authorization header it got as the JSON value; fail
	// answers 502.
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"auth": r.Header.Get("Authorization")})
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tmpl := &rolloutsapi.AnalysisTemplate{Spec: rolloutsapi.AnalysisTemplateSpec{
		Args: []rolloutsapi.Argument{
			{Name: "base"},
			{Name: "token", ValueFrom: &rolloutsapi.ValueFrom{SecretKeyRef: &rolloutsapi.SecretKeyRef{Name: "api", Key: "token"}}},
		},
		Metrics: []rolloutsapi.Metric{{
			Name:             "echo",
			SuccessCondition: `result == "Bearer {{args.token}}"`,
			Provider: rolloutsapi.MetricProvider{Web: &rolloutsapi.WebMetric{
				URL:      "{{args.base}}/echo",
				Headers:  []rolloutsapi.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{ args.token }}"}},
				JSONPath: "{$.auth}",
			}},
		}, {
			Name:                  "fail",
			ConsecutiveErrorLimit: intOrString(0),
			Provider: rolloutsapi.MetricProvider{Web: &rolloutsapi.WebMetric{
				URL: "{{args.base}}/fail?token={{args.token}}",
			}},
		}},
	}}
	tmpl.Name = "with-secret"
	spec, err := BuildRun([]Template{FromAnalysisTemplate(tmpl)}, []rolloutsapi.Argument{{Name: "base", Value: ptr(srv.URL)}})
	if err != nil {
		t.Fatalf("BuildRun: %v", err)
	}
	if got := spec.Metrics[0].Provider.Web.URL; got != srv.URL+"/echo" {
		t.Errorf("url = %q: the plain argument should be substituted", got)
	}
	if got := spec.Metrics[0].Provider.Web.Headers[0].Value; got != "Bearer {{ args.token }}" {
		t.Errorf("header = %q: the secret's placeholder should be kept", got)
	}

	var logs bytes.Buffer
	var asked []string
	r := NewRunner(Options{
		Clock:  newClock().Now,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Secrets: func(_ context.Context, namespace, name, key string) (string, error) {
			asked = append(asked, namespace+"/"+name+"#"+key)
			return secret, nil
		},
	})
	run := newRun()
	run.Spec = *spec
	if _, err := r.Reconcile(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "demo/api#token" {
		t.Errorf("secrets read = %v, want [demo/api#token]", asked)
	}
	echo := result(t, run, "echo")
	if echo.Phase != phaseSuccessful || echo.Measurements[0].Value != `"Bearer *****"` {
		t.Errorf("echo metric = %s, value %s; want Successful (the header carried the secret), value masked",
			echo.Phase, echo.Measurements[0].Value)
	}
	fail := result(t, run, "fail")
	if fail.Phase != phaseError || !strings.Contains(fail.Message, "/fail?token=***** answered 502") {
		t.Errorf("fail metric = %s %q; want Error naming the URL with the token masked", fail.Phase, fail.Message)
	}
	doc, _ := json.Marshal(run)
	for where, text := range map[string]string{"run": string(doc), "logs": logs.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("the secret value appears in the %s:\n%s", where, text)
		}
	}
	if !strings.Contains(logs.String(), "*****") {
		t.Errorf("logs = %s; want the failing measurement logged with the secret masked", logs.String())
	}
}
