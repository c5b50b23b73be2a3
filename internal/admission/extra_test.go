package admission_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

func TestAdmissionMore(t *testing.T) {
	for _, tc := range moreCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, raw := newStore(t)
			if tc.setup != nil {
				tc.setup(t, s, raw)
			}
			before := snapshot(t, raw)
			got, err := apply(t, s, tc.write)
			if tc.want.code == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if tc.check != nil {
					tc.check(t, s, got)
				}
				return
			}
			checkStatus(t, err, tc.want)
			if after := snapshot(t, raw); after != before {
				t.Errorf("a rejected write changed the store: resourceVersion %s → %s", before, after)
			}
		})
	}
}

// storedPromotion returns the update document of the Promotion withPromotion
// stored as my-promo, edited by edit.
func storedPromotion(t *testing.T, raw *sqlite.Store, edit func(u *unstructured.Unstructured)) string {
	t.Helper()
	u, err := raw.Get(context.Background(), "Promotion", "shop", "my-promo")
	if err != nil {
		t.Fatal(err)
	}
	edit(u)
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func moreCases() []admissionCase {
	return []admissionCase{
		{
			name: "a promotion's annotations may change; create-actor stays and abort records who asked",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				withPromotion(t, s, raw)
				docs["@promo"] = storedPromotion(t, raw, func(u *unstructured.Unstructured) {
					u.SetResourceVersion("")
					u.SetAnnotations(map[string]string{
						"kargo.akuity.io/create-actor": "email:mallory@example.com",
						"kargo.akuity.io/abort":        "terminate",
					})
				})
			},
			write: write{op: "update", doc: "@promo"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "create-actor", got.GetAnnotations()["kargo.akuity.io/create-actor"], "admin")
				eq(t, "abort", got.GetAnnotations()["kargo.akuity.io/abort"], `{"action":"terminate","actor":"admin"}`)
			},
		},
		{
			name:  "a stage's reverify annotation records who asked",
			setup: base,
			write: write{op: "update", doc: strings.Replace(stageDoc, "namespace: shop", "namespace: shop\n  annotations: {kargo.akuity.io/reverify: abc}", 1)},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "reverify", got.GetAnnotations()["kargo.akuity.io/reverify"], `{"id":"abc","actor":"admin"}`)
			},
		},
		{
			name: "promoting into a stage whose steps run tasks inflates them",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				withFreight(t, s, raw)
				mustCreate(t, s, taskDoc, clusterTaskDoc, taskedStageDoc("        vars: [{name: repo, value: https://git.example.com/app.git}]\n"))
			},
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {namespace: shop}\nspec: {stage: tasked, freight: " + freightID + "}\n"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				steps := nested(t, got, "spec", "steps").([]any)
				if len(steps) != 3 {
					t.Fatalf("want the 2 steps of deploy and the 1 of notify, got %v", steps)
				}
				first := steps[0].(map[string]any)
				eq(t, "first alias", first["as"], "task-0::clone")
				eq(t, "first uses", first["uses"], "git-clone")
				vars := first["vars"].([]any)
				eq(t, "first var", vars[0].(map[string]any)["value"], "https://git.example.com/app.git")
				eq(t, "second alias", steps[1].(map[string]any)["as"], "task-0::step-1")
				eq(t, "cluster task alias", steps[2].(map[string]any)["as"], "notify::step-0")
			},
		},
		{
			name: "a task variable without a default that nothing sets is refused",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				withFreight(t, s, raw)
				mustCreate(t, s, taskDoc, clusterTaskDoc, taskedStageDoc(""))
			},
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {namespace: shop}\nspec: {stage: tasked, freight: " + freightID + "}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`PromotionTask "deploy"`, `variable "repo" has no default`}, causes: []string{"spec.stage"}},
		},
		{
			name:  "a status on a kind without one is an unknown field",
			setup: base,
			write: write{op: "create", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\nstatus: {x: 1}\n"},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{`unknown field "status"`}},
		},
		{
			name:  "target params are free-form",
			setup: base,
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Target\nmetadata: {name: eu, namespace: shop}\nspec:\n  params: {region: {name: eu-west-1, zones: [a, b]}}\n"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				zones := nested(t, got, "spec", "params", "region", "zones").([]any)
				if len(zones) != 2 || zones[1] != "b" {
					t.Errorf("params changed: %v", got.Object["spec"])
				}
			},
		},
		{
			name:  "analysis providers Caravan does not run are kept as written",
			setup: base,
			write: write{op: "create", doc: `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: shop}
spec:
  metrics:
  - name: p99
    provider:
      plugin:
        argoproj-labs/metric-sample: {anything: [1]}
`},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				metrics := nested(t, got, "spec", "metrics").([]any)
				plugin := metrics[0].(map[string]any)["provider"].(map[string]any)["plugin"].(map[string]any)
				if _, ok := plugin["argoproj-labs/metric-sample"]; !ok {
					t.Errorf("plugin changed: %v", plugin)
				}
			},
		},
		{
			name:  "a misspelled analysis field is 400",
			setup: base,
			write: write{op: "create", doc: `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: shop}
spec:
  metrics:
  - name: p99
    sucessCondition: result > 1
    provider:
      web: {url: "http://example.com"}
`},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{`unknown field "spec.metrics[0].sucessCondition"`, `did you mean "successCondition"?`}},
		},
		{
			name:  "a user's actor is recorded in Kargo's form",
			setup: withFreight,
			write: write{op: "create", ctx: identity.WithActor(context.Background(), identity.Actor{Name: "email:alice@example.com"}),
				doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {namespace: shop}\nspec: {stage: dev, freight: " + freightID + "}\n"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "create-actor", got.GetAnnotations()["kargo.akuity.io/create-actor"], "email:alice@example.com")
			},
		},
		{
			name: "git artifacts match subscriptions after URL normalization",
			setup: func(t *testing.T, s store.Store, _ *sqlite.Store) {
				mustCreate(t, s, projectDoc, `
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: cfg, namespace: shop}
spec:
  subscriptions:
  - git: {repoURL: "git@github.com:team/config.git"}
  - chart: {repoURL: "https://charts.example.com", name: nginx}
`)
			},
			write: write{op: "create", doc: `
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {namespace: shop}
origin: {kind: Warehouse, name: cfg}
commits:
- repoURL: ssh://git@github.com/team/config
  id: "2222222222222222222222222222222222222222"
charts:
- repoURL: https://Charts.Example.com/
  name: nginx
  version: 1.2.3
`},
		},
		{
			name: "every subscription of the warehouse needs an artifact",
			setup: func(t *testing.T, s store.Store, _ *sqlite.Store) {
				mustCreate(t, s, projectDoc, strings.Replace(warehouseDoc, "      repoURL: registry.example.com/team/shop\n",
					"      repoURL: registry.example.com/team/shop\n  - git: {repoURL: \"https://github.com/team/config.git\"}\n", 1))
			},
			write: write{op: "create", doc: freightDoc},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`subscribes to "https://github.com/team/config" but the Freight has no artifact from it`}, causes: []string{"commits"}},
		},
		{
			name:  "a misspelled metadata field is 400",
			setup: base,
			write: write{op: "create", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop, lables: {a: b}}\n"},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{`unknown field "metadata.lables"`, `did you mean "labels"?`}},
		},
		{
			name:  "a promotion task is stored",
			setup: base,
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: PromotionTask\nmetadata: {name: deploy, namespace: shop}\nspec:\n  steps:\n  - uses: git-clone\n"},
		},
	}
}

func TestUpdateStatusPassesThrough(t *testing.T) {
	s, raw := newStore(t)
	withFreight(t, s, raw)
	f, err := s.Get(context.Background(), "Freight", "shop", freightID)
	if err != nil {
		t.Fatal(err)
	}
	f.Object["status"] = map[string]any{"approvedFor": map[string]any{"prod": map[string]any{}}, "whatever": "kept"}
	got, err := s.UpdateStatus(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "status.whatever", nested(t, got, "status", "whatever"), "kept")
}

func TestAliasesAreUniqueAndConcurrentDuplicatesRefused(t *testing.T) {
	s, raw := newStore(t)
	base(t, s, raw)
	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		doc := strings.Replace(strings.Replace(freightDoc, "tag: 1.2.0", fmt.Sprintf("tag: 1.2.%d", i+1), 1), "alias: chosen-one\n", "", 1)
		got, err := s.Create(asAdmin(), obj(t, doc))
		if err != nil {
			t.Fatal(err)
		}
		alias := got.Object["alias"].(string)
		if seen[alias] {
			t.Fatalf("alias %q given twice", alias)
		}
		seen[alias] = true
	}

	// Concurrent creates with one given alias: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc := strings.Replace(freightDoc, "tag: 1.2.0", fmt.Sprintf("tag: 2.0.%d", i), 1)
			_, errs[i] = s.Create(asAdmin(), obj(t, doc))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !apierrors.IsConflict(err):
			t.Errorf("want Conflict, got %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates with the same alias succeeded, want 1", ok)
	}
}

func TestAdmitterDryRun(t *testing.T) {
	s, raw := newStore(t)
	mustCreate(t, s, projectDoc)
	adm := admission.NewAdmitter(raw, admission.Options{})
	before := snapshot(t, raw)
	got, err := adm.Admit(asAdmin(), admission.Create, nil, obj(t, warehouseDoc))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "interval", nested(t, got, "spec", "interval"), "5m0s")
	if after := snapshot(t, raw); after != before {
		t.Errorf("a dry run wrote: %s → %s", before, after)
	}
	if _, err := raw.Get(context.Background(), "Warehouse", "shop", "shop"); !apierrors.IsNotFound(err) {
		t.Errorf("dry run stored the Warehouse: %v", err)
	}
}

const taskDoc = `
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: deploy, namespace: shop}
spec:
  vars: [{name: repo}]
  steps:
  - uses: git-clone
    as: clone
    config: {repoURL: "${{ vars.repo }}"}
  - uses: git-push
`

const clusterTaskDoc = `
apiVersion: kargo.akuity.io/v1alpha1
kind: ClusterPromotionTask
metadata: {name: notify}
spec:
  steps:
  - uses: http
`

// taskedStageDoc is a Stage whose steps run deploy and notify; extra is
// added to the deploy step (e.g. its vars).
func taskedStageDoc(extra string) string {
	return `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: tasked, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps:
      - task: {name: deploy}
` + extra + `      - task: {name: notify, kind: ClusterPromotionTask}
        as: notify
`
}
