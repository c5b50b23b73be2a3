package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"reflect"
	"sort"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// admitFreight: on create the name becomes the Freight's ID whatever the
// manifest says, the origin Warehouse must exist and subscribe to every
// artifact (one artifact per subscription), and an alias is generated when
// absent; a given alias must be unused in the project. On update only the
// alias (and status, written elsewhere) may change. The alias is mirrored to
// the kargo.akuity.io/alias label.
func admitFreight(ctx context.Context, r *request, old, f *kargoapi.Freight) (field.ErrorList, error) {
	kargoapi.SetDefaults(f)
	var errs field.ErrorList
	if r.op == Create {
		f.Name = f.GenerateID()
	}
	if !r.ratchet {
		errs = append(errs, kargoapi.ValidateFreight(f)...)
	}
	switch r.op {
	case Create:
		if len(errs) == 0 {
			werrs, err := checkFreightOrigin(ctx, r.lk, f)
			if err != nil {
				return nil, err
			}
			errs = append(errs, werrs...)
		}
	case Update:
		errs = append(errs, freightImmutable(old, f)...)
	}
	if len(errs) > 0 {
		return errs, nil
	}
	if f.Alias == "" && r.op == Create {
		alias, err := uniqueAlias(ctx, r, f.Namespace)
		if err != nil {
			return nil, err
		}
		f.Alias = alias
	} else if f.Alias != "" && (old == nil || old.Alias != f.Alias) {
		if err := checkAliasFree(ctx, r, f); err != nil {
			return nil, err
		}
	}
	if f.Alias != "" {
		f.Labels = setKey(f.Labels, kargoapi.LabelKeyAlias, f.Alias)
	} else {
		f.Labels = deleteKey(f.Labels, kargoapi.LabelKeyAlias)
	}
	return nil, nil
}

// freightImmutable compares every desired-state field but the alias.
func freightImmutable(old, f *kargoapi.Freight) field.ErrorList {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(f).Elem()
	t := ov.Type()
	var errs field.ErrorList
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, inline := jsonName(sf)
		if inline || name == "" || reservedTopLevel[name] || name == "alias" {
			continue
		}
		if !apiequality.Semantic.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			errs = append(errs, field.Forbidden(field.NewPath(name),
				"Freight is immutable: only its alias may change; to promote other artifacts, create new Freight"))
		}
	}
	return errs
}

// checkFreightOrigin checks that the origin Warehouse exists and that the
// artifacts and its subscriptions match one to one, as Kargo does.
func checkFreightOrigin(ctx context.Context, lk Lookup, f *kargoapi.Freight) (field.ErrorList, error) {
	originPath := field.NewPath("origin")
	if f.Origin.Kind != kargoapi.FreightOriginKindWarehouse {
		return field.ErrorList{field.NotSupported(originPath.Child("kind"), f.Origin.Kind,
			[]string{string(kargoapi.FreightOriginKindWarehouse)})}, nil
	}
	u, err := lk.Get(ctx, "Warehouse", f.Namespace, f.Origin.Name)
	if apierrors.IsNotFound(err) {
		return field.ErrorList{notFound(originPath.Child("name"), f.Origin.Name, fmt.Sprintf(
			"Warehouse %q does not exist in project %q: create it first, or correct origin.name",
			f.Origin.Name, f.Namespace))}, nil
	}
	if err != nil {
		return nil, internalError("get warehouse %q: %v", f.Origin.Name, err)
	}
	var w kargoapi.Warehouse
	if err := decodeLenient(u, &w); err != nil {
		return nil, internalError("decode warehouse %q: %v", f.Origin.Name, err)
	}
	return matchSubscriptions(f, &w), nil
}

type artifactKey struct {
	kind string // commits, images, charts, artifacts
	id   string
}

// matchSubscriptions pairs each artifact with the Warehouse subscription to
// its repository: every artifact needs one, and every subscription exactly
// one artifact.
func matchSubscriptions(f *kargoapi.Freight, w *kargoapi.Warehouse) field.ErrorList {
	subs := map[artifactKey]int{}
	var order []artifactKey
	for _, s := range w.Spec.Subscriptions {
		var k artifactKey
		switch {
		case s.Git != nil:
			k = artifactKey{"commits", kargoapi.NormalizeGitURL(s.Git.RepoURL)}
		case s.Image != nil:
			k = artifactKey{"images", s.Image.RepoURL}
		case s.Chart != nil:
			k = artifactKey{"charts", chartKey(s.Chart.RepoURL, s.Chart.Name)}
		case s.Generic != nil:
			k = artifactKey{"artifacts", s.Generic.Name}
		default:
			continue
		}
		subs[k] = 0
		order = append(order, k)
	}
	var errs field.ErrorList
	see := func(p *field.Path, k artifactKey, what string) {
		if _, ok := subs[k]; !ok {
			errs = append(errs, field.Invalid(p, k.id, fmt.Sprintf(
				"Warehouse %q has no subscription to this %s: add one to the Warehouse, or set origin to the Warehouse that found it",
				w.Name, what)))
			return
		}
		subs[k]++
	}
	for i, c := range f.Commits {
		see(field.NewPath("commits").Index(i).Child("repoURL"), artifactKey{"commits", kargoapi.NormalizeGitURL(c.RepoURL)}, "Git repository")
	}
	for i, img := range f.Images {
		see(field.NewPath("images").Index(i).Child("repoURL"), artifactKey{"images", img.RepoURL}, "image repository")
	}
	for i, c := range f.Charts {
		see(field.NewPath("charts").Index(i).Child("repoURL"), artifactKey{"charts", chartKey(c.RepoURL, c.Name)}, "chart")
	}
	for i, a := range f.Artifacts {
		see(field.NewPath("artifacts").Index(i).Child("subscriptionName"), artifactKey{"artifacts", a.SubscriptionName}, "subscription name")
	}
	for _, k := range order {
		switch n := subs[k]; {
		case n == 0:
			errs = append(errs, field.Required(field.NewPath(k.kind), fmt.Sprintf(
				"Warehouse %q subscribes to %q but the Freight has no artifact from it: Freight carries one artifact per subscription of its Warehouse",
				w.Name, k.id)))
		case n > 1:
			errs = append(errs, field.Invalid(field.NewPath(k.kind), k.id, fmt.Sprintf(
				"%d artifacts come from the same subscription of Warehouse %q: keep one", n, w.Name)))
		}
	}
	return errs
}

func chartKey(repoURL, name string) string {
	return path.Join(kargoapi.NormalizeChartRepoURL(repoURL), name)
}

// uniqueAlias picks an adjective-animal alias unused in the namespace.
func uniqueAlias(ctx context.Context, r *request, ns string) (string, error) {
	for attempt := 0; attempt < aliasAttempts; attempt++ {
		var alias string
		r.adm.withRand(func(rnd *rand.Rand) { alias = aliasCandidate(rnd, attempt) })
		used, err := freightByAlias(ctx, r.lk, ns, alias)
		if err != nil {
			return "", err
		}
		if len(used) == 0 {
			return alias, nil
		}
	}
	return "", internalError("generate a Freight alias: no unused alias found in %d attempts; set alias in the manifest", aliasAttempts)
}

// checkAliasFree refuses an alias another Freight of the project has, with a
// 409 Conflict as Kargo answers.
func checkAliasFree(ctx context.Context, r *request, f *kargoapi.Freight) error {
	used, err := freightByAlias(ctx, r.lk, f.Namespace, f.Alias)
	if err != nil {
		return err
	}
	for _, other := range used {
		if other.GetName() != f.Name {
			return conflict(r.info, f.Name, fmt.Sprintf(
				"alias %q is already used by Freight %q in project %q: choose another alias, or omit it to have one generated",
				f.Alias, other.GetName(), f.Namespace))
		}
	}
	return nil
}

// freightByAlias lists the Freight of ns whose alias is alias: by the alias
// field index, and by the alias label for Freight written before it existed.
func freightByAlias(ctx context.Context, lk Lookup, ns, alias string) ([]unstructured.Unstructured, error) {
	l, err := lk.List(ctx, "Freight", ns, store.ListOptions{FieldSelector: fields.OneTermEqualSelector("alias", alias)})
	if err != nil {
		return nil, internalError("list freight by alias %q: %v", alias, err)
	}
	return l.Items, nil
}

// checkFreightDeletable refuses (403) to delete Freight that is the current
// Freight of a Stage — in the newest entry of the Stage's freight history —
// unless the Freight's project is gone or being deleted.
func checkFreightDeletable(ctx context.Context, lk Lookup, info *kinds.Info, ns, name string) error {
	if _, err := lk.Get(ctx, "Freight", ns, name); err != nil {
		// A missing Freight is the store's to report.
		if apierrors.IsNotFound(err) {
			return nil
		}
		return internalError("get freight %q: %v", name, err)
	}
	deleting, err := projectDeleting(ctx, lk, ns)
	if err != nil || deleting {
		return err
	}
	stages, err := lk.List(ctx, "Stage", ns, store.ListOptions{})
	if err != nil {
		return internalError("list stages of project %q: %v", ns, err)
	}
	var users []string
	for i := range stages.Items {
		if currentFreight(&stages.Items[i])[name] {
			users = append(users, fmt.Sprintf("%q", stages.Items[i].GetName()))
		}
	}
	if len(users) == 0 {
		return nil
	}
	sort.Strings(users)
	return forbidden(info, name, fmt.Sprintf(
		"Freight in use: it is the current Freight of Stage %s; promote other Freight into %s first, or delete the project",
		strings.Join(users, ", "), pluralIt(len(users))))
}

func pluralIt(n int) string {
	if n == 1 {
		return "that Stage"
	}
	return "those Stages"
}

// currentFreight returns the names of the Freight in a Stage's current
// freight collection (status.freightHistory[0].items[*].name).
func currentFreight(stage *unstructured.Unstructured) map[string]bool {
	hist, ok, _ := unstructured.NestedSlice(stage.Object, "status", "freightHistory")
	if !ok || len(hist) == 0 {
		return nil
	}
	first, ok := hist[0].(map[string]any)
	if !ok {
		return nil
	}
	items, ok, _ := unstructured.NestedMap(first, "items")
	if !ok {
		return nil
	}
	names := map[string]bool{}
	for _, it := range items {
		if ref, ok := it.(map[string]any); ok {
			if n, ok := ref["name"].(string); ok {
				names[n] = true
			}
		}
	}
	return names
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func deleteKey(m map[string]string, k string) map[string]string {
	delete(m, k)
	if len(m) == 0 {
		return nil
	}
	return m
}
