package controller

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion/steps"
)

// TestPromotionLookupsData reads Secrets and ConfigMaps as expressions see
// them: decoded, nil when missing, and from the shared namespace only
// generic Secrets.
func TestPromotionLookupsData(t *testing.T) {
	e := newPromoEnv(t)
	e.apply(t, `apiVersion: v1
kind: Secret
metadata: {name: token, namespace: p}
data: {value: aGVsbG8=}
stringData: {plain: text}
---
apiVersion: v1
kind: Secret
metadata:
  name: shared-generic
  namespace: kargo-shared-resources
  labels: {kargo.akuity.io/cred-type: generic}
stringData: {key: shared}
---
apiVersion: v1
kind: Secret
metadata:
  name: shared-git
  namespace: kargo-shared-resources
  labels: {kargo.akuity.io/cred-type: git}
stringData: {repoURL: https://git.example.com/app.git, password: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: p}
data: {env: prod}
`)
	l := NewPromotionLookups(e.st, "kargo-shared-resources")
	ctx := context.Background()
	cases := []struct {
		name string
		get  func() (map[string]string, error)
		want map[string]string
	}{
		{"project secret", func() (map[string]string, error) { return l.Secret(ctx, "p", "token") },
			map[string]string{"value": "hello", "plain": "text"}},
		{"missing secret", func() (map[string]string, error) { return l.Secret(ctx, "p", "nope") }, nil},
		{"shared generic secret", func() (map[string]string, error) { return l.Secret(ctx, "kargo-shared-resources", "shared-generic") },
			map[string]string{"key": "shared"}},
		{"shared repository credentials stay hidden", func() (map[string]string, error) {
			return l.Secret(ctx, "kargo-shared-resources", "shared-git")
		}, nil},
		{"config map", func() (map[string]string, error) { return l.ConfigMap(ctx, "p", "settings") }, map[string]string{"env": "prod"}},
		{"missing config map", func() (map[string]string, error) { return l.ConfigMap(ctx, "p", "nope") }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	w, err := l.Warehouse(ctx, "p", "w")
	if err != nil || w == nil || len(w.Spec.Subscriptions) != 1 {
		t.Errorf("warehouse w: %+v, %v", w, err)
	}
	if w, err := l.Warehouse(ctx, "p", "nope"); w != nil || err != nil {
		t.Errorf("missing warehouse: %+v, %v", w, err)
	}
}

// TestPromotionWriters sets Stage and Freight metadata and a Freight alias
// as the set-metadata and set-freight-alias steps do, reads them back as
// expressions do, and checks that a Promotion's bookkeeping of the Stage
// keeps the Stage's metadata.
func TestPromotionWriters(t *testing.T) {
	e := newPromoEnv(t)
	e.stage(t, "s", "- uses: test-record\n")
	l := NewPromotionLookups(e.st, "kargo-shared-resources")
	ctx := ctxActor()

	if err := l.SetStageMetadata(ctx, "p", "s", map[string]any{"owner": "team-a", "replicas": 3}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetStageMetadata(ctx, "p", "s", map[string]any{"ticket": map[string]any{"id": "OPS-1"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetFreightMetadata(ctx, "p", e.freight[0], map[string]any{"approvedBy": "carol"}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		l.SetStageMetadata(ctx, "p", "nope", map[string]any{"k": "v"}),
		l.SetFreightMetadata(ctx, "p", "nope", map[string]any{"k": "v"}),
		l.SetFreightAlias(ctx, "p", "nope", "some-alias"),
	} {
		if !errors.Is(err, steps.ErrNotFound) {
			t.Errorf("writing to a missing object: %v, want steps.ErrNotFound", err)
		}
	}

	// A promotion's bookkeeping rewrites the Stage's status: the metadata stays.
	name := e.promote(t, "s", 0)
	if _, err := e.reconcile(t, e.rec, name); err != nil {
		t.Fatal(err)
	}
	got, err := l.StageMetadata(ctx, "p", "s")
	if raw, _ := json.Marshal(got); err != nil || string(raw) != `{"owner":"team-a","replicas":3,"ticket":{"id":"OPS-1"}}` {
		t.Errorf("stage metadata after a promotion: %s (%v)", raw, err)
	}
	got, err = l.FreightMetadata(ctx, "p", e.freight[0])
	if err != nil || !equality.Semantic.DeepEqual(got, map[string]any{"approvedBy": "carol"}) {
		t.Errorf("freight metadata: %v (%v)", got, err)
	}
	st, err := l.FreightStatus(ctx, "p", e.freight[0])
	if err != nil || st["currentlyIn"] == nil || st["metadata"] == nil {
		t.Errorf("freight status: %v (%v)", st, err)
	}

	if err := l.SetFreightAlias(ctx, "p", e.freight[0], "blue-whale"); err != nil {
		t.Fatal(err)
	}
	f := e.freightObj(t, 0)
	if f.Alias != "blue-whale" || f.Labels[kargoapi.LabelKeyAlias] != "blue-whale" {
		t.Errorf("alias %q, label %q, want blue-whale", f.Alias, f.Labels[kargoapi.LabelKeyAlias])
	}
	if err := l.SetFreightAlias(ctx, "p", e.freight[0], "blue-whale"); err != nil {
		t.Errorf("setting the alias a Freight has: %v", err)
	}
	if err := l.SetFreightAlias(ctx, "p", e.freight[1], "blue-whale"); !errors.Is(err, steps.ErrAliasInUse) {
		t.Errorf("taking another Freight's alias: %v, want steps.ErrAliasInUse", err)
	}
}
