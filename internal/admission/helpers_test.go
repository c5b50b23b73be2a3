package admission_test

import (
	"context"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// newStore opens a SQLite store in a temporary directory and wraps it with
// admission. It returns both: writes go through the admitting store, and the
// raw one lets tests set up state admission would refuse (status, in-use
// Freight).
func newStore(t *testing.T) (store.Store, *sqlite.Store) {
	t.Helper()
	raw, err := sqlite.Open(filepath.Join(t.TempDir(), "caravan.db"), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return admission.New(raw, admission.Options{}), raw
}

// obj parses one YAML document into an object.
func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("parse yaml: %v\n%s", err, doc)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("decode object: %v\n%s", err, doc)
	}
	return u
}

// asAdmin is a context carrying the admin actor.
func asAdmin() context.Context {
	return identity.WithActor(context.Background(), identity.Actor{Name: "admin", Admin: true})
}

// mustCreate creates each document through s.
func mustCreate(t *testing.T, s store.Store, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		o, err := s.Create(asAdmin(), obj(t, d))
		if err != nil {
			t.Fatalf("create: %v\n%s", err, d)
		}
		out = append(out, o)
	}
	return out
}

const (
	projectDoc = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: shop
`
	warehouseDoc = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: shop
  namespace: shop
spec:
  subscriptions:
  - image:
      repoURL: registry.example.com/team/shop
`
	stageDoc = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: shop
spec:
  shard: east
  vars:
  - name: stageVar
    value: s
  requestedFreight:
  - origin:
      kind: Warehouse
      name: shop
    sources:
      direct: true
  promotionTemplate:
    spec:
      vars:
      - name: tmplVar
        value: t
      steps:
      - uses: git-clone
        as: clone
        config:
          repoURL: https://github.com/team/config.git
          checkout:
          - branch: main
            path: ./src
`
	freightDoc = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata:
  name: whatever
  namespace: shop
alias: chosen-one
origin:
  kind: Warehouse
  name: shop
images:
- repoURL: registry.example.com/team/shop
  tag: 1.2.0
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
`
)
