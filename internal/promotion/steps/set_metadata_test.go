package steps

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/caravan-dev/caravan/internal/retry"
)

// recordedMetadata is a MetadataWriter and AliasWriter over maps: a test
// fixture recording what the steps write, with the writers' documented
// semantics (keys merge; a missing object is ErrNotFound; an alias held by
// other Freight is ErrAliasInUse).
type recordedMetadata struct {
	mu      sync.Mutex
	stages  map[string]map[string]any // "project/stage" → metadata
	freight map[string]map[string]any // "project/freight" → metadata
	aliases map[string]string         // "project/freight" → alias
	calls   []string
	fail    error // returned by every call when set
}

func newRecordedMetadata() *recordedMetadata {
	return &recordedMetadata{
		stages:  map[string]map[string]any{"demo/test": {}, "demo/prod": {"owner": "ops"}},
		freight: map[string]map[string]any{"demo/f1": {}, "demo/f2": {}},
		aliases: map[string]string{"demo/f1": "old-alias", "demo/f2": "taken"},
	}
}

func (r *recordedMetadata) set(kind string, m map[string]map[string]any, project, name string, values map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s %s/%s", kind, project, name))
	if r.fail != nil {
		return r.fail
	}
	md, ok := m[project+"/"+name]
	if !ok {
		return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	for k, v := range values {
		md[k] = v
	}
	return nil
}

func (r *recordedMetadata) SetStageMetadata(_ context.Context, project, stage string, values map[string]any) error {
	return r.set("Stage", r.stages, project, stage, values)
}

func (r *recordedMetadata) SetFreightMetadata(_ context.Context, project, freight string, values map[string]any) error {
	return r.set("Freight", r.freight, project, freight, values)
}

func (r *recordedMetadata) SetFreightAlias(_ context.Context, project, freight, alias string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("alias %s/%s=%s", project, freight, alias))
	if r.fail != nil {
		return r.fail
	}
	if _, ok := r.aliases[project+"/"+freight]; !ok {
		return fmt.Errorf("freight %q: %w", freight, ErrNotFound)
	}
	for key, a := range r.aliases {
		if a == alias && key != project+"/"+freight {
			return fmt.Errorf("alias %q: %w", alias, ErrAliasInUse)
		}
	}
	r.aliases[project+"/"+freight] = alias
	return nil
}

func TestSetMetadataValidation(t *testing.T) {
	checkValidation(t, NewSetMetadata(newRecordedMetadata()), []validationCase{
		{name: "valid", config: `{updates: [{kind: Stage, name: prod, values: {version: 1.0.0}}]}`},
		{name: "updates empty", config: `{updates: []}`, want: "/updates"},
		{name: "bad kind", config: `{updates: [{kind: Warehouse, name: w, values: {a: 1}}]}`, want: "/updates/0/kind"},
		{name: "no values", config: `{updates: [{kind: Stage, name: prod, values: {}}]}`, want: "/updates/0/values"},
		{name: "name missing", config: `{updates: [{kind: Stage, values: {a: 1}}]}`, want: "missing property 'name'"},
		{name: "unknown Stage", config: `{updates: [{kind: Stage, name: qa, values: {a: 1}}]}`,
			want: `updates[0]: Stage "qa" not found in project "demo": check the name`},
	})
}

func TestSetMetadata(t *testing.T) {
	w := newRecordedMetadata()
	res := runTwice(t, NewSetMetadata(w), t.TempDir(), `
updates:
- kind: Stage
  name: prod
  values:
    deployedBy: user@example.com
    deployment: {components: [{name: frontend, version: 2.1.0}], replicas: 3}
- kind: Freight
  name: f1
  values: {deployed: true}
`)
	if res.Status != "Succeeded" {
		t.Fatalf("got %#v", res)
	}
	wantStage := map[string]any{
		"owner": "ops", "deployedBy": "user@example.com",
		"deployment": map[string]any{"components": []any{map[string]any{"name": "frontend", "version": "2.1.0"}}, "replicas": int64(3)},
	}
	if !reflect.DeepEqual(w.stages["demo/prod"], wantStage) {
		t.Fatalf("Stage metadata %#v\nwant %#v", w.stages["demo/prod"], wantStage)
	}
	if !reflect.DeepEqual(w.freight["demo/f1"], map[string]any{"deployed": true}) {
		t.Fatalf("Freight metadata %#v", w.freight["demo/f1"])
	}
	wantCalls := []string{"Stage demo/prod", "Freight demo/f1", "Stage demo/prod", "Freight demo/f1"}
	if !reflect.DeepEqual(w.calls, wantCalls) {
		t.Fatalf("calls %q, want %q", w.calls, wantCalls)
	}
}

func TestSetMetadataWriterErrors(t *testing.T) {
	w := newRecordedMetadata()
	w.fail = errors.New("store unavailable")
	_, err := runStep(t, NewSetMetadata(w), t.TempDir(), `{updates: [{kind: Freight, name: f1, values: {a: 1}}]}`)
	if err == nil || retry.IsTerminal(err) || !strings.Contains(err.Error(), `updates[0]: set the metadata of Freight "f1": store unavailable`) {
		t.Fatalf("error %v; want a retryable error naming the update", err)
	}
}
