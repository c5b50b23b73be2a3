package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/testserver"
)

// verifyLine is what `caravan verify stage` prints.
var verifyLine = regexp.MustCompile(`^stage/(\S+) (reverification|abort) of verification ([0-9a-z]+) requested\n$`)

// verifyPipeline is a Caravan server with a Project "shop" whose Warehouse
// subscribes to a served Git repository, Stages whose steps do no work, and
// web verification endpoints.
type verifyPipeline struct {
	e       *env
	srv     *server
	conn    []string
	token   string
	freight string
}

func newVerifyPipeline(t *testing.T, web string) *verifyPipeline {
	t.Helper()
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := gs.CreateRepo(t, "app")
	repo.Commit(t, testserver.Commit{Message: "The app", Files: map[string]string{"README.md": "app\n"}})
	repo.Push(t)

	p := &verifyPipeline{e: newEnv(t)}
	dataDir := filepath.Join(t.TempDir(), "data")
	p.srv = p.e.startServer(t, "--data-dir", dataDir)
	p.conn = []string{"--server", p.srv.url, "--token-file", filepath.Join(dataDir, "admin-token")}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	p.token = strings.TrimSpace(string(tok))

	stage := func(name, template string) string {
		return fmt.Sprintf(`---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: %s, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps:
      - uses: file-write
        config: {path: stage.txt, contents: "${{ ctx.stage }}"}
  verification:
    analysisTemplates: [{name: %s}]
    args: [{name: stage, value: "${{ ctx.stage }}"}]
`, name, template)
	}
	template := func(name, metric string) string {
		return fmt.Sprintf(`---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: %s, namespace: shop}
spec:
  args: [{name: stage}]
  metrics:
  - name: healthy
    successCondition: result == true
%s    provider:
      web: {url: "%s/health?stage={{args.stage}}", jsonPath: "{$.ok}"}
`, name, metric, web)
	}
	manifests := fmt.Sprintf(`apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: shop}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: shop, namespace: shop}
spec:
  subscriptions:
  - git: {repoURL: %s, branch: main}
`, repo.URL) + template("once", "") + template("hourly", "    interval: 1h\n    count: 10\n") +
		stage("fast", "once") + stage("slow", "hourly")
	p.mustRun(t, manifests, "apply", "-f", "-")
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, kind := range []string{"stages", "analysisruns", "events"} {
			t.Logf("caravan get %s -p shop -o yaml:\n%s", kind, p.run(t, "", "get", kind, "-p", "shop", "-o", "yaml").stdout)
		}
		t.Logf("server logs:\n%s", p.srv.logs)
	})
	r := p.mustRun(t, "", "refresh", "warehouse", "shop", "-p", "shop", "--wait", "--timeout", "45s")
	if m := newFreightLine.FindStringSubmatch(r.stdout); m != nil {
		p.freight = m[1]
	} else {
		list := p.mustRun(t, "", "get", "freight", "-p", "shop", "-o", "json")
		ids := regexp.MustCompile(`"name": "([0-9a-f]{40})"`).FindStringSubmatch(list.stdout)
		if ids == nil {
			t.Fatalf("no Freight discovered: %s\n%s", r, list)
		}
		p.freight = ids[1]
	}
	return p
}

func (p *verifyPipeline) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return p.e.caravan(t, strings.NewReader(stdin), append(args, p.conn...)...)
}

func (p *verifyPipeline) mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := p.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("caravan %s: %s\nserver logs:\n%s", strings.Join(args, " "), r, p.srv.logs)
	}
	return r
}

// verificationJSON is the part of a VerificationInfo the tests read.
type verificationJSON struct {
	ID, Actor, Phase, Message string
	AnalysisRun               *struct{ Name string }
}

// verifications returns the verification history of the Stage's current
// freight collection, newest first, read over the HTTP API.
func (p *verifyPipeline) verifications(t *testing.T, stage string) []verificationJSON {
	t.Helper()
	var s struct {
		Status struct {
			FreightHistory []struct{ VerificationHistory []verificationJSON }
		}
	}
	p.getJSON(t, "/apis/kargo.akuity.io/v1alpha1/namespaces/shop/stages/"+stage, &s)
	if len(s.Status.FreightHistory) == 0 {
		return nil
	}
	return s.Status.FreightHistory[0].VerificationHistory
}

// getJSON reads path from the server's API into out.
func (p *verifyPipeline) getJSON(t *testing.T, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.srv.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

// watchFor watches the objects of resource in project shop over the HTTP
// API and sends the time at which one first satisfies ok.
func (p *verifyPipeline) watchFor(t *testing.T, resource string, ok func(map[string]any) bool) <-chan time.Time {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		p.srv.url+"/apis/kargo.akuity.io/v1alpha1/namespaces/shop/"+resource+"?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("watch %s: %v", resource, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("watch %s: %s", resource, resp.Status)
	}
	at := make(chan time.Time, 1)
	go func() {
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev struct {
				Object map[string]any `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				return
			}
			if ok(ev.Object) {
				at <- time.Now()
				return
			}
		}
	}()
	return at
}

// TestVerificationWeb promotes Freight into a Stage verified by a web
// endpoint and waits for it to be verified there; then aborts the
// hour-long verification of another Stage with `caravan verify stage
// --abort`, and runs it again with `caravan verify stage`.
func TestVerificationWeb(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": r.URL.Query().Get("stage") != ""})
	}))
	defer web.Close()
	p := newVerifyPipeline(t, web.URL)

	// fast: promotion, then verification, then verifiedIn, timed by watches.
	promoSucceeded := p.watchFor(t, "promotions", func(o map[string]any) bool {
		phase, _, _ := unstructured.NestedString(o, "status", "phase")
		return phase == "Succeeded"
	})
	freightVerified := p.watchFor(t, "freights", func(o map[string]any) bool {
		_, found, _ := unstructured.NestedMap(o, "status", "verifiedIn", "fast")
		return found
	})
	promo := p.mustRun(t, "", "promote", "-p", "shop", "--stage", "fast", "--freight", p.freight)
	if promotedLine.FindStringSubmatch(promo.stdout) == nil {
		t.Fatalf("promote: %s", promo)
	}
	var succeeded, verified time.Time
	select {
	case succeeded = <-promoSucceeded:
	case <-time.After(cliDeadline):
		t.Fatal("the promotion into fast did not succeed")
	}
	select {
	case verified = <-freightVerified:
	case <-time.After(cliDeadline):
		t.Fatal("the Freight was not verified in fast")
	}
	t.Logf("promotion Succeeded → Freight verifiedIn fast (1-measurement web metric): %s", verified.Sub(succeeded))
	waitFor(t, "Stage fast to record its verification", func() bool {
		h := p.verifications(t, "fast")
		return len(h) > 0 && h[0].Phase != "Pending" && h[0].Phase != "Running"
	})
	hist := p.verifications(t, "fast")
	if len(hist) != 1 || hist[0].Phase != "Successful" || hist[0].AnalysisRun == nil ||
		!strings.HasPrefix(hist[0].AnalysisRun.Name, "fast.") {
		t.Errorf("fast verifications = %+v; want one Successful with an AnalysisRun", hist)
	}

	// slow: abort the running verification, then verify again.
	p.mustRun(t, "", "promote", "-p", "shop", "--stage", "slow", "--freight", p.freight, "--wait")
	var running string
	waitFor(t, "Stage slow's verification to run", func() bool {
		h := p.verifications(t, "slow")
		if len(h) > 0 && h[0].Phase == "Running" {
			running = h[0].ID
			return true
		}
		return false
	})
	if r := p.run(t, "", "verify", "stage", "slow", "-p", "shop"); r.code != 1 || !strings.Contains(r.stderr, "is still Running") {
		t.Errorf("verify during a running verification: %s; want exit 1 saying it is still Running", r)
	}
	r := p.mustRun(t, "", "verify", "stage", "slow", "-p", "shop", "--abort")
	if vm := verifyLine.FindStringSubmatch(r.stdout); vm == nil || vm[2] != "abort" || vm[3] != running {
		t.Errorf("verify --abort printed %q; want the abort of %s", r.stdout, running)
	}
	waitFor(t, "the verification of slow to be Aborted", func() bool {
		h := p.verifications(t, "slow")
		return len(h) > 0 && h[0].Phase == "Aborted"
	})
	if h := p.verifications(t, "slow"); h[0].ID != running || h[0].Actor != "admin" || h[0].Message != "Verification aborted by admin" {
		t.Errorf("aborted verification = %+v; want %s aborted by admin", h[0], running)
	}
	if r := p.run(t, "", "verify", "stage", "slow", "-p", "shop", "--abort"); r.code != 1 || !strings.Contains(r.stderr, "no running verification") {
		t.Errorf("a second --abort: %s; want exit 1, nothing running", r)
	}

	r = p.mustRun(t, "", "verify", "stage", "slow", "-p", "shop")
	if vm := verifyLine.FindStringSubmatch(r.stdout); vm == nil || vm[2] != "reverification" || vm[3] != running {
		t.Errorf("verify printed %q; want the reverification of %s", r.stdout, running)
	}
	waitFor(t, "a second verification of slow", func() bool {
		h := p.verifications(t, "slow")
		return len(h) == 2 && h[0].ID != running && h[0].Actor == "admin" && h[1].ID == running
	})
	ev := p.mustRun(t, "", "get", "events", "-p", "shop")
	for _, want := range []string{"FreightVerificationSucceeded", "FreightVerificationAborted"} {
		if !strings.Contains(ev.stdout, want) {
			t.Errorf("get events does not show %s:\n%s", want, ev.stdout)
		}
	}
}
