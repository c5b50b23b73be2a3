package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/apply"
	"github.com/caravan-dev/caravan/internal/server"
)

// newAdmittedEnv serves a SQLite store wrapped in admission, as main does.
func newAdmittedEnv(t *testing.T) *env {
	return newEnv(t, func(o *server.Options) {
		o.Store = admission.New(o.Store, admission.Options{})
	})
}

// quickstart returns the example project's manifests as one stream.
func quickstart(t *testing.T) string {
	files, err := filepath.Glob("../../examples/quickstart/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no quickstart manifests: %v", err)
	}
	var docs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "\n---\n")
}

func TestApplyQuickstartWithAdmission(t *testing.T) {
	e := newAdmittedEnv(t)
	body := quickstart(t)
	first := e.apply(body)
	if len(first) < 5 {
		t.Fatalf("results %s", actions(first))
	}
	for _, r := range first {
		if r.Action != apply.Created {
			t.Errorf("first apply: %s/%s %s %+v", r.Kind, r.Name, r.Action, r.Status)
		}
	}
	// Admission defaulted what the manifests leave out; re-applying them
	// changes nothing.
	for _, r := range e.apply(body) {
		if r.Action != apply.Unchanged {
			t.Errorf("second apply: %s/%s %s %+v", r.Kind, r.Name, r.Action, r.Status)
		}
	}

	// Freight named otherwise is created under its computed ID; admission
	// gives it an alias, which a re-apply without alias keeps.
	freight := `apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata:
  name: my-freight
  namespace: kargo-demo
origin: {kind: Warehouse, name: kargo-demo}
images:
- repoURL: public.ecr.aws/nginx/nginx
  tag: 1.27.1
  digest: sha256:` + strings.Repeat("1", 64) + `
commits:
- repoURL: https://github.com/example/kargo-demo-gitops.git
  id: "` + strings.Repeat("2", 40) + "\"\n"
	rs := e.apply(freight)
	if len(rs) != 1 || rs[0].Action != apply.Created || len(rs[0].Name) != 40 {
		t.Fatalf("freight: %+v", rs)
	}
	id := rs[0].Name
	stored := e.get(kargo + "/namespaces/kargo-demo/freights/" + id)
	alias, _, _ := unstructured.NestedString(stored.Object, "alias")
	if alias == "" {
		t.Fatalf("admission gave no alias: %v", stored.Object)
	}
	if got := actions(e.apply(strings.Replace(freight, "my-freight", id, 1))); got != "Freight/"+id+" unchanged" {
		t.Errorf("re-apply by ID: %s", got)
	}
	if a, _, _ := unstructured.NestedString(e.get(kargo+"/namespaces/kargo-demo/freights/"+id).Object, "alias"); a != alias {
		t.Errorf("alias %q, want %q kept", a, alias)
	}
	if rs := e.apply(freight); rs[0].Status == nil || rs[0].Status.Code != http.StatusConflict || !strings.Contains(rs[0].Status.Message, id) {
		t.Errorf("freight named otherwise again: %+v", rs[0])
	}

	// Each Promotion document makes a new Promotion, named by the server.
	promo := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {name: promote-test, namespace: kargo-demo}\nspec: {stage: test, freight: " + id + "}\n"
	a, b := e.apply(promo), e.apply(promo)
	for _, r := range [][]apply.Result{a, b} {
		if len(r) != 1 || r[0].Action != apply.Created || !strings.HasPrefix(r[0].Name, "test.") || !strings.HasSuffix(r[0].Name, id[:7]) {
			t.Fatalf("promotion: %+v", r)
		}
	}
	if a[0].Name == b[0].Name {
		t.Errorf("both Promotions are named %s", a[0].Name)
	}
	p := e.get(kargo + "/namespaces/kargo-demo/promotions/" + a[0].Name)
	if p.GetAnnotations()["kargo.akuity.io/create-actor"] == "" {
		t.Errorf("no create-actor recorded: %v", p.GetAnnotations())
	}
}
