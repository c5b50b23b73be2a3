package v1alpha1

import (
	"crypto/sha1" //nolint:gosec // Kargo's IDs are SHA-1; they identify, they do not protect.
	"encoding/hex"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// GenerateID computes the Freight's ID, which is also its name, the way
// Kargo does: the lowercase hex SHA-1 of
//
//	"<origin kind>/<origin name>:" + join(sort(parts), "|")
//
// with one part per artifact:
//
//   - commit: NormalizeGitURL(repoURL) + ":" + id, or
//     NormalizeGitURL(repoURL) + ":" + tag + ":" + id when it has a tag;
//   - image: repoURL + ":" + tag + "@" + digest, repoURL as written;
//   - chart: path.Join(NormalizeChartRepoURL(repoURL), name) + ":" + version;
//   - generic artifact: artifactType + ":" + subscriptionName + ":" + version.
//
// Commit, image and chart parts get ":" + subscriptionName appended when the
// artifact records one. The ID depends only on the origin and the artifacts,
// so the same artifacts from the same Warehouse always make the same Freight.
func (f *Freight) GenerateID() string {
	parts := make([]string, 0, len(f.Commits)+len(f.Images)+len(f.Charts)+len(f.Artifacts))
	for _, c := range f.Commits {
		parts = append(parts, commitIDPart(c))
	}
	for _, img := range f.Images {
		parts = append(parts, withSubscription(img.RepoURL+":"+img.Tag+"@"+img.Digest, img.SubscriptionName))
	}
	for _, ch := range f.Charts {
		// path.Join also copes with the empty name of an OCI chart.
		part := path.Join(NormalizeChartRepoURL(ch.RepoURL), ch.Name) + ":" + ch.Version
		parts = append(parts, withSubscription(part, ch.SubscriptionName))
	}
	for _, a := range f.Artifacts {
		parts = append(parts, a.ArtifactType+":"+a.SubscriptionName+":"+a.Version)
	}
	slices.Sort(parts)
	return sha1Hex(f.Origin.String() + ":" + strings.Join(parts, "|"))
}

func commitIDPart(c GitCommit) string {
	part := NormalizeGitURL(c.RepoURL) + ":"
	if c.Tag != "" {
		// One commit can carry several tags over time; each tag is new Freight.
		part += c.Tag + ":"
	}
	return withSubscription(part+c.ID, c.SubscriptionName)
}

func withSubscription(part, subscription string) string {
	if subscription == "" {
		return part
	}
	return part + ":" + subscription
}

// FreightCollectionID computes the ID of a Stage's freight collection from
// the names of its Freight, as Kargo does: the lowercase hex SHA-1 of the
// sorted names joined by ",". The input is not modified.
func FreightCollectionID(names []string) string {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	return sha1Hex(strings.Join(sorted, ","))
}

// FreightNames returns the names of the collection's Freight.
func (c *FreightCollection) FreightNames() []string {
	names := make([]string, 0, len(c.Freight))
	for _, ref := range c.Freight {
		names = append(names, ref.Name)
	}
	return names
}

// UpdateOrPush records each reference under its origin (replacing the
// Freight of that origin) and recomputes the collection's ID.
func (c *FreightCollection) UpdateOrPush(refs ...FreightReference) {
	if c.Freight == nil {
		c.Freight = make(map[string]FreightReference, len(refs))
	}
	for _, ref := range refs {
		c.Freight[ref.Origin.String()] = ref
	}
	c.ID = FreightCollectionID(c.FreightNames())
}

// Current returns the Stage's current freight collection, or nil.
func (h FreightHistory) Current() *FreightCollection {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// Record puts collections at the front of the history, most recent first,
// and keeps at most FreightHistoryLimit entries.
func (h *FreightHistory) Record(collections ...*FreightCollection) {
	next := append(slices.Clone(collections), *h...)
	if len(next) > FreightHistoryLimit {
		next = next[:FreightHistoryLimit]
	}
	*h = next
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s)) //nolint:gosec // see the import.
	return hex.EncodeToString(sum[:])
}

// scpURLPattern matches scp-style Git addresses: [user@]host:path.
var scpURLPattern = regexp.MustCompile(`^(?:([\w.~-]+)@)?([\w-]+(?:\.[\w-]+)*):(.*)$`)

// NormalizeGitURL puts a Git repository URL in the canonical form Kargo uses
// to compare repositories and compute Freight IDs: non-printable characters
// removed, surrounding space trimmed, lowercased; then
//
//   - a URL with a query string is left as it is at that point;
//   - http(s): user info dropped, a trailing "/" then ".git" stripped;
//   - ssh://: a trailing "/" then ".git" stripped, user kept;
//   - scp-style user@host:path: rewritten as ssh://user@host/path and
//     stripped the same way.
//
// Anything it cannot parse is returned cleaned and lowercased.
func NormalizeGitURL(repoURL string) string {
	s := strings.ToLower(strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, repoURL)))
	switch {
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.RawQuery != "" {
			return s
		}
		u.User = nil
		u.Path = trimGitSuffix(u.Path)
		u.RawPath = ""
		return u.String()
	case strings.HasPrefix(s, "ssh://"):
		u, err := url.Parse(s)
		if err != nil || u.RawQuery != "" {
			return s
		}
		u.Path = trimGitSuffix(u.Path)
		u.RawPath = ""
		return u.String()
	case strings.Contains(s, "://"):
		return s
	}
	m := scpURLPattern.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	u := &url.URL{Scheme: "ssh", Host: m[2], Path: "/" + strings.TrimPrefix(m[3], "/")}
	if m[1] != "" {
		u.User = url.User(m[1])
	}
	if strings.Contains(m[3], "?") {
		return s
	}
	u.Path = trimGitSuffix(u.Path)
	return u.String()
}

func trimGitSuffix(p string) string {
	return strings.TrimSuffix(strings.TrimSuffix(p, "/"), ".git")
}

// NormalizeChartRepoURL puts a Helm chart repository URL in the canonical
// form Kargo uses for Freight IDs: lowercased, "oci://" stripped, then
// normalized as an image repository reference ("registry/repository", with
// any tag or digest dropped, and Docker Hub's registry and "library/"
// dropped). A URL that is not an image reference, such as an https chart
// repository, stays as lowercased text.
func NormalizeChartRepoURL(repoURL string) string {
	s := strings.TrimPrefix(strings.ToLower(repoURL), "oci://")
	if ref, ok := normalizeImageRepository(s); ok {
		return ref
	}
	return s
}

// Docker Hub's registry names.
var dockerHubRegistries = map[string]bool{"": true, "docker.io": true, "index.docker.io": true}

// repositoryPattern is the syntax of an image repository path: one or more
// "/"-separated components of lowercase letters, digits and separators.
var repositoryPattern = regexp.MustCompile(`^[a-z0-9_.-]+(/[a-z0-9_.-]+)*$`)

// normalizeImageRepository parses ref as an image reference and returns its
// repository in canonical form; false when ref is not an image reference.
func normalizeImageRepository(ref string) (string, bool) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	registry, repo := "", ref
	if first, rest, found := strings.Cut(ref, "/"); found && strings.ContainsAny(first, ".:") {
		registry, repo = first, rest
	}
	if len(repo) < 2 || len(repo) > 255 || !repositoryPattern.MatchString(repo) {
		return "", false
	}
	if registry != "" {
		if u, err := url.Parse("//" + registry); err != nil || u.Host != registry || u.Hostname() == "" {
			return "", false
		}
	}
	if dockerHubRegistries[registry] {
		return strings.TrimPrefix(repo, "library/"), true
	}
	return registry + "/" + repo, true
}
