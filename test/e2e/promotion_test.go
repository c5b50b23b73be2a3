package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/internal/testserver"
)

// promotedLine is what `caravan promote` prints first.
var promotedLine = regexp.MustCompile(`(?m)^promotion/([a-z0-9.-]+) created$`)

// pipeline is a Git repository with a kustomize app (base/ and one overlay
// per stage under env/), an image in a registry, and a Caravan server with
// a Project "shop" whose Warehouse subscribes to both.
type pipeline struct {
	e       *env
	srv     *server
	dataDir string
	conn    []string
	repo    *testserver.GitRepo
	image   string // the image repository
	token   string
	freight string // the Freight discovered
}

func newPipeline(t *testing.T, stages ...string) *pipeline {
	t.Helper()
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{})
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	p := &pipeline{e: newEnv(t), repo: gs.CreateRepo(t, "gitops"), image: reg.Repo("demo/app")}
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n- deployment.yaml\n",
		"base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: ` + p.image + `:0.0.1
`,
	}
	for _, s := range stages {
		files["env/"+s+"/kustomization.yaml"] = "resources:\n- ../../base\nnamePrefix: " + s + "-\n"
	}
	p.repo.Commit(t, testserver.Commit{Message: "The app", Files: files})
	p.repo.Push(t)
	reg.PushImage(t, "demo/app", "1.2.3", testserver.ImageSpec{})

	p.dataDir = filepath.Join(t.TempDir(), "data")
	p.start(t)
	return p
}

// start (re)starts the server on the pipeline's data directory.
func (p *pipeline) start(t *testing.T) {
	t.Helper()
	p.srv = p.e.startServer(t, "--data-dir", p.dataDir)
	p.conn = []string{"--server", p.srv.url, "--token-file", filepath.Join(p.dataDir, "admin-token")}
	tok, err := os.ReadFile(filepath.Join(p.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	p.token = strings.TrimSpace(string(tok))
}

// caravan runs the CLI against the pipeline's server with stdin.
func (p *pipeline) caravan(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return p.e.caravan(t, strings.NewReader(stdin), append(args, p.conn...)...)
}

// apply applies the Project, the Warehouse and a Stage per name, whose
// promotion steps are steps (YAML, indented for the template), and
// discovers the Freight.
func (p *pipeline) apply(t *testing.T, stages map[string]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: shop}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: shop, namespace: shop}
spec:
  subscriptions:
  - git: {repoURL: %s, branch: main}
  - image: {repoURL: %s}
`, p.repo.URL, p.image)
	for name, steps := range stages {
		fmt.Fprintf(&b, `---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: %s, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {direct: true}
  promotionTemplate:
    spec:
      vars:
      - {name: repo, value: "%s"}
      - {name: image, value: "%s"}
      steps:
%s`, name, p.repo.URL, p.image, steps)
	}
	if r := p.caravan(t, b.String(), "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	r := p.caravan(t, "", "refresh", "warehouse", "shop", "-p", "shop", "--wait", "--timeout", "45s")
	m := newFreightLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		// The Warehouse may have discovered on its own before the refresh.
		list := p.caravan(t, "", "get", "freight", "-p", "shop", "-o", "json")
		ids := regexp.MustCompile(`"name": "([0-9a-f]{40})"`).FindStringSubmatch(list.stdout)
		if ids == nil {
			t.Fatalf("no Freight discovered: %s\n%s", r, list)
		}
		p.freight = ids[1]
		return
	}
	p.freight = m[1]
}

// renderSteps is the rendered-manifests promotion of BENCHMARKS.md, with
// extra steps (YAML) after the clone.
func renderSteps(afterClone string) string {
	return indent8(`- uses: git-clone
  config:
    repoURL: "${{ vars.repo }}"
    checkout:
    - commit: "${{ commitFrom(vars.repo).ID }}"
      path: ./src
    - branch: "stage/${{ ctx.stage }}"
      create: true
      path: ./out
` + afterClone + `- uses: git-clear
  config: {path: ./out}
- uses: kustomize-set-image
  as: update-image
  config:
    path: "./src/env/${{ ctx.stage }}"
    images:
    - image: "${{ vars.image }}"
      tag: "${{ imageFrom(vars.image).Tag }}"
- uses: kustomize-build
  config:
    path: "./src/env/${{ ctx.stage }}"
    outPath: ./out/manifests.yaml
- uses: git-commit
  as: commit
  config:
    path: ./out
    message: "${{ outputs['update-image'].commitMessage }}"
- uses: git-push
  config: {path: ./out}
`)
}

func indent8(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "      " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// git runs git on the served repository.
func (p *pipeline) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", p.repo.Dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// promotionJSON is the part of a Promotion the tests read.
type promotionJSON struct {
	Status struct {
		Phase                 string
		Message               string
		CurrentStep           int
		StepExecutionMetadata []struct {
			Alias, Status, Message string
			Attempts               int
		}
	}
}

func (p *pipeline) promotion(t *testing.T, name string) promotionJSON {
	t.Helper()
	r := p.caravan(t, "", "get", "promotion", name, "-p", "shop", "-o", "json")
	if r.code != 0 {
		t.Fatalf("get promotion: %s", r)
	}
	var out promotionJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("decode promotion: %v\n%s", err, r.stdout)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(cliDeadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPromotionRenderedManifests runs the rendered-manifests promotion end
// to end: `caravan promote --wait` returns when it Succeeded, the pushed
// branch stage/test holds the manifests rendered with the discovered image
// tag, and `caravan get` shows the Promotion and its steps.
func TestPromotionRenderedManifests(t *testing.T) {
	p := newPipeline(t, "test")
	p.apply(t, map[string]string{"test": renderSteps("")})

	start := time.Now()
	r := p.caravan(t, "", "promote", "-p", "shop", "--stage", "test", "--freight", p.freight, "--wait")
	t.Logf("caravan promote --wait (process start included): %s", time.Since(start))
	m := promotedLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || !strings.Contains(r.stdout, "promotion/"+m[1]+" Succeeded") {
		t.Fatalf("promote --wait: want created and Succeeded: %s\nserver logs:\n%s", r, p.srv.logs)
	}
	name := m[1]
	if !strings.HasPrefix(name, "test.") || !strings.HasSuffix(name, "."+p.freight[:7]) {
		t.Errorf("promotion name %q is not test.<ULID>.%s", name, p.freight[:7])
	}
	manifests := p.git(t, "show", "stage/test:manifests.yaml")
	for _, want := range []string{"name: test-app", "image: " + p.image + ":1.2.3"} {
		if !strings.Contains(manifests, want) {
			t.Errorf("stage/test:manifests.yaml does not hold %q:\n%s", want, manifests)
		}
	}
	if files := p.git(t, "ls-tree", "--name-only", "stage/test"); files != "manifests.yaml" {
		t.Errorf("stage/test holds %q, want only manifests.yaml", files)
	}

	r = p.caravan(t, "", "get", "promotions", "-p", "shop")
	if r.code != 0 || !regexp.MustCompile(`NAME\s+SHARD\s+STAGE\s+FREIGHT\s+PHASE\s+AGE`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "Succeeded") {
		t.Errorf("get promotions: %s", r)
	}
	r = p.caravan(t, "", "get", "promotion", name, "-p", "shop")
	t.Logf("caravan get promotion %s:\n%s", name, r.stdout)
	for _, want := range []string{"STEP", "ALIAS", "USES", "STATUS", "git-clone", "update-image", "kustomize-set-image", "git-push", "Succeeded"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("get promotion %s does not show %q: %s", name, want, r)
		}
	}
	r = p.caravan(t, "", "get", "stage", "test", "-p", "shop")
	if r.code != 0 || !strings.Contains(r.stdout, p.freight) {
		t.Errorf("get stage test does not show the current Freight %s: %s", p.freight, r)
	}
	r = p.caravan(t, "", "get", "events", "-p", "shop")
	if r.code != 0 || !strings.Contains(r.stdout, "PromotionSucceeded") {
		t.Errorf("get events does not show PromotionSucceeded: %s", r)
	}

	// Promoting the same Freight again changes nothing on the branch.
	head := p.git(t, "rev-parse", "stage/test")
	if r := p.caravan(t, "", "promote", "-p", "shop", "--stage", "test", "--freight", p.freight, "--wait"); r.code != 0 {
		t.Fatalf("second promote --wait: %s", r)
	}
	if again := p.git(t, "rev-parse", "stage/test"); again != head {
		t.Errorf("a second promotion of the same Freight moved stage/test from %s to %s", head, again)
	}
}

// TestPromotionBadInput: an unknown step, a bad expression and a config
// that fails its schema end the Promotion Errored; `promote --wait` exits 1
// naming the step and the problem.
func TestPromotionBadInput(t *testing.T) {
	cases := map[string]struct {
		steps string
		want  []string
	}{
		"unknown": {"- uses: git-clonee\n  as: fetch\n", []string{`"fetch"`, `unknown step "git-clonee"`, `"git-clone"`}},
		"badexpr": {"- uses: git-clear\n  as: tidy\n  config: {path: \"${{ vars.repo + }}\"}\n", []string{`"tidy"`}},
		"schema":  {"- uses: git-clear\n  as: wipe\n  config: {paht: ./out}\n", []string{`"wipe"`, "paht"}},
	}
	p := newPipeline(t)
	stages := map[string]string{}
	for name, c := range cases {
		stages[name] = indent8(c.steps)
	}
	p.apply(t, stages)
	for name, c := range cases {
		r := p.caravan(t, "", "promote", "-p", "shop", "--stage", name, "--freight", p.freight, "--wait")
		if r.code != 1 || !promotedLine.MatchString(r.stdout) || !strings.Contains(r.stderr, " Errored") {
			t.Errorf("%s: want the promotion created, then exit 1 with Errored: %s", name, r)
			continue
		}
		t.Logf("%s: %s", name, strings.TrimSpace(r.stderr))
		for _, want := range c.want {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr does not say %s: %s", name, want, r)
			}
		}
	}
}

// TestPromotionResumeAfterKill: the server is killed (SIGKILL) while a
// promotion waits in its third step; after a restart the promotion goes
// on from that step, in the same workspace: the first two steps do not run
// again (the endpoint of step 2 is called once) and the branch gets one
// promotion commit.
func TestPromotionResumeAfterKill(t *testing.T) {
	var firstHits, gateHits atomic.Int64
	var ready atomic.Bool
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/first":
			firstHits.Add(1)
			fmt.Fprint(w, `{"ok": true}`)
		case "/gate":
			gateHits.Add(1)
			fmt.Fprintf(w, `{"ready": %t}`, ready.Load())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ep.Close)

	p := newPipeline(t, "gated")
	p.apply(t, map[string]string{"gated": renderSteps(`- uses: http
  as: first
  config: {url: "` + ep.URL + `/first"}
- uses: http
  as: gate
  config:
    url: "` + ep.URL + `/gate"
    successExpression: response.body.ready == true
`)})
	r := p.caravan(t, "", "promote", "-p", "shop", "--stage", "gated", "--freight", p.freight)
	m := promotedLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("promote: %s", r)
	}
	name := m[1]
	waitFor(t, "the gate step to ask", func() bool { return gateHits.Load() > 0 })

	p.srv.kill() // SIGKILL, mid-promotion
	p.start(t)
	if st := p.promotion(t, name).Status; st.Phase != "Running" || st.CurrentStep < 2 {
		// It may have moved on already if the restarted server's first pass
		// was quick; it cannot have ended, the gate is closed.
		t.Fatalf("after the restart: phase %s, currentStep %d", st.Phase, st.CurrentStep)
	}
	ready.Store(true)
	// Refresh the Promotion so that the waiting step asks again now.
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"kargo.akuity.io/refresh":"%d"}}}`, time.Now().UnixNano())
	req, err := http.NewRequest(http.MethodPatch, p.srv.url+"/apis/kargo.akuity.io/v1alpha1/namespaces/shop/promotions/"+name,
		bytes.NewReader([]byte(patch)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh the promotion: %s", resp.Status)
	}

	var st promotionJSON
	waitFor(t, "the resumed promotion to end", func() bool {
		st = p.promotion(t, name)
		return st.Status.Phase != "Running" && st.Status.Phase != "Pending"
	})
	if st.Status.Phase != "Succeeded" {
		t.Fatalf("resumed promotion: %s (%s)\nserver logs:\n%s", st.Status.Phase, st.Status.Message, p.srv.logs)
	}
	if n := firstHits.Load(); n != 1 {
		t.Errorf("step 2 called its endpoint %d times, want 1: it ran again after the restart", n)
	}
	if md := st.Status.StepExecutionMetadata; len(md) < 3 || md[0].Attempts != 1 || md[1].Attempts != 1 || md[2].Attempts < 2 {
		t.Errorf("step attempts after the restart: %+v", md)
	}
	if n := p.git(t, "rev-list", "--count", "stage/gated"); n != "2" {
		t.Errorf("stage/gated has %s commits, want the initial one and one promotion commit:\n%s", n,
			p.git(t, "log", "--oneline", "stage/gated"))
	}
	if manifests := p.git(t, "show", "stage/gated:manifests.yaml"); !strings.Contains(manifests, p.image+":1.2.3") {
		t.Errorf("stage/gated:manifests.yaml lacks the new image:\n%s", manifests)
	}
}
