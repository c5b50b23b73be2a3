package admission_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// pipelineEnv is a project "shop" with Warehouse "shop", Stage "dev" (direct
// from the Warehouse) and Stage "uat" (from "dev", with the sources given),
// two Freight from the Warehouse and an injected clock.
type pipelineEnv struct {
	s     store.Store
	raw   *sqlite.Store
	clock *testingclock.FakeClock
	old   string // the older Freight's name
	new   string // the newer Freight's name
	alias map[string]string
}

var pipelineT0 = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

func newPipelineEnv(t *testing.T, uatSources string) *pipelineEnv {
	t.Helper()
	raw, err := sqlite.Open(filepath.Join(t.TempDir(), "caravan.db"), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	e := &pipelineEnv{raw: raw, clock: testingclock.NewFakeClock(pipelineT0)}
	e.s = admission.New(raw, admission.Options{Clock: e.clock})
	mustCreate(t, e.s, projectDoc, warehouseDoc, stageDoc)
	mustCreate(t, e.s, strings.NewReplacer("name: dev", "name: uat", "direct: true", uatSources).Replace(stageDoc))
	var made []*unstructured.Unstructured
	for i, alias := range []string{"one-one", "two-two"} {
		doc := strings.NewReplacer("chosen-one", alias, "tag: 1.2.0", "tag: 1.2."+string(rune('0'+i)),
			"0000000000000000000000000000000000000000000000000000000000000001",
			"000000000000000000000000000000000000000000000000000000000000000"+string(rune('1'+i))).Replace(freightDoc)
		made = append(made, mustCreate(t, e.s, doc)[0])
	}
	// The store stamps creation times to the second, so which Freight is
	// newer is decided as Kargo sorts: later creationTimestamp, then the
	// greater name.
	a, b := made[0], made[1]
	if ta, tb := a.GetCreationTimestamp().Time, b.GetCreationTimestamp().Time; ta.After(tb) || (ta.Equal(tb) && a.GetName() > b.GetName()) {
		a, b = b, a
	}
	e.old, e.new = a.GetName(), b.GetName()
	e.alias = map[string]string{}
	for _, f := range made {
		alias, _, _ := unstructured.NestedString(f.Object, "alias")
		e.alias[f.GetName()] = alias
	}
	return e
}

// setStatus writes a Freight's status through the raw store.
func (e *pipelineEnv) setStatus(t *testing.T, name string, status map[string]any) {
	t.Helper()
	u, err := e.raw.Get(context.Background(), "Freight", "shop", name)
	if err != nil {
		t.Fatal(err)
	}
	u.Object["status"] = status
	if _, err := e.raw.UpdateStatus(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func (e *pipelineEnv) promote(ctx context.Context, t *testing.T, spec string) (*unstructured.Unstructured, error) {
	t.Helper()
	return e.s.Create(ctx, obj(t, "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {name: p, namespace: shop}\nspec:\n"+spec))
}

// wantInvalid checks that err is a 422 on field whose message holds every
// part.
func wantInvalid(t *testing.T, err error, field string, parts ...string) {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a 422", err)
	}
	st := se.ErrStatus
	if st.Code != http.StatusUnprocessableEntity {
		t.Fatalf("code %d (%s), want 422", st.Code, st.Message)
	}
	if st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != field {
		t.Errorf("causes %+v, want %s", st.Details, field)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message, p) {
			t.Errorf("message %q lacks %q", st.Message, p)
		}
	}
}

func verifiedIn(stage string, at time.Time) map[string]any {
	return map[string]any{stage: map[string]any{"verifiedAt": at.UTC().Format(time.RFC3339)}}
}

func TestPromotionAvailability(t *testing.T) {
	t.Run("freight not verified upstream is refused with the reason and what to do", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]")
		_, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+e.alias[e.new]+"\n")
		wantInvalid(t, err, "spec.freight",
			`is not available to Stage "uat": not verified in upstream Stage "dev"`,
			"caravan approve --project shop --freight "+e.alias[e.new]+" --stage uat")
	})
	t.Run("freight verified upstream is accepted", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]")
		e.setStatus(t, e.new, map[string]any{"verifiedIn": verifiedIn("dev", pipelineT0)})
		got, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+e.alias[e.new]+"\n")
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "spec.freight", nested(t, got, "spec", "freight"), e.new)
	})
	t.Run("approved freight is accepted", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]")
		e.setStatus(t, e.old, map[string]any{"approvedFor": map[string]any{"uat": map[string]any{}}})
		if _, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+e.alias[e.old]+"\n"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("soak time counts on the injected clock", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]\n      requiredSoakTime: 1h")
		e.setStatus(t, e.new, map[string]any{
			"verifiedIn":  verifiedIn("dev", pipelineT0),
			"currentlyIn": map[string]any{"dev": map[string]any{"since": pipelineT0.Format(time.RFC3339)}},
		})
		e.clock.SetTime(pipelineT0.Add(20 * time.Minute))
		_, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+e.alias[e.new]+"\n")
		wantInvalid(t, err, "spec.freight", `soaking in "dev" for 40m more (requiredSoakTime 1h)`, "wait until it has soaked")
		e.clock.SetTime(pipelineT0.Add(time.Hour))
		if _, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+e.alias[e.new]+"\n"); err != nil {
			t.Fatalf("after the soak: %v", err)
		}
	})
	t.Run("freight of an origin the stage does not request is refused", func(t *testing.T) {
		e := newPipelineEnv(t, "direct: true")
		mustCreate(t, e.s, strings.NewReplacer("name: shop\n  namespace", "name: other\n  namespace",
			"team/shop", "team/other").Replace(warehouseDoc))
		f := mustCreate(t, e.s, strings.NewReplacer("chosen-one", "stray-cat", "name: shop", "name: other",
			"team/shop", "team/other").Replace(freightDoc))[0]
		_, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+f.GetName()+"\n")
		wantInvalid(t, err, "spec.freight", `it comes from Warehouse "other", but "uat" requests Freight only from Warehouse "shop"`,
			"add this origin to its spec.requestedFreight")
	})
}

func TestPromotionByOrigin(t *testing.T) {
	t.Run("resolves to the newest available freight", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]")
		e.setStatus(t, e.old, map[string]any{"verifiedIn": verifiedIn("dev", pipelineT0)})
		got, err := e.promote(asAdmin(), t, "  stage: uat\n  origin: {kind: Warehouse, name: shop}\n")
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "spec.freight", nested(t, got, "spec", "freight"), e.old)
		if _, found, _ := unstructured.NestedMap(got.Object, "spec", "origin"); found {
			t.Errorf("spec.origin kept after it was resolved")
		}
		e.setStatus(t, e.new, map[string]any{"verifiedIn": verifiedIn("dev", pipelineT0)})
		got, err = e.promote(asAdmin(), t, "  stage: uat\n  origin: {kind: Warehouse, name: shop}\n")
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "spec.freight once both are verified", nested(t, got, "spec", "freight"), e.new)
	})
	t.Run("no available freight is refused with the reason", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]")
		_, err := e.promote(asAdmin(), t, "  stage: uat\n  origin: {kind: Warehouse, name: shop}\n")
		wantInvalid(t, err, "spec.origin", `no Freight from Warehouse "shop" is available to Stage "uat"`,
			`the newest`, `not verified in upstream Stage "dev"`)
	})
	t.Run("an origin the stage does not request is refused", func(t *testing.T) {
		e := newPipelineEnv(t, "stages: [dev]")
		_, err := e.promote(asAdmin(), t, "  stage: uat\n  origin: {kind: Warehouse, name: nope}\n")
		wantInvalid(t, err, "spec.origin", `no Freight from Warehouse "nope" is available to Stage "uat"`,
			`does not request Freight from Warehouse "nope"`)
	})
}

func TestPromotionCandidateAnnotation(t *testing.T) {
	e := newPipelineEnv(t, "direct: true")
	// A user promoting the older Freight: the candidate is the newer one.
	got, err := e.promote(asAdmin(), t, "  stage: uat\n  freight: "+e.alias[e.old]+"\n")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "candidate", got.GetAnnotations()[admission.AnnotationKeyAutoPromotionCandidate], e.new)

	// Caravan's own Promotions record none, even when asked to.
	ctrl := identity.WithActor(context.Background(), identity.Controller)
	mine, err := e.s.Create(ctrl, obj(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata:
  namespace: shop
  annotations: {`+admission.AnnotationKeyAutoPromotionCandidate+`: forged}
spec: {stage: uat, freight: `+e.new+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := mine.GetAnnotations()[admission.AnnotationKeyAutoPromotionCandidate]; ok {
		t.Errorf("controller promotion has candidate annotation %q", v)
	}

	// The annotation cannot be changed afterwards.
	ann := got.GetAnnotations()
	ann[admission.AnnotationKeyAutoPromotionCandidate] = e.old
	got.SetAnnotations(ann)
	updated, err := e.s.Update(asAdmin(), got)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "candidate after update", updated.GetAnnotations()[admission.AnnotationKeyAutoPromotionCandidate], e.new)
}
