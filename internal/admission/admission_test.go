package admission_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// freightID is the Freight ID of freightDoc: the first golden vector.
const freightID = "654b709cc65ce1ab45cb6409ff551c110a354d97"

// write is one write of a case: op is "create", "update" or "delete"; doc
// is the object (for delete, only its kind, namespace and name are used).
type write struct {
	op  string
	doc string
	ctx context.Context
}

// want is the expected answer: code 0 means success.
type want struct {
	code   int32
	reason metav1.StatusReason
	msgs   []string
	// causes are fields that details.causes must name.
	causes []string
	// absent are strings that must not appear in the message (Secret data).
	absent []string
}

type admissionCase struct {
	name string
	// setup runs first; it may write through the admitting store s or the
	// raw store.
	setup func(t *testing.T, s store.Store, raw *sqlite.Store)
	write write
	want  want
	// check inspects the stored result of a successful write.
	check func(t *testing.T, s store.Store, got *unstructured.Unstructured)
}

func TestAdmission(t *testing.T) {
	for _, tc := range admissionCases() {
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

// docs holds documents a case's setup builds, by the placeholder its write
// names.
var docs = map[string]string{}

func apply(t *testing.T, s store.Store, w write) (*unstructured.Unstructured, error) {
	t.Helper()
	ctx := w.ctx
	if ctx == nil {
		ctx = asAdmin()
	}
	doc := w.doc
	if d, ok := docs[doc]; ok {
		doc = d
	}
	o := obj(t, doc)
	switch w.op {
	case "create":
		return s.Create(ctx, o)
	case "update":
		return s.Update(ctx, o)
	case "delete":
		err := s.Delete(ctx, o.GetKind(), o.GetNamespace(), o.GetName(), store.DeleteOptions{})
		return nil, err
	}
	t.Fatalf("unknown op %q", w.op)
	return nil, nil
}

// snapshot returns the store's current resourceVersion, which every change
// bumps.
func snapshot(t *testing.T, raw *sqlite.Store) string {
	t.Helper()
	_, rv, err := raw.ListRaw(context.Background(), "Project", "", store.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return rv
}

func checkStatus(t *testing.T, err error, w want) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", w.code, w.reason)
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		t.Fatalf("want a StatusError, got %T: %v", err, err)
	}
	st := se.Status()
	if st.Code != w.code || st.Reason != w.reason {
		t.Errorf("want %d %s, got %d %s: %s", w.code, w.reason, st.Code, st.Reason, st.Message)
	}
	for _, m := range w.msgs {
		if !strings.Contains(st.Message, m) {
			t.Errorf("message lacks %q:\n%s", m, st.Message)
		}
	}
	for _, m := range w.absent {
		if strings.Contains(st.Message, m) {
			t.Errorf("message contains %q, which it must not:\n%s", m, st.Message)
		}
	}
	for _, f := range w.causes {
		found := false
		if st.Details != nil {
			for _, c := range st.Details.Causes {
				found = found || c.Field == f
			}
		}
		if !found {
			t.Errorf("details.causes lack field %q: %+v", f, st.Details)
		}
	}
}

// base creates the project, its Warehouse and the dev Stage.
func base(t *testing.T, s store.Store, _ *sqlite.Store) {
	mustCreate(t, s, projectDoc, warehouseDoc, stageDoc)
}

// withFreight is base plus freightDoc.
func withFreight(t *testing.T, s store.Store, raw *sqlite.Store) {
	base(t, s, raw)
	mustCreate(t, s, freightDoc)
}

func nested(t *testing.T, u *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s: missing (%v)", strings.Join(path, "."), err)
	}
	return v
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

var (
	promotionNameRE = regexp.MustCompile(`^dev\.[0-9a-z]{26}\.654b709$`)
	aliasRE         = regexp.MustCompile(`^[a-z]+-[a-z]+(-[0-9]+)?$`)
)

func admissionCases() []admissionCase {
	return append(append(append(namespaceCases(), decodingCases()...), promotionCases()...), append(freightCases(), coreCases()...)...)
}

func namespaceCases() []admissionCase {
	return []admissionCase{
		{
			name:  "namespaced object in a missing project is 404",
			write: write{op: "create", doc: stageDoc},
			want: want{code: http.StatusNotFound, reason: metav1.StatusReasonNotFound,
				msgs: []string{`project "shop" does not exist: create it first`}},
		},
		{
			name: "secret in a missing project is 404 naming the reserved namespaces",
			write: write{op: "create", doc: `
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: nope}
stringData: {password: hunter2}
`},
			want: want{code: http.StatusNotFound, reason: metav1.StatusReasonNotFound,
				msgs:   []string{`project "nope" does not exist`, "kargo-shared-resources", "kargo-system-resources"},
				absent: []string{"hunter2"}},
		},
		{
			name: "secret in the shared namespace needs no project",
			write: write{op: "create", doc: `
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: kargo-shared-resources}
stringData: {password: hunter2}
`},
		},
		{
			name: "configmap in the system namespace needs no project",
			write: write{op: "create", doc: `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: kargo-system-resources}
data: {a: b}
`},
		},
		{
			name:  "a stage in a reserved namespace is refused",
			write: write{op: "create", doc: strings.Replace(stageDoc, "namespace: shop", "namespace: kargo-shared-resources", 1)},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"reserved for shared Secrets and ConfigMaps"}, causes: []string{"metadata.namespace"}},
		},
		{
			name:  "a project needing a DNS-1123 label name",
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: Shop.Front}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`Project.kargo.akuity.io "Shop.Front" is invalid`}, causes: []string{"metadata.name"}},
		},
		{
			name:  "a project may not take a reserved namespace's name",
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: kargo-system-resources}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"reserved"}, causes: []string{"metadata.name"}},
		},
		{
			name:  "a projectconfig is named after its project",
			setup: base,
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {name: other, namespace: shop}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`rename it to "shop"`}, causes: []string{"metadata.name"}},
		},
		{
			name:  "a projectconfig named after its project is stored",
			setup: base,
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {name: shop, namespace: shop}\n"},
		},
		{
			name:  "the clusterconfig is named cluster",
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: ClusterConfig\nmetadata: {name: main}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`"cluster"`}, causes: []string{"metadata.name"}},
		},
		{
			name:  "a cluster-scoped object's namespace is ignored",
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: ClusterConfig\nmetadata: {name: cluster, namespace: shop}\n"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "namespace", got.GetNamespace(), "")
			},
		},
		{
			name: "nothing new in a project being deleted",
			setup: func(t *testing.T, s store.Store, _ *sqlite.Store) {
				mustCreate(t, s, "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: shop, finalizers: [kargo.akuity.io/finalizer]}\n")
				if err := s.Delete(asAdmin(), "Project", "", "shop", store.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			write: write{op: "create", doc: warehouseDoc},
			want: want{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden,
				msgs: []string{`project "shop" because it is being deleted`}},
		},
		{
			name:  "generateName gives a name",
			setup: base,
			write: write{op: "create", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: settings-, namespace: shop}\n"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				if !regexp.MustCompile(`^settings-[a-z0-9]{5}$`).MatchString(got.GetName()) {
					t.Errorf("name %q", got.GetName())
				}
			},
		},
		{
			name:  "a missing name is required",
			setup: base,
			write: write{op: "create", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: shop}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"name or generateName is required"}, causes: []string{"metadata.name"}},
		},
	}
}

func decodingCases() []admissionCase {
	return []admissionCase{
		{
			name:  "an unknown field inside a git subscription is 400 naming its path",
			setup: base,
			write: write{op: "create", doc: `
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: cfg, namespace: shop}
spec:
  subscriptions:
  - git:
      repoURL: https://github.com/team/config.git
      branchh: main
`},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{
					`strict decoding error: unknown field "spec.subscriptions[0].git.branchh"`,
					`did you mean "branch"?`, "remove each unknown field or correct its name",
				},
				causes: []string{"spec.subscriptions[0].git.branchh"}},
		},
		{
			name:  "a misspelled spec field is 400",
			setup: base,
			write: write{op: "create", doc: strings.Replace(stageDoc, "requestedFreight:", "requestedFreigth:", 1)},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{`unknown field "spec.requestedFreigth"`, `did you mean "requestedFreight"?`}},
		},
		{
			name:  "a value of the wrong type is 400 naming the field",
			setup: base,
			write: write{op: "create", doc: strings.Replace(warehouseDoc, "repoURL: registry.example.com/team/shop",
				"repoURL: registry.example.com/team/shop\n      discoveryLimit: ten", 1)},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{"discoveryLimit", "must be an integer"}},
		},
		{
			name:  "a wrong apiVersion is 400",
			setup: base,
			write: write{op: "create", doc: strings.Replace(stageDoc, "kargo.akuity.io/v1alpha1", "kargo.akuity.io/v1", 1)},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{`set apiVersion to "kargo.akuity.io/v1alpha1"`}},
		},
		{
			name:  "an unknown kind is 400",
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Pipeline\nmetadata: {name: x}\n"},
			want: want{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest,
				msgs: []string{`kind "Pipeline" is not served`}},
		},
		{
			name:  "step config and status are free-form; the stage is stored with its shard label",
			setup: base,
			write: write{op: "create", doc: strings.Replace(strings.Replace(stageDoc, "name: dev", "name: dev2", 1),
				"metadata:", "status:\n  anything: [1, 2]\nmetadata:", 1) + `
      - uses: some-step
        config:
          anyKey: {deeply: [nested, 1, 2.5, true, null]}
`},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				steps := nested(t, got, "spec", "promotionTemplate", "spec", "steps").([]any)
				cfg := steps[1].(map[string]any)["config"].(map[string]any)["anyKey"].(map[string]any)["deeply"].([]any)
				if len(cfg) != 5 || cfg[0] != "nested" || cfg[1] != int64(1) || cfg[2] != 2.5 || cfg[3] != true || cfg[4] != nil {
					t.Errorf("free-form config changed: %#v", cfg)
				}
				eq(t, "shard label", got.GetLabels()["kargo.akuity.io/shard"], "east")
			},
		},
		{
			name:  "sources without direct or stages is 422 in Kubernetes form",
			setup: base,
			write: write{op: "create", doc: `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: uat, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {}
`},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs:   []string{`Stage.kargo.akuity.io "uat" is invalid: spec.requestedFreight[0].sources: Required value: need direct or stages`},
				causes: []string{"spec.requestedFreight[0].sources"}},
		},
		{
			name:  "a warehouse is stored with its defaults",
			setup: func(t *testing.T, s store.Store, _ *sqlite.Store) { mustCreate(t, s, projectDoc) },
			write: write{op: "create", doc: warehouseDoc},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "interval", nested(t, got, "spec", "interval"), "5m0s")
				eq(t, "freightCreationPolicy", nested(t, got, "spec", "freightCreationPolicy"), "Automatic")
			},
		},
		{
			name: "an update leaving an invalid stored spec untouched is admitted (ratchet)",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				mustCreate(t, s, projectDoc)
				// Written past admission, as by an older version.
				if _, err := raw.Create(context.Background(), obj(t, `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: old, namespace: shop, finalizers: [kargo.akuity.io/finalizer]}
spec:
  requestedFreight: []
  legacyField: true
`)); err != nil {
					t.Fatal(err)
				}
			},
			write: write{op: "update", doc: `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: old, namespace: shop}
spec:
  requestedFreight: []
  legacyField: true
`},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				if len(got.GetFinalizers()) != 0 {
					t.Errorf("finalizers not removed: %v", got.GetFinalizers())
				}
			},
		},
		{
			name: "an update changing an invalid stored spec is validated",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				mustCreate(t, s, projectDoc)
				if _, err := raw.Create(context.Background(), obj(t, `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: old, namespace: shop}
spec:
  requestedFreight: []
`)); err != nil {
					t.Fatal(err)
				}
			},
			write: write{op: "update", doc: `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: old, namespace: shop}
spec:
  shard: west
  requestedFreight: []
`},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				causes: []string{"spec.requestedFreight"}},
		},
	}
}

func promotionCases() []admissionCase {
	promo := func(spec string) string {
		return "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {name: my-promo, namespace: shop}\nspec:\n" + spec
	}
	return []admissionCase{
		{
			name:  "a promotion is named, filled from its stage and records its creator",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: dev\n  freight: " + freightID + "\n")},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				if !promotionNameRE.MatchString(got.GetName()) {
					t.Errorf("name %q does not match %s", got.GetName(), promotionNameRE)
				}
				vars := nested(t, got, "spec", "vars").([]any)
				if len(vars) != 2 || vars[0].(map[string]any)["name"] != "stageVar" || vars[1].(map[string]any)["name"] != "tmplVar" {
					t.Errorf("vars: %v", vars)
				}
				steps := nested(t, got, "spec", "steps").([]any)
				if len(steps) != 1 || steps[0].(map[string]any)["uses"] != "git-clone" {
					t.Errorf("steps: %v", steps)
				}
				eq(t, "create-actor", got.GetAnnotations()["kargo.akuity.io/create-actor"], "admin")
				eq(t, "shard label", got.GetLabels()["kargo.akuity.io/shard"], "east")
				refs := got.GetOwnerReferences()
				if len(refs) != 1 || refs[0].Kind != "Stage" || refs[0].Name != "dev" || refs[0].UID == "" {
					t.Errorf("ownerReferences: %+v", refs)
				}
			},
		},
		{
			name:  "a promotion made without an actor records the controller",
			setup: withFreight,
			write: write{op: "create", ctx: context.Background(), doc: promo("  stage: dev\n  freight: " + freightID + "\n")},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "create-actor", got.GetAnnotations()["kargo.akuity.io/create-actor"], "controller:"+identity.Controller.Name)
			},
		},
		{
			name:  "a promotion may name its freight by alias",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: dev\n  freight: chosen-one\n")},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "spec.freight", nested(t, got, "spec", "freight"), freightID)
			},
		},
		{
			name:  "a promotion by origin promotes the newest available freight of that origin",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: dev\n  origin: {kind: Warehouse, name: shop}\n")},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "spec.freight", nested(t, got, "spec", "freight"), freightID)
			},
		},
		{
			name:  "a promotion needs freight",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: dev\n")},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				causes: []string{"spec.freight"}},
		},
		{
			name:  "a promotion to a target is refused",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: dev\n  freight: " + freightID + "\n  target: {name: eu}\n")},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				causes: []string{"spec.target"}},
		},
		{
			name:  "a promotion's stage must exist",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: prod\n  freight: " + freightID + "\n")},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`Stage "prod" does not exist`}, causes: []string{"spec.stage"}},
		},
		{
			name: "a promotion's stage must have steps",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				withFreight(t, s, raw)
				mustCreate(t, s, `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: gate, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {direct: true}
`)
			},
			write: write{op: "create", doc: promo("  stage: gate\n  freight: " + freightID + "\n")},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"has no promotion steps"}, causes: []string{"spec.stage"}},
		},
		{
			name:  "a promotion's freight must exist",
			setup: withFreight,
			write: write{op: "create", doc: promo("  stage: dev\n  freight: 0123456789abcdef0123456789abcdef01234567\n")},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"no Freight named or aliased"}, causes: []string{"spec.freight"}},
		},
		{
			name: "a long stage name is shortened in the promotion name",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				withFreight(t, s, raw)
				mustCreate(t, s, strings.Replace(stageDoc, "name: dev", "name: "+longName(), 1))
			},
			write: write{op: "create", doc: promo("  stage: " + longName() + "\n  freight: " + freightID + "\n")},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				if n := len(got.GetName()); n > 253 {
					t.Errorf("name is %d characters", n)
				}
				if !strings.HasSuffix(got.GetName(), ".654b709") || strings.Contains(got.GetName(), "-.") {
					t.Errorf("name %q", got.GetName())
				}
			},
		},
		{
			name:  "a promotion's spec is immutable",
			setup: withPromotion,
			write: write{op: "update", doc: promo("  stage: dev\n  freight: " + freightID + "\n")},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"spec is immutable"}, causes: []string{"spec"}},
		},
	}
}

func longName() string {
	return strings.Repeat("a", 120) + "-" + strings.Repeat("b", 120) + "-" + strings.Repeat("c", 11)
}

// withPromotion is withFreight plus a Promotion named my-promo, written
// through the raw store so its name is known.
func withPromotion(t *testing.T, s store.Store, raw *sqlite.Store) {
	withFreight(t, s, raw)
	p, err := s.Create(asAdmin(), obj(t, "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {namespace: shop}\nspec: {stage: dev, freight: "+freightID+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Store a copy under a fixed name for the update cases.
	p.SetName("my-promo")
	p.SetResourceVersion("")
	p.SetUID("")
	if _, err := raw.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func freightCases() []admissionCase {
	return []admissionCase{
		{
			name:  "freight is named by its ID and gets an alias",
			setup: base,
			write: write{op: "create", doc: strings.Replace(freightDoc, "alias: chosen-one\n", "", 1)},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "name", got.GetName(), freightID)
				alias, _ := got.Object["alias"].(string)
				if !aliasRE.MatchString(alias) {
					t.Errorf("alias %q", alias)
				}
				eq(t, "alias label", got.GetLabels()["kargo.akuity.io/alias"], alias)
			},
		},
		{
			name:  "a given alias is kept and mirrored",
			setup: base,
			write: write{op: "create", doc: freightDoc},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "alias", got.Object["alias"], "chosen-one")
				eq(t, "alias label", got.GetLabels()["kargo.akuity.io/alias"], "chosen-one")
			},
		},
		{
			name: "a duplicate alias is 409",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				withFreight(t, s, raw)
			},
			write: write{op: "create", doc: strings.Replace(freightDoc, "tag: 1.2.0", "tag: 1.3.0", 1)},
			want: want{code: http.StatusConflict, reason: metav1.StatusReasonConflict,
				msgs: []string{`alias "chosen-one" is already used by Freight "` + freightID + `"`}},
		},
		{
			name:  "the same freight twice is 409 AlreadyExists naming its ID",
			setup: withFreight,
			write: write{op: "create", doc: freightDoc},
			want: want{code: http.StatusConflict, reason: metav1.StatusReasonAlreadyExists,
				msgs: []string{freightID}},
		},
		{
			name:  "freight needs an artifact",
			setup: base,
			write: write{op: "create", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Freight\nmetadata: {namespace: shop}\norigin: {kind: Warehouse, name: shop}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"at least one artifact"}},
		},
		{
			name:  "freight's warehouse must exist",
			setup: base,
			write: write{op: "create", doc: strings.Replace(freightDoc, "name: shop\nimages", "name: gone\nimages", 1)},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`Warehouse "gone" does not exist`}, causes: []string{"origin.name"}},
		},
		{
			name:  "freight's artifacts must come from its warehouse's subscriptions",
			setup: base,
			write: write{op: "create", doc: freightDoc + "commits:\n- repoURL: https://github.com/team/other.git\n  id: \"1111111111111111111111111111111111111111\"\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{`Warehouse "shop" has no subscription to this Git repository`}, causes: []string{"commits[0].repoURL"}},
		},
		{
			name:  "freight's alias may change and its label follows",
			setup: withFreight,
			write: write{op: "update", doc: strings.Replace(strings.Replace(freightDoc, "chosen-one", "renamed", 1), "name: whatever", "name: "+freightID, 1)},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "alias", got.Object["alias"], "renamed")
				eq(t, "alias label", got.GetLabels()["kargo.akuity.io/alias"], "renamed")
			},
		},
		{
			name:  "freight's artifacts are immutable",
			setup: withFreight,
			write: write{op: "update", doc: strings.Replace(strings.Replace(freightDoc, "tag: 1.2.0", "tag: 9.9.9", 1), "name: whatever", "name: "+freightID, 1)},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"Freight is immutable"}, causes: []string{"images"}},
		},
		{
			name:  "freight a stage uses cannot be deleted",
			setup: withFreightInUse,
			write: write{op: "delete", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Freight\nmetadata: {name: " + freightID + ", namespace: shop}\n"},
			want: want{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden,
				msgs: []string{"Freight in use", `Stage "dev"`}},
		},
		{
			name: "freight in use goes with its project",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				mustCreate(t, s, "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: shop, finalizers: [kargo.akuity.io/finalizer]}\n")
				if err := s.Delete(asAdmin(), "Project", "", "shop", store.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				// As in Kubernetes mode, where a namespace empties gradually,
				// the Stage and its Freight are still there.
				for _, d := range []string{stageDoc, strings.Replace(freightDoc, "whatever", freightID, 1)} {
					if _, err := raw.Create(context.Background(), obj(t, d)); err != nil {
						t.Fatal(err)
					}
				}
				markInUse(t, raw)
			},
			write: write{op: "delete", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Freight\nmetadata: {name: " + freightID + ", namespace: shop}\n"},
		},
		{
			name:  "freight no stage uses can be deleted",
			setup: withFreight,
			write: write{op: "delete", doc: "apiVersion: kargo.akuity.io/v1alpha1\nkind: Freight\nmetadata: {name: " + freightID + ", namespace: shop}\n"},
		},
	}
}

// withFreightInUse is withFreight with the dev Stage currently using it.
func withFreightInUse(t *testing.T, s store.Store, raw *sqlite.Store) {
	withFreight(t, s, raw)
	markInUse(t, raw)
}

func markInUse(t *testing.T, raw *sqlite.Store) {
	t.Helper()
	st, err := raw.Get(context.Background(), "Stage", "shop", "dev")
	if err != nil {
		t.Fatal(err)
	}
	st.Object["status"] = map[string]any{"freightHistory": []any{
		map[string]any{"id": "x", "items": map[string]any{"Warehouse/shop": map[string]any{"name": freightID}}},
	}}
	if _, err := raw.UpdateStatus(context.Background(), st); err != nil {
		t.Fatal(err)
	}
}

func coreCases() []admissionCase {
	secret := `
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
`
	return []admissionCase{
		{
			name:  "stringData is folded into data",
			setup: base,
			write: write{op: "create", doc: secret + "stringData: {password: hunter2}\n"},
			check: func(t *testing.T, _ store.Store, got *unstructured.Unstructured) {
				eq(t, "data.password", nested(t, got, "data", "password"), base64.StdEncoding.EncodeToString([]byte("hunter2")))
				if _, ok := got.Object["stringData"]; ok {
					t.Errorf("stringData kept")
				}
			},
		},
		{
			name:  "a bad secret key is refused without showing the data",
			setup: base,
			write: write{op: "create", doc: secret + "stringData: {\"bad key!\": hunter2}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"bad key!"}, absent: []string{"hunter2", base64.StdEncoding.EncodeToString([]byte("hunter2"))}},
		},
		{
			name: "an immutable secret's data cannot change",
			setup: func(t *testing.T, s store.Store, raw *sqlite.Store) {
				base(t, s, raw)
				mustCreate(t, s, secret+"immutable: true\nstringData: {password: hunter2}\n")
			},
			write: write{op: "update", doc: secret + "immutable: true\nstringData: {password: swordfish}\n"},
			want: want{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
				msgs: []string{"immutable"}, causes: []string{"data"}, absent: []string{"hunter2", "swordfish"}},
		},
	}
}
