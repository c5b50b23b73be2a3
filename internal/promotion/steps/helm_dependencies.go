package steps

// Chart dependencies: what `helm dependency update` and `helm dependency
// build` do, in-process and without a Helm home: resolve each dependency of
// Chart.yaml to a version (from a classic repository's index.yaml, an OCI
// repository's tags, or a file:// directory), fetch the archives into
// charts/, and write Chart.lock with the digest Helm computes, so that the
// helm CLI accepts the result. Nothing is written until every dependency is
// fetched; files whose content is already right are left alone.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// Helm's media type of a chart archive in an OCI artifact, and the older
// one it still reads.
const (
	helmChartLayerType       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	helmLegacyChartLayerType = "application/tar+gzip"
)

// helmMaxDownload bounds an index.yaml or chart archive download.
const helmMaxDownload = 256 << 20

// helmLocalArchiveTime is the modification time of the files in archives
// packaged from file:// dependencies, so that packaging the same directory
// twice gives the same bytes.
var helmLocalArchiveTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// helmDependencies fetches chart dependencies. It is safe for concurrent
// use.
type helmDependencies struct {
	creds  discovery.CredentialsLookup
	client *http.Client
}

func newHelmDependencies(creds discovery.CredentialsLookup, client *http.Client) *helmDependencies {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	return &helmDependencies{creds: creds, client: client}
}

// helmDepRun is one update or build of one chart.
type helmDepRun struct {
	d        *helmDependencies
	ctx      context.Context
	project  string
	workDir  string
	chartDir string // absolute
	display  string // chart path as the config names it

	indexes map[string]*repo.IndexFile // by repository URL
}

// helmDepPlan is what an update or build will write.
type helmDepPlan struct {
	archives map[string][]byte // file name in charts/ → archive
	locals   map[string]bool   // names of dependencies kept in charts/ as directories
	prune    bool              // remove archives in charts/ that were not fetched
	lock     []byte            // new Chart.lock, nil to leave it
	changes  map[string]string // dependency → "old -> new", "new" (added) or "" (removed)
}

// helmChartFile reads and checks Chart.yaml of a chart directory.
func helmChartFile(raw []byte, display string) (*chart.Metadata, error) {
	var md chart.Metadata
	if err := yaml.Unmarshal(raw, &md); err != nil {
		return nil, fmt.Errorf("%s/Chart.yaml is not valid YAML: %w", display, err)
	}
	if err := md.Validate(); err != nil {
		return nil, fmt.Errorf("%s/Chart.yaml: %w", display, err)
	}
	if md.APIVersion == chart.APIVersionV1 {
		return nil, fmt.Errorf("%s/Chart.yaml has apiVersion v1, whose dependencies live in requirements.yaml: "+
			"move them to Chart.yaml under dependencies and set apiVersion: v2", display)
	}
	return &md, nil
}

// helmChartPath resolves a file of the chart directory chartDir, confined
// to the workspace (a symlink leading outside is an error).
func helmChartPath(workDir, chartDir, file string) (string, error) {
	rel, err := filepath.Rel(workDir, filepath.Join(chartDir, file))
	if err != nil {
		return "", err
	}
	return promotion.SecurePath(workDir, rel)
}

// helmReadLock reads Chart.lock of chartDir; nil when there is none.
func helmReadLock(workDir, chartDir, display string) (*chart.Lock, []byte, error) {
	p, err := helmChartPath(workDir, chartDir, "Chart.lock")
	if err != nil {
		return nil, nil, retry.Terminal(err)
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s/Chart.lock: %w", display, err)
	}
	var lock chart.Lock
	if err := yaml.Unmarshal(raw, &lock); err != nil {
		return nil, nil, fmt.Errorf("%s/Chart.lock is not valid YAML: %w: delete it, and it is written anew", display, err)
	}
	return &lock, raw, nil
}

// helmLockDigest is Helm's digest of a chart's dependencies and their
// resolution: the SHA-256 of the JSON of [requested, locked].
func helmLockDigest(req, locked []*chart.Dependency) (string, error) {
	b, err := json.Marshal([2][]*chart.Dependency{req, locked})
	if err != nil {
		return "", fmt.Errorf("compute Chart.lock digest: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// update resolves the dependencies of md (the chart's Chart.yaml, maybe
// edited) anew, as `helm dependency update` does.
func (r *helmDepRun) update(md *chart.Metadata) (*helmDepPlan, error) {
	plan := &helmDepPlan{archives: map[string][]byte{}, locals: map[string]bool{}}
	oldLock, _, err := helmReadLock(r.workDir, r.chartDir, r.display)
	if err != nil {
		return nil, err
	}
	if len(md.Dependencies) == 0 {
		// As Helm: without dependencies, charts/ and Chart.lock stay as they are.
		return plan, nil
	}
	plan.prune = true
	locked := make([]*chart.Dependency, len(md.Dependencies))
	for i, dep := range md.Dependencies {
		field := fmt.Sprintf("dependencies[%d] (%s)", i, dep.Name)
		l, err := r.fetch(dep, dep.Version, plan)
		if err != nil {
			return nil, fmt.Errorf("%s/Chart.yaml %s: %w", r.display, field, err)
		}
		locked[i] = l
	}
	digest, err := helmLockDigest(md.Dependencies, locked)
	if err != nil {
		return nil, err
	}
	if oldLock == nil || oldLock.Digest != digest {
		lock, err := yaml.Marshal(&chart.Lock{Generated: time.Now().UTC(), Digest: digest, Dependencies: locked})
		if err != nil {
			return nil, fmt.Errorf("serialize Chart.lock: %w", err)
		}
		plan.lock = lock
	}
	var before []*chart.Dependency
	if oldLock != nil {
		before = oldLock.Dependencies
	}
	plan.changes = helmCompareLocks(before, locked)
	return plan, nil
}

// build fetches the versions Chart.lock records, as `helm dependency
// build` does; without Chart.lock it updates.
func (r *helmDepRun) build(md *chart.Metadata) (*helmDepPlan, error) {
	lock, _, err := helmReadLock(r.workDir, r.chartDir, r.display)
	if err != nil {
		return nil, err
	}
	if lock == nil || len(md.Dependencies) == 0 {
		return r.update(md)
	}
	digest, err := helmLockDigest(md.Dependencies, lock.Dependencies)
	if err != nil {
		return nil, err
	}
	if digest != lock.Digest {
		return nil, retry.Terminal(fmt.Errorf("%s/Chart.lock is out of sync with the dependencies in Chart.yaml: "+
			"run helm-update-chart (or helm dependency update) and commit the new Chart.lock", r.display))
	}
	plan := &helmDepPlan{archives: map[string][]byte{}, locals: map[string]bool{}, prune: true}
	for i, dep := range lock.Dependencies {
		if dep == nil {
			continue
		}
		if _, err := r.fetch(dep, dep.Version, plan); err != nil {
			return nil, fmt.Errorf("%s/Chart.lock dependencies[%d] (%s): %w", r.display, i, dep.Name, err)
		}
	}
	return plan, nil
}

// fetch resolves dep to a version satisfying constraint and adds its
// archive to plan. It returns the locked dependency.
func (r *helmDepRun) fetch(dep *chart.Dependency, constraint string, plan *helmDepPlan) (*chart.Dependency, error) {
	if dep == nil || dep.Name == "" {
		return nil, retry.Terminal(errors.New("a dependency has no name: give every dependency a name"))
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("version %q is neither a version nor a constraint such as ^1.2.0", constraint))
	}
	repoURL := strings.TrimSpace(dep.Repository)
	switch {
	case repoURL == "":
		return r.local(dep, c, plan)
	case strings.HasPrefix(repoURL, "file://"):
		return r.file(dep, c, plan)
	case strings.HasPrefix(repoURL, "oci://"):
		return r.oci(dep, constraint, c, plan)
	case strings.HasPrefix(repoURL, "http://"), strings.HasPrefix(repoURL, "https://"):
		return r.classic(dep, c, plan)
	case strings.HasPrefix(repoURL, "@"), strings.HasPrefix(repoURL, "alias:"):
		return nil, retry.Terminal(fmt.Errorf("repository %q names a repository added with helm repo add, which promotions "+
			"do not have: write the repository's URL instead", repoURL))
	}
	return nil, retry.Terminal(fmt.Errorf("repository %q is not a chart repository URL: use https://, http://, oci:// or file://", helmRedact(repoURL)))
}

// local checks a dependency that lives in charts/<name> as a directory.
func (r *helmDepRun) local(dep *chart.Dependency, c *semver.Constraints, plan *helmDepPlan) (*chart.Dependency, error) {
	rel, _ := filepath.Rel(r.workDir, filepath.Join(r.chartDir, "charts", dep.Name))
	dir, err := promotion.SecurePath(r.workDir, rel)
	if err != nil {
		return nil, retry.Terminal(err)
	}
	ch, err := helmLoadDir(r.workDir, dir)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("no repository is given, so charts/%s must hold the chart: %w", dep.Name, err))
	}
	if v, err := semver.NewVersion(ch.Metadata.Version); err != nil || !c.Check(v) {
		return nil, retry.Terminal(fmt.Errorf("charts/%s holds version %s, which does not satisfy %q", dep.Name, ch.Metadata.Version, dep.Version))
	}
	plan.locals[dep.Name] = true
	return &chart.Dependency{Name: dep.Name, Repository: "", Version: dep.Version}, nil
}

// file packages a file:// dependency, a directory relative to the chart.
func (r *helmDepRun) file(dep *chart.Dependency, c *semver.Constraints, plan *helmDepPlan) (*chart.Dependency, error) {
	p := filepath.FromSlash(strings.TrimPrefix(dep.Repository, "file://"))
	if filepath.IsAbs(p) {
		return nil, retry.Terminal(fmt.Errorf("repository %s must be relative to the chart, such as file://../common", dep.Repository))
	}
	rel, _ := filepath.Rel(r.workDir, filepath.Join(r.chartDir, p))
	dir, err := promotion.SecurePath(r.workDir, rel)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("repository %s: %w", dep.Repository, err))
	}
	ch, err := helmLoadDir(r.workDir, dir)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("repository %s: %w", dep.Repository, err))
	}
	v, err := semver.NewVersion(ch.Metadata.Version)
	if err != nil || !c.Check(v) {
		return nil, retry.Terminal(fmt.Errorf("repository %s holds version %s, which does not satisfy %q", dep.Repository, ch.Metadata.Version, dep.Version))
	}
	ch.StampModTimes(helmLocalArchiveTime)
	tmp, err := os.MkdirTemp("", "caravan-helm-package-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // a temporary directory
	file, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("package %s: %w", dep.Repository, err))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	plan.archives[filepath.Base(file)] = b
	return &chart.Dependency{Name: dep.Name, Repository: dep.Repository, Version: ch.Metadata.Version}, nil
}

// helmLoadDir loads a chart directory inside the workspace.
func helmLoadDir(workDir, dir string) (*chart.Chart, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("directory %s does not exist", khRel(workDir, dir))
	}
	if err := helmCheckLinks(workDir, dir); err != nil {
		return nil, err
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, khScrubPaths(err, workDir)
	}
	return ch, nil
}

// classic resolves dep in a classic repository's index and downloads it.
func (r *helmDepRun) classic(dep *chart.Dependency, c *semver.Constraints, plan *helmDepPlan) (*chart.Dependency, error) {
	repoURL := strings.TrimSuffix(dep.Repository, "/")
	creds, err := r.lookup(dep.Repository)
	if err != nil {
		return nil, err
	}
	idx, err := r.index(repoURL, creds)
	if err != nil {
		return nil, err
	}
	versions, ok := idx.Entries[dep.Name]
	if !ok {
		return nil, retry.Terminal(fmt.Errorf("chart repository %s has no chart %s: check name and repository", helmRedact(repoURL), dep.Name))
	}
	var found *repo.ChartVersion
	for _, v := range versions {
		sv, err := semver.NewVersion(v.Version)
		if err != nil || len(v.URLs) == 0 {
			continue
		}
		if c.Check(sv) {
			found = v
			break
		}
	}
	if found == nil {
		return nil, retry.Terminal(fmt.Errorf("chart repository %s has no version of %s that satisfies %q: change the version in Chart.yaml",
			helmRedact(repoURL), dep.Name, dep.Version))
	}
	chartURL, err := repo.ResolveReferenceURL(repoURL, found.URLs[0])
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("chart %s %s has a bad URL in index.yaml: %w", dep.Name, found.Version, err))
	}
	file := path.Base(strings.SplitN(chartURL, "?", 2)[0])
	if !strings.HasSuffix(file, ".tgz") {
		file = dep.Name + "-" + found.Version + ".tgz"
	}
	if _, done := plan.archives[file]; !done {
		b, err := r.get(chartURL, repoURL, creds)
		if err != nil {
			return nil, err
		}
		if found.Digest != "" {
			sum := sha256.Sum256(b)
			if want := strings.TrimPrefix(found.Digest, "sha256:"); !strings.EqualFold(hex.EncodeToString(sum[:]), want) {
				return nil, fmt.Errorf("chart %s %s from %s does not match the digest in index.yaml", dep.Name, found.Version, helmRedact(repoURL))
			}
		}
		if err := helmCheckArchive(b, dep.Name); err != nil {
			return nil, retry.Terminal(fmt.Errorf("chart %s %s from %s: %w", dep.Name, found.Version, helmRedact(repoURL), err))
		}
		plan.archives[file] = b
	}
	return &chart.Dependency{Name: dep.Name, Repository: dep.Repository, Version: found.Version}, nil
}

// index fetches (once per run) and parses a repository's index.yaml.
func (r *helmDepRun) index(repoURL string, creds *discovery.Credentials) (*repo.IndexFile, error) {
	if idx, ok := r.indexes[repoURL]; ok {
		return idx, nil
	}
	b, err := r.get(repoURL+"/index.yaml", repoURL, creds)
	if err != nil {
		return nil, err
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, retry.Terminal(fmt.Errorf("index.yaml of chart repository %s is not valid: %w", helmRedact(repoURL), err))
	}
	for name, versions := range idx.Entries {
		kept := versions[:0]
		for _, v := range versions {
			if v != nil && v.Metadata != nil {
				kept = append(kept, v)
			}
		}
		idx.Entries[name] = kept
	}
	idx.SortEntries()
	if r.indexes == nil {
		r.indexes = map[string]*repo.IndexFile{}
	}
	r.indexes[repoURL] = &idx
	return &idx, nil
}

// get downloads u, with creds when u is on the repository's host.
func (r *helmDepRun) get(u, repoURL string, creds *discovery.Credentials) ([]byte, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("fetch %s: %w", helmRedact(u), err))
	}
	req.Header.Set("User-Agent", "caravan")
	if creds != nil && creds.Username != "" && helmSameHost(u, repoURL) {
		req.SetBasicAuth(creds.Username, creds.Password)
	}
	resp, err := r.d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", helmRedact(u), helmScrubURLError(err))
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		hint := "create a Secret labelled kargo.akuity.io/cred-type: helm with repoURL " + helmRedact(repoURL) + ", username and password in the project"
		if creds != nil {
			hint = "check the username and password of the helm credentials Secret that matches " + helmRedact(repoURL)
		}
		return nil, retry.Terminal(fmt.Errorf("fetch %s: HTTP %d: %s", helmRedact(u), resp.StatusCode, hint))
	case resp.StatusCode == http.StatusNotFound:
		return nil, retry.Terminal(fmt.Errorf("fetch %s: HTTP 404: check the repository URL", helmRedact(u)))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %s: HTTP %d", helmRedact(u), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, helmMaxDownload+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", helmRedact(u), err)
	}
	if len(b) > helmMaxDownload {
		return nil, retry.Terminal(fmt.Errorf("fetch %s: larger than %d MiB", helmRedact(u), helmMaxDownload>>20))
	}
	return b, nil
}

// oci resolves dep in an OCI repository (the repository URL plus the
// chart's name) and pulls its archive.
func (r *helmDepRun) oci(dep *chart.Dependency, constraint string, c *semver.Constraints, plan *helmDepPlan) (*chart.Dependency, error) {
	repoPath := strings.TrimSuffix(strings.TrimPrefix(dep.Repository, "oci://"), "/") + "/" + dep.Name
	display := "oci://" + repoPath
	ref, err := name.NewRepository(repoPath)
	if err != nil {
		return nil, retry.Terminal(fmt.Errorf("repository %s with chart %s is not an OCI repository: write it as oci://registry/path", dep.Repository, dep.Name))
	}
	creds, err := r.lookup(display)
	if err != nil {
		return nil, err
	}
	auth := authn.Anonymous
	if creds != nil && creds.Username != "" {
		auth = &authn.Basic{Username: creds.Username, Password: creds.Password}
	}
	tr := r.d.client.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	opts := []remote.Option{remote.WithContext(r.ctx), remote.WithAuth(auth), remote.WithTransport(tr), remote.WithUserAgent("caravan")}

	version := constraint
	if _, err := semver.NewVersion(constraint); err != nil {
		tags, err := remote.List(ref, opts...)
		if err != nil {
			return nil, helmRegistryError(err, "list the versions of "+display, display, creds != nil)
		}
		var versions []*semver.Version
		for _, t := range tags {
			if v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+")); err == nil {
				versions = append(versions, v)
			}
		}
		sort.Sort(sort.Reverse(semver.Collection(versions)))
		version = ""
		for _, v := range versions {
			if c.Check(v) {
				version = v.Original()
				break
			}
		}
		if version == "" {
			return nil, retry.Terminal(fmt.Errorf("%s has no version that satisfies %q: change the version in Chart.yaml", display, constraint))
		}
	}
	file := dep.Name + "-" + version + ".tgz"
	if _, done := plan.archives[file]; !done {
		img, err := remote.Image(ref.Tag(strings.ReplaceAll(version, "+", "_")), opts...)
		if err != nil {
			return nil, helmRegistryError(err, "pull "+display+":"+version, display, creds != nil)
		}
		b, err := helmChartLayer(img)
		if err != nil {
			return nil, fmt.Errorf("pull %s:%s: %w", display, version, err)
		}
		if err := helmCheckArchive(b, dep.Name); err != nil {
			return nil, retry.Terminal(fmt.Errorf("pull %s:%s: %w", display, version, err))
		}
		plan.archives[file] = b
	}
	return &chart.Dependency{Name: dep.Name, Repository: dep.Repository, Version: version}, nil
}

// helmChartLayer returns the chart archive of a Helm OCI artifact.
func helmChartLayer(img v1.Image) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, helmRegistryError(err, "read the manifest", "", false)
	}
	for _, l := range m.Layers {
		if l.MediaType != helmChartLayerType && l.MediaType != helmLegacyChartLayerType {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, helmRegistryError(err, "read the chart layer", "", false)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, helmRegistryError(err, "read the chart layer", "", false)
		}
		defer rc.Close() //nolint:errcheck // read-only
		b, err := io.ReadAll(io.LimitReader(rc, helmMaxDownload+1))
		if err != nil {
			return nil, helmRegistryError(err, "read the chart layer", "", false)
		}
		if len(b) > helmMaxDownload {
			return nil, retry.Terminal(fmt.Errorf("the chart layer is larger than %d MiB", helmMaxDownload>>20))
		}
		return b, nil
	}
	return nil, retry.Terminal(errors.New("the artifact holds no Helm chart layer: push charts with helm push"))
}

// helmCheckArchive checks that b is a chart archive of chart name.
func helmCheckArchive(b []byte, name string) error {
	ch, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not a chart archive: %w", err)
	}
	if ch.Name() != name {
		return fmt.Errorf("the archive holds chart %s, not %s", ch.Name(), name)
	}
	return nil
}

// lookup finds the project's helm credentials for a repository.
func (r *helmDepRun) lookup(repoURL string) (*discovery.Credentials, error) {
	if r.d.creds == nil {
		return nil, nil
	}
	creds, err := r.d.creds.Lookup(r.ctx, r.project, discovery.CredentialTypeHelm, repoURL)
	if err != nil {
		return nil, fmt.Errorf("look up credentials for %s: %w", helmRedact(repoURL), err)
	}
	return creds, nil
}

// apply writes a plan: the archives that differ from what charts/ holds,
// removes archives of dependencies no longer wanted (as Helm does), and
// writes Chart.lock when it changed. It returns the number of files
// written or removed.
func (r *helmDepRun) apply(plan *helmDepPlan) (int, error) {
	changed := 0
	chartsRel, _ := filepath.Rel(r.workDir, filepath.Join(r.chartDir, "charts"))
	names := make([]string, 0, len(plan.archives))
	for n := range plan.archives {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		dir, err := promotion.SecurePath(r.workDir, chartsRel)
		if err != nil {
			return 0, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
	}
	for _, n := range names {
		p, err := promotion.SecurePath(r.workDir, filepath.Join(chartsRel, n))
		if err != nil {
			return changed, err
		}
		w, err := khWriteIfChanged(p, plan.archives[n])
		if err != nil {
			return changed, fmt.Errorf("write charts/%s: %w", n, err)
		}
		changed += w
	}
	// Remove outdated archives: those charts/ holds that this run did not
	// fetch, unless they are dependencies kept as they are.
	dir := filepath.Join(r.chartDir, "charts")
	var entries []os.DirEntry
	var err error
	if plan.prune {
		entries, err = os.ReadDir(dir)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return changed, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".tgz") {
			continue
		}
		if _, keep := plan.archives[e.Name()]; keep {
			continue
		}
		ch, err := loader.LoadFile(filepath.Join(dir, e.Name()))
		if err != nil || plan.locals[ch.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return changed, fmt.Errorf("remove outdated charts/%s: %w", e.Name(), err)
		}
		changed++
	}
	if plan.lock != nil {
		p, err := promotion.SecurePath(r.workDir, filepath.Join(filepath.Dir(chartsRel), "Chart.lock"))
		if err != nil {
			return changed, err
		}
		w, err := khWriteIfChanged(p, plan.lock)
		if err != nil {
			return changed, fmt.Errorf("write Chart.lock: %w", err)
		}
		changed += w
	}
	return changed, nil
}

// build fetches the dependencies of the chart at chartDir as `helm
// dependency build` does, for helm-template's buildDependencies.
func (d *helmDependencies) build(ctx context.Context, sc *promotion.StepContext, chartDir, display string) error {
	fi, err := os.Stat(chartDir)
	if err != nil || !fi.IsDir() {
		return retry.Terminal(fmt.Errorf("path: buildDependencies needs a chart directory, and %s is not one", display))
	}
	chartFile, err := helmChartPath(sc.WorkDir, chartDir, "Chart.yaml")
	if err != nil {
		return retry.Terminal(fmt.Errorf("path: %w", err))
	}
	raw, err := os.ReadFile(chartFile)
	if err != nil {
		return retry.Terminal(fmt.Errorf("path: %s has no Chart.yaml: point path at the chart's directory", display))
	}
	md, err := helmChartFile(raw, display)
	if err != nil {
		return retry.Terminal(err)
	}
	r := &helmDepRun{d: d, ctx: ctx, project: sc.Project, workDir: sc.WorkDir, chartDir: chartDir, display: display}
	plan, err := r.build(md)
	if err != nil {
		return err
	}
	_, err = r.apply(plan)
	return err
}

// helmCompareLocks describes how the locked versions changed, in Kargo's
// words: "old -> new", the new version of an added dependency, "" for a
// removed one.
func helmCompareLocks(before, after []*chart.Dependency) map[string]string {
	old := map[string]string{}
	for _, d := range before {
		if d != nil {
			old[d.Name] = d.Version
		}
	}
	changes := map[string]string{}
	for _, d := range after {
		if v, ok := old[d.Name]; ok {
			if v != d.Version {
				changes[d.Name] = v + " -> " + d.Version
			}
			delete(old, d.Name)
			continue
		}
		changes[d.Name] = d.Version
	}
	for n := range old {
		changes[n] = ""
	}
	return changes
}

// helmRedact drops user information from a URL, for messages.
func helmRedact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = nil
	return p.String()
}

// helmSameHost reports whether two URLs have the same scheme and host.
func helmSameHost(a, b string) bool {
	pa, err1 := url.Parse(a)
	pb, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && pa.Scheme == pb.Scheme && pa.Host == pb.Host
}

// helmScrubURLError removes the URL that *url.Error repeats (it may carry
// user information); messages name the URL once, redacted.
func helmScrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// helmRegistryError words a registry failure; authentication and missing
// repositories are terminal.
func helmRegistryError(err error, doing, credURL string, hadCreds bool) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		code := terr.StatusCode
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode:
				code = http.StatusNotFound
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				code = http.StatusUnauthorized
			}
		}
		switch {
		case (code == http.StatusUnauthorized || code == http.StatusForbidden) && !hadCreds:
			if credURL == "" {
				credURL = "oci://<registry>/<path>/<chart>"
			}
			return retry.Terminal(fmt.Errorf("%s: the registry requires authentication: create a Secret labelled "+
				"kargo.akuity.io/cred-type: helm with repoURL %s, username and password in the project", doing, credURL))
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return retry.Terminal(fmt.Errorf("%s: the registry refused the credentials: check the helm credentials Secret", doing))
		case code == http.StatusNotFound:
			return retry.Terminal(fmt.Errorf("%s: not found in the registry: check the repository, name and version", doing))
		}
		return fmt.Errorf("%s: registry answered HTTP %d", doing, code)
	}
	return fmt.Errorf("%s: %w", doing, helmScrubURLError(err))
}
