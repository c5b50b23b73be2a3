package expr

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// FreightSource is the artifacts of one piece of Freight, or of a
// Warehouse's candidate Freight.
type FreightSource interface {
	Commits() []v1alpha1.GitCommit
	Images() []v1alpha1.Image
	Charts() []v1alpha1.Chart
}

// ArtifactSet returns a FreightSource over the given artifacts.
func ArtifactSet(commits []v1alpha1.GitCommit, images []v1alpha1.Image, charts []v1alpha1.Chart) FreightSource {
	return artifactSet{commits: commits, images: images, charts: charts}
}

// FreightArtifacts returns the artifacts of f as a FreightSource.
func FreightArtifacts(f *v1alpha1.Freight) FreightSource {
	return artifactSet{commits: f.Commits, images: f.Images, charts: f.Charts}
}

// ReferenceArtifacts returns the artifacts of a Freight reference (an entry
// of a Stage's freight collection or a Promotion's freight) as a
// FreightSource.
func ReferenceArtifacts(r v1alpha1.FreightReference) FreightSource {
	return artifactSet{commits: r.Commits, images: r.Images, charts: r.Charts}
}

type artifactSet struct {
	commits []v1alpha1.GitCommit
	images  []v1alpha1.Image
	charts  []v1alpha1.Chart
}

func (a artifactSet) Commits() []v1alpha1.GitCommit { return a.commits }
func (a artifactSet) Images() []v1alpha1.Image      { return a.images }
func (a artifactSet) Charts() []v1alpha1.Chart      { return a.charts }

// Origin is the Freight one origin (a Warehouse) contributes to an
// evaluation. A promotion has one per Freight request of its Stage; a
// Warehouse evaluating its freight creation criteria has a single Origin
// with a zero Origin field.
type Origin struct {
	// Origin names the Warehouse. It is zero for a lone source, which then
	// accepts no origin argument.
	Origin v1alpha1.FreightOrigin
	// Freight is the origin's Freight; nil when none is there yet, in which
	// case lookups that select this origin find nothing.
	Freight FreightSource
	// Subscriptions, when not nil, are the subscriptions of the origin's
	// Warehouse. As in Kargo, they decide which origins could provide a
	// repository when an expression names no origin, so an expression is
	// ambiguous as soon as two Warehouses subscribe to the same repository,
	// whatever Freight they have at the moment. When nil, the Freight's own
	// artifacts decide.
	Subscriptions []v1alpha1.RepoSubscription
}

// FreightFunctions returns imageFrom, commitFrom and chartFrom over the
// Freight of origins, for WithFunctions:
//
//	imageFrom(repoURL[, origin])              → v1alpha1.Image
//	commitFrom(repoURL[, origin])             → v1alpha1.GitCommit
//	chartFrom(repoURL[, chartName][, origin]) → v1alpha1.Chart
//
// Results are the v1alpha1 structs, so expressions read their Go field
// names (.Tag, .Digest, .ID, .Version …). Repository URLs are compared after
// normalization: v1alpha1.NormalizeGitURL for commits,
// v1alpha1.NormalizeChartRepoURL for charts and images (which drops "oci://",
// a tag or digest, and Docker Hub's registry and library/ prefix).
//
// origin is a v1alpha1.FreightOrigin, as warehouse("name") returns (or a map
// with "name" and optional "kind", such as ctx.targetFreight.origin). Without
// one, the single origin that could provide the repository is used, and more
// than one is an error asking for the origin. A lookup that finds nothing
// returns nil, as in Kargo, so imageFrom(r)?.Tag ?? "latest" works; reading
// a field of nil fails, and the error then says which lookup found nothing.
func FreightFunctions(origins ...Origin) []Function {
	l := &lookup{origins: origins}
	return l.functions()
}

// lookup implements the Freight-lookup functions over a set of origins.
type lookup struct {
	origins []Origin
	// commitView, if set, converts a found commit into what expressions see.
	commitView func(v1alpha1.GitCommit) any
}

func (l *lookup) functions() []Function {
	return []Function{
		{Name: "imageFrom", Call: l.imageFrom, Missing: l.missing("imageFrom")},
		{Name: "commitFrom", Call: l.commitFrom, Missing: l.missing("commitFrom")},
		{Name: "chartFrom", Call: l.chartFrom, Missing: l.missing("chartFrom")},
	}
}

// query is one parsed lookup call.
type query struct {
	fn        string // imageFrom, commitFrom or chartFrom
	kind      string // "image", "commit" or "chart"
	repoURL   string // as written
	norm      string // normalized
	chartName string
	origin    *v1alpha1.FreightOrigin
}

func (q *query) call() string {
	args := []string{fmt.Sprintf("%q", q.repoURL)}
	if q.chartName != "" {
		args = append(args, fmt.Sprintf("%q", q.chartName))
	}
	if q.origin != nil {
		args = append(args, fmt.Sprintf("warehouse(%q)", q.origin.Name))
	}
	return q.fn + "(" + strings.Join(args, ", ") + ")"
}

// matchCommit, matchImage and matchChart report whether an artifact is what
// q asks for.
func (q *query) matchCommit(c v1alpha1.GitCommit) bool {
	return normalizeGit(c.RepoURL) == q.norm
}

func (q *query) matchImage(i v1alpha1.Image) bool {
	return normalizeRepo(i.RepoURL) == q.norm
}

func (q *query) matchChart(c v1alpha1.Chart) bool {
	return normalizeRepo(c.RepoURL) == q.norm && (q.chartName == "" || c.Name == q.chartName)
}

// provides reports whether origin o could provide what q asks for.
func (q *query) provides(o Origin) bool {
	if o.Subscriptions != nil {
		for _, s := range o.Subscriptions {
			switch {
			case q.fn == "commitFrom" && s.Git != nil:
				if normalizeGit(s.Git.RepoURL) == q.norm {
					return true
				}
			case q.fn == "imageFrom" && s.Image != nil:
				if normalizeRepo(s.Image.RepoURL) == q.norm {
					return true
				}
			case q.fn == "chartFrom" && s.Chart != nil:
				if normalizeRepo(s.Chart.RepoURL) == q.norm &&
					(q.chartName == "" || s.Chart.Name == q.chartName) {
					return true
				}
			}
		}
		return false
	}
	if o.Freight == nil {
		return false
	}
	switch q.fn {
	case "commitFrom":
		return anyOf(o.Freight.Commits(), q.matchCommit)
	case "imageFrom":
		return anyOf(o.Freight.Images(), q.matchImage)
	}
	return anyOf(o.Freight.Charts(), q.matchChart)
}

func anyOf[T any](items []T, match func(T) bool) bool {
	for _, it := range items {
		if match(it) {
			return true
		}
	}
	return false
}

func (l *lookup) imageFrom(args ...any) (any, error) {
	q, err := parseQuery("imageFrom", args)
	if err != nil {
		return nil, err
	}
	src, err := l.source(q)
	if err != nil || src == nil {
		return nil, err
	}
	for _, img := range src.Images() {
		if q.matchImage(img) {
			return img, nil
		}
	}
	return nil, nil
}

func (l *lookup) commitFrom(args ...any) (any, error) {
	q, err := parseQuery("commitFrom", args)
	if err != nil {
		return nil, err
	}
	src, err := l.source(q)
	if err != nil || src == nil {
		return nil, err
	}
	for _, c := range src.Commits() {
		if q.matchCommit(c) {
			if l.commitView != nil {
				return l.commitView(c), nil
			}
			return c, nil
		}
	}
	return nil, nil
}

func (l *lookup) chartFrom(args ...any) (any, error) {
	q, err := parseQuery("chartFrom", args)
	if err != nil {
		return nil, err
	}
	src, err := l.source(q)
	if err != nil || src == nil {
		return nil, err
	}
	var found *v1alpha1.Chart
	var names []string
	for _, c := range src.Charts() {
		if !q.matchChart(c) {
			continue
		}
		if found == nil {
			found = &c
		}
		if !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
	}
	if len(names) > 1 {
		return nil, fmt.Errorf("%s is ambiguous: the repository has charts %s; name one, e.g. chartFrom(%q, %q)",
			q.call(), quoteAll(names), q.repoURL, names[0])
	}
	if found == nil {
		return nil, nil
	}
	return *found, nil
}

// source picks the Freight q reads from: the named origin's, or the one
// origin that could provide the repository. It returns nil when none can.
func (l *lookup) source(q *query) (FreightSource, error) {
	if q.origin != nil {
		if len(l.origins) == 1 && l.origins[0].Origin.Name == "" {
			return nil, fmt.Errorf("%s: an origin cannot be given here, where the artifacts are a single Warehouse's; drop the origin argument", q.call())
		}
		for _, o := range l.origins {
			if sameOrigin(o.Origin, *q.origin) {
				return o.Freight, nil
			}
		}
		return nil, fmt.Errorf("%s: %s is not an origin of this Freight; the origins are %s",
			q.call(), originString(*q.origin), l.originList())
	}
	var picked []Origin
	for _, o := range l.origins {
		if q.provides(o) {
			picked = append(picked, o)
		}
	}
	switch len(picked) {
	case 0:
		return nil, nil
	case 1:
		return picked[0].Freight, nil
	}
	names := make([]string, len(picked))
	for i, o := range picked {
		names[i] = originString(o.Origin)
	}
	example := fmt.Sprintf("%s(%q, warehouse(%q))", q.fn, q.repoURL, picked[0].Origin.Name)
	if q.chartName != "" {
		example = fmt.Sprintf("%s(%q, %q, warehouse(%q))", q.fn, q.repoURL, q.chartName, picked[0].Origin.Name)
	}
	return nil, fmt.Errorf("%s is ambiguous: Freight from %d origins could provide %s from %s (%s); name the origin, e.g. %s",
		q.call(), len(picked), withArticle(q.kind), q.repoURL, strings.Join(names, ", "), example)
}

// missing returns the explanation of a lookup that found nothing.
func (l *lookup) missing(fn string) func(args ...any) string {
	return func(args ...any) string {
		q, err := parseQuery(fn, args)
		if err != nil {
			return err.Error()
		}
		var have []string
		for _, o := range l.origins {
			if q.origin != nil && !sameOrigin(o.Origin, *q.origin) || o.Freight == nil {
				continue
			}
			switch fn {
			case "commitFrom":
				for _, c := range o.Freight.Commits() {
					have = append(have, c.RepoURL)
				}
			case "imageFrom":
				for _, i := range o.Freight.Images() {
					have = append(have, i.RepoURL)
				}
			default:
				for _, c := range o.Freight.Charts() {
					if c.Name != "" {
						have = append(have, c.RepoURL+" ("+c.Name+")")
					} else {
						have = append(have, c.RepoURL)
					}
				}
			}
		}
		msg := fmt.Sprintf("%s found nothing: there is no %s from %s", q.call(), q.kind, q.repoURL)
		where := "there are"
		if q.origin != nil {
			where = "the Freight from " + originString(*q.origin) + " has"
		}
		if len(have) == 0 {
			return msg + fmt.Sprintf(" (%s no %ss)", where, q.kind)
		}
		sort.Strings(have)
		return msg + fmt.Sprintf(" (%s %ss from %s)", where, q.kind, strings.Join(dedupe(have), ", "))
	}
}

// normalized memoizes URL normalization, which parses URLs and matches
// regular expressions and would otherwise dominate lookups. It is cleared
// when it reaches normalizedMax entries.
var normalized = struct {
	sync.RWMutex
	m map[normKey]string
}{m: map[normKey]string{}}

type normKey struct {
	kind byte // 'g' for Git, 'r' for chart and image repositories
	url  string
}

const normalizedMax = 4096

// normalizeGit is v1alpha1.NormalizeGitURL, memoized.
func normalizeGit(u string) string { return memoNormalize('g', u, v1alpha1.NormalizeGitURL) }

// normalizeRepo is v1alpha1.NormalizeChartRepoURL of the trimmed URL,
// memoized: the comparison form of chart and image repositories.
func normalizeRepo(u string) string {
	return memoNormalize('r', u, func(u string) string { return v1alpha1.NormalizeChartRepoURL(strings.TrimSpace(u)) })
}

func memoNormalize(kind byte, u string, f func(string) string) string {
	key := normKey{kind, u}
	normalized.RLock()
	n, ok := normalized.m[key]
	normalized.RUnlock()
	if ok {
		return n
	}
	n = f(u)
	normalized.Lock()
	if len(normalized.m) >= normalizedMax {
		clear(normalized.m)
	}
	normalized.m[key] = n
	normalized.Unlock()
	return n
}

// parseQuery checks and reads the arguments of a lookup call.
func parseQuery(fn string, args []any) (*query, error) {
	q := &query{fn: fn, kind: strings.TrimSuffix(strings.ToLower(fn), "from")}
	usage := contextFunctions[fn].usage
	if len(args) < 1 || len(args) > contextFunctions[fn].max {
		return nil, fmt.Errorf("%s takes %s, got %d: call it as %s", fn, arity(contextFunctions[fn]), len(args), usage)
	}
	repoURL, ok := args[0].(string)
	if !ok || strings.TrimSpace(repoURL) == "" {
		return nil, fmt.Errorf("%s: repoURL must be a non-empty string, got %s: call it as %s", fn, describe(args[0]), usage)
	}
	q.repoURL = repoURL
	if fn == "commitFrom" {
		q.norm = normalizeGit(repoURL)
	} else {
		q.norm = normalizeRepo(repoURL)
	}
	rest := args[1:]
	if fn == "chartFrom" && len(rest) > 0 {
		if name, ok := rest[0].(string); ok {
			q.chartName = name
			rest = rest[1:]
		} else if len(rest) == 2 {
			return nil, fmt.Errorf("chartFrom: chartName must be a string, got %s: call it as %s", describe(rest[0]), usage)
		}
	}
	if len(rest) > 0 {
		o, ok := asOrigin(rest[0])
		if !ok {
			return nil, fmt.Errorf(`%s: origin must be a Freight origin such as warehouse("name"), got %s: call it as %s`,
				fn, describe(rest[0]), usage)
		}
		q.origin = &o
	}
	return q, nil
}

// asOrigin reads a Freight origin argument.
func asOrigin(v any) (v1alpha1.FreightOrigin, bool) {
	var o v1alpha1.FreightOrigin
	switch x := v.(type) {
	case v1alpha1.FreightOrigin:
		o = x
	case *v1alpha1.FreightOrigin:
		if x == nil {
			return o, false
		}
		o = *x
	case map[string]any:
		name, _ := x["name"].(string)
		kind, _ := x["kind"].(string)
		o = v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKind(kind), Name: name}
	default:
		return o, false
	}
	if o.Kind == "" {
		o.Kind = v1alpha1.FreightOriginKindWarehouse
	}
	return o, o.Name != ""
}

func sameOrigin(a, b v1alpha1.FreightOrigin) bool {
	ka, kb := a.Kind, b.Kind
	if ka == "" {
		ka = v1alpha1.FreightOriginKindWarehouse
	}
	if kb == "" {
		kb = v1alpha1.FreightOriginKindWarehouse
	}
	return ka == kb && a.Name == b.Name
}

func originString(o v1alpha1.FreightOrigin) string {
	if o.Kind == "" {
		o.Kind = v1alpha1.FreightOriginKindWarehouse
	}
	return o.String()
}

func (l *lookup) originList() string {
	if len(l.origins) == 0 {
		return "none"
	}
	names := make([]string, len(l.origins))
	for i, o := range l.origins {
		names[i] = originString(o.Origin)
	}
	return strings.Join(names, ", ")
}

func withArticle(kind string) string {
	if kind == "image" {
		return "an image"
	}
	return "a " + kind
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " and ")
}
