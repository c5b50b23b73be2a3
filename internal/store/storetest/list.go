package storetest

import (
	"reflect"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/store"
)

func testListSorted(t *testing.T, s store.Store) {
	for _, k := range [][2]string{{"p2", "b"}, {"p1", "c"}, {"p1", "a"}, {"p2", "a"}, {"p1", "b"}} {
		mustCreate(t, s, stage(k[0], k[1]))
	}
	mustCreate(t, s, freight("p1", "zz", "x", "w")) // another kind
	all := mustList(t, s, "Stage", "", store.ListOptions{})
	equalStrings(t, "all namespaces", names(all), []string{"p1/a", "p1/b", "p1/c", "p2/a", "p2/b"})
	if all.GetAPIVersion() != kargo || all.GetKind() != "StageList" {
		t.Errorf("list is %s %s, want %s StageList", all.GetAPIVersion(), all.GetKind(), kargo)
	}
	if all.GetResourceVersion() == "" {
		t.Error("list has no resourceVersion")
	}
	equalStrings(t, "namespace p1", names(mustList(t, s, "Stage", "p1", store.ListOptions{})), []string{"p1/a", "p1/b", "p1/c"})
	equalStrings(t, "namespace p3", names(mustList(t, s, "Stage", "p3", store.ListOptions{})), nil)
	for _, p := range []string{"beta", "alpha"} {
		mustCreate(t, s, project(p))
	}
	equalStrings(t, "projects", names(mustList(t, s, "Project", "", store.ListOptions{})), []string{"alpha", "beta"})
	for _, it := range all.Items {
		if it.GetResourceVersion() == "" || it.GetUID() == "" {
			t.Errorf("item %s lacks server metadata", key(&it))
		}
	}
}

// testListSnapshot checks that a list's resourceVersion is the snapshot its
// items come from: a watch from it sees exactly the later changes.
func testListSnapshot(t *testing.T, s store.Store) {
	mustCreate(t, s, stage("p1", "a"))
	l := mustList(t, s, "Stage", "p1", store.ListOptions{})
	mustCreate(t, s, stage("p1", "b"))
	w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: l.GetResourceVersion()})
	expect(t, w, watch.Added, "p1/b")

	_, rv, err := s.ListRaw(ctx(t), "Stage", "p1", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, stage("p1", "c"))
	w = mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: rv})
	expect(t, w, watch.Added, "p1/c")
}

func testListRaw(t *testing.T, s store.Store) {
	for _, n := range []string{"f3", "f1", "f2"} {
		cur := mustCreate(t, s, withLabels(freight("p1", n, "alias-"+n, "w"), "n", n))
		cur.Object["status"] = map[string]any{"verifiedIn": map[string]any{"uat": map[string]any{}}}
		if _, err := s.UpdateStatus(ctx(t), cur); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, s, freight("p2", "f0", "x", "w"))
	sel := store.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{"n": "f2"})}
	for _, opts := range []store.ListOptions{{}, sel} {
		list := mustList(t, s, "Freight", "p1", opts)
		raw, rv, err := s.ListRaw(ctx(t), "Freight", "p1", opts)
		if err != nil {
			t.Fatal(err)
		}
		if rv == "" {
			t.Error("ListRaw returned no resourceVersion")
		}
		if len(raw) != len(list.Items) {
			t.Fatalf("ListRaw has %d items, List %d", len(raw), len(list.Items))
		}
		for i, b := range raw {
			var u unstructured.Unstructured
			if err := u.UnmarshalJSON(b); err != nil {
				t.Fatalf("item %d is not an object: %v", i, err)
			}
			if !reflect.DeepEqual(u.Object, list.Items[i].Object) {
				t.Errorf("ListRaw item %d = %s\nList item = %s", i, b, jsonOf(list.Items[i].Object))
			}
		}
	}
}

func testLabelSelector(t *testing.T, s store.Store) {
	mustCreate(t, s, withLabels(stage("p1", "a"), "app", "a", "tier", "web"))
	mustCreate(t, s, withLabels(stage("p1", "b"), "app", "b"))
	mustCreate(t, s, withLabels(stage("p1", "c"), "tier", "web"))
	mustCreate(t, s, stage("p1", "d"))
	mustCreate(t, s, withLabels(stage("p2", "a"), "app", "a"))
	for _, tc := range []struct {
		sel, ns string
		want    []string
	}{
		{"app=a", "p1", []string{"p1/a"}},
		{"app=a", "", []string{"p1/a", "p2/a"}},
		{"app in (a,b)", "p1", []string{"p1/a", "p1/b"}},
		{"!app", "p1", []string{"p1/c", "p1/d"}},
		{"app!=a", "p1", []string{"p1/b", "p1/c", "p1/d"}},
		{"app,tier=web", "p1", []string{"p1/a"}},
		{"app=zzz", "", nil},
		{"", "p1", []string{"p1/a", "p1/b", "p1/c", "p1/d"}},
	} {
		sel, err := labels.Parse(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		opts := store.ListOptions{LabelSelector: sel}
		equalStrings(t, "list "+tc.sel, names(mustList(t, s, "Stage", tc.ns, opts)), tc.want)
		raw, _, err := s.ListRaw(ctx(t), "Stage", tc.ns, opts)
		if err != nil || len(raw) != len(tc.want) {
			t.Errorf("ListRaw %q: %d items, err %v; want %d", tc.sel, len(raw), err, len(tc.want))
		}
	}
}

func testFieldSelector(t *testing.T, s store.Store) {
	mustCreate(t, s, promotion("p1", "pr1", "uat"))
	mustCreate(t, s, promotion("p1", "pr2", "prod"))
	mustCreate(t, s, withLabels(promotion("p1", "pr3", "uat"), "x", "y"))
	mustCreate(t, s, promotion("p2", "pr4", "uat"))
	mustCreate(t, s, freight("p1", "f1", "tidy-fox", "w1"))
	mustCreate(t, s, freight("p1", "f2", "brave-owl", "w2"))
	mustCreate(t, s, freight("p1", "f3", "calm-cat", "w2"))
	for _, tc := range []struct {
		kind, ns, sel, labels string
		want                  []string
	}{
		{"Promotion", "p1", "spec.stage=uat", "", []string{"p1/pr1", "p1/pr3"}},
		{"Promotion", "", "spec.stage==uat", "", []string{"p1/pr1", "p1/pr3", "p2/pr4"}},
		{"Promotion", "p1", "spec.stage!=uat", "", []string{"p1/pr2"}},
		{"Promotion", "", "metadata.name=pr2", "", []string{"p1/pr2"}},
		{"Promotion", "", "metadata.namespace=p2", "", []string{"p2/pr4"}},
		{"Promotion", "", "spec.stage=uat,metadata.name=pr3", "", []string{"p1/pr3"}},
		{"Promotion", "p1", "spec.stage=uat", "x=y", []string{"p1/pr3"}},
		{"Promotion", "p1", "spec.stage=qa", "", nil},
		{"Freight", "p1", "alias=brave-owl", "", []string{"p1/f2"}},
		{"Freight", "p1", "origin.name=w2", "", []string{"p1/f2", "p1/f3"}},
		{"Freight", "p1", "origin.kind=Warehouse,origin.name=w1", "", []string{"p1/f1"}},
		{"Freight", "p1", "origin.name=w2,alias!=calm-cat", "", []string{"p1/f2"}},
		{"Stage", "p1", "metadata.name=uat", "", nil},
	} {
		fs, err := fields.ParseSelector(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		opts := store.ListOptions{FieldSelector: fs}
		if tc.labels != "" {
			if opts.LabelSelector, err = labels.Parse(tc.labels); err != nil {
				t.Fatal(err)
			}
		}
		equalStrings(t, tc.kind+" "+tc.sel, names(mustList(t, s, tc.kind, tc.ns, opts)), tc.want)
	}
	// Indexed values follow updates.
	f2 := mustGet(t, s, "Freight", "p1", "f2")
	f2.Object["alias"] = "quick-elk"
	mustUpdate(t, s, f2)
	equalStrings(t, "alias after update", names(mustList(t, s, "Freight", "p1",
		store.ListOptions{FieldSelector: fields.OneTermEqualSelector("alias", "quick-elk")})), []string{"p1/f2"})
	equalStrings(t, "old alias after update", names(mustList(t, s, "Freight", "p1",
		store.ListOptions{FieldSelector: fields.OneTermEqualSelector("alias", "brave-owl")})), nil)
}

func testFieldSelectorUnsupported(t *testing.T, s store.Store) {
	_, err := s.List(ctx(t), "Stage", "p1", store.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.shard", "x")})
	wantErr(t, "list by an unindexed field", err, apierrors.IsBadRequest, "")
	_, err = s.Watch(ctx(t), "Promotion", "p1", store.WatchOptions{
		ListOptions: store.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.freight", "x")}})
	wantErr(t, "watch by an unindexed field", err, apierrors.IsBadRequest, "")
}
