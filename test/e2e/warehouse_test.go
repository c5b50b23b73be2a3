package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/internal/testserver"
)

// newFreightLine is what `refresh --wait` prints when discovery made Freight.
var newFreightLine = regexp.MustCompile(`^freight/([0-9a-f]{40}) \(alias ([a-z]+-[a-z]+)\) created\n$`)

// TestWarehouseRefresh runs the server's Warehouse controller against a
// local Git server and registry: `caravan refresh warehouse --wait` prints
// the Freight a new commit makes, "no new Freight" when nothing changed, and
// exits 1 with the Warehouse's message when the repository is unreachable.
func TestWarehouseRefresh(t *testing.T) {
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := gs.CreateRepo(t, "gitops")
	repo.Commit(t, testserver.Commit{Message: "Initial manifests", Files: map[string]string{"base/app.yaml": "replicas: 1"}})
	repo.Push(t)
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{})

	e := newEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := e.startServer(t, "--data-dir", dataDir, "--warehouse-workers", "2", "--registry-rate-limit", "50")
	conn := []string{"--server", srv.url, "--token-file", filepath.Join(dataDir, "admin-token")}
	manifests := `apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: shop}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: shop, namespace: shop}
spec:
  subscriptions:
  - git: {repoURL: ` + repo.URL + `, branch: main}
  - image: {repoURL: ` + reg.Repo("demo/app") + `}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: broken, namespace: shop}
spec:
  subscriptions:
  - git: {repoURL: http://127.0.0.1:1/gone.git}
`
	r := e.caravan(t, strings.NewReader(manifests), append([]string{"apply", "-f", "-"}, conn...)...)
	if r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	refresh := func(name string) result {
		return e.caravan(t, nil, append([]string{"refresh", "warehouse", name, "-p", "shop", "--wait", "--timeout", "45s"}, conn...)...)
	}

	// The Warehouse discovers on its own once created; a refresh waits for
	// a discovery that has surely seen the current commit.
	if r := refresh("shop"); r.code != 0 {
		t.Fatalf("first refresh: %s", r)
	}
	r = refresh("shop")
	if r.code != 0 || r.stdout != "no new Freight\n" {
		t.Errorf("refresh with nothing new: want exit 0 and 'no new Freight': %s", r)
	}

	second := repo.Commit(t, testserver.Commit{Message: "Scale up", Files: map[string]string{"base/app.yaml": "replicas: 3"}})
	repo.Push(t)
	start := time.Now()
	r = refresh("shop")
	elapsed := time.Since(start)
	m := newFreightLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("refresh after a new commit: want 'freight/<id> (alias <alias>) created': %s", r)
	}
	t.Logf("caravan refresh warehouse --wait after a new commit (process start included): %s", elapsed)
	r = e.mustCaravan(t, append([]string{"get", "freight", m[1], "-p", "shop", "-o", "json"}, conn...)...)
	for _, want := range []string{second, `"alias": "` + m[2] + `"`, `"name": "shop"`, "caravan.akuity.io/discovered-at", `"tag": "1.0.0"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("Freight %s does not show %s:\n%s", m[1], want, r.stdout)
		}
	}

	// An unreachable repository: exit 1 with the Warehouse's message.
	r = refresh("broken")
	if r.code != 1 {
		t.Fatalf("refresh of an unreachable repository: want exit 1: %s", r)
	}
	if !strings.Contains(r.stderr, "warehouse broken") || !strings.Contains(r.stderr, "127.0.0.1:1/gone.git") {
		t.Errorf("refresh of an unreachable repository: stderr does not name the Warehouse and repository: %s", r)
	}
	if r.stdout != "" {
		t.Errorf("refresh of an unreachable repository printed on stdout: %s", r)
	}

	// Without --wait the request is only recorded.
	r = e.mustCaravan(t, append([]string{"refresh", "warehouse", "shop", "-p", "shop"}, conn...)...)
	if r.stdout != "warehouse/shop refresh requested\n" {
		t.Errorf("refresh without --wait: %s", r)
	}
	// A Warehouse that does not exist is the server's 404.
	r = e.caravan(t, nil, append([]string{"refresh", "warehouse", "nope", "-p", "shop", "--wait"}, conn...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("refresh of a missing Warehouse: want exit 1 and 'not found': %s", r)
	}
}
