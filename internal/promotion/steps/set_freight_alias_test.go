package steps

import (
	"reflect"
	"testing"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestSetFreightAliasValidation(t *testing.T) {
	checkValidation(t, NewSetFreightAlias(newRecordedMetadata()), []validationCase{
		{name: "name and alias", config: `{name: f1, alias: candidate-for-staging}`},
		{name: "older keys", config: `{freightName: f1, newAlias: candidate}`},
		{name: "oldest keys", config: `{freightID: f1, newAlias: candidate}`},
		{name: "alias only", config: `{alias: candidate}`},
		{name: "alias missing", config: `{name: f1}`, want: "'anyOf' failed"},
		{name: "two aliases", config: `{name: f1, alias: a, newAlias: b}`, want: "alias: alias and newAlias are all set: they are names of the same field, keep one"},
		{name: "two names", config: `{name: f1, freightID: f2, alias: a}`, want: "name: freightID and name are all set"},
		{name: "empty alias", config: `{name: f1, alias: ""}`, want: "/alias"},
		{name: "alias taken", config: `{name: f1, alias: taken}`,
			want: `alias "taken": another Freight of project "demo" has it: choose another alias`},
		{name: "unknown Freight", config: `{name: f9, alias: x}`,
			want: `name "f9": no such Freight in project "demo": give the Freight's name (its ID), not an alias`},
		{name: "no Freight to default to", config: `{alias: x}`,
			want: "name: not set, and the promotion names no Freight being promoted"},
	})
}

func TestSetFreightAlias(t *testing.T) {
	w := newRecordedMetadata()
	res := runTwice(t, NewSetFreightAlias(w), t.TempDir(), `{freightName: f1, newAlias: candidate-for-staging}`)
	if res.Status != "Succeeded" || res.Message != `Freight f1 is now "candidate-for-staging"` || w.aliases["demo/f1"] != "candidate-for-staging" {
		t.Fatalf("got %#v, aliases %v", res, w.aliases)
	}

	// Without a name, the Freight being promoted gets the alias.
	sc := stepContext(t, t.TempDir(), `{alias: release-1}`)
	sc.TargetFreight = kargoapi.FreightReference{Name: "f2"}
	for range 2 {
		if res, err := NewSetFreightAlias(w).Run(t.Context(), sc); err != nil || res.Status != "Succeeded" {
			t.Fatalf("got %#v, %v", res, err)
		}
	}
	if w.aliases["demo/f2"] != "release-1" {
		t.Fatalf("aliases %v", w.aliases)
	}
	// Without a target, the only Freight of the collection.
	sc = stepContext(t, t.TempDir(), `{alias: release-2}`)
	sc.Freight = kargoapi.FreightCollection{Freight: map[string]kargoapi.FreightReference{"Warehouse/app": {Name: "f1"}}}
	if _, err := NewSetFreightAlias(w).Run(t.Context(), sc); err != nil || w.aliases["demo/f1"] != "release-2" {
		t.Fatalf("aliases %v, %v", w.aliases, err)
	}
	want := []string{"alias demo/f1=candidate-for-staging", "alias demo/f1=candidate-for-staging", "alias demo/f2=release-1", "alias demo/f2=release-1", "alias demo/f1=release-2"}
	if !reflect.DeepEqual(w.calls, want) {
		t.Fatalf("calls %q, want %q", w.calls, want)
	}
}
