package testserver

// Helm chart fixtures: a classic chart repository (index.yaml plus .tgz
// archives behind http.FileServer) and Helm charts pushed to the OCI
// registry as Helm itself pushes them.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// Helm's OCI media types.
const (
	HelmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	HelmChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// helmFixtureTime is the fixed date in chart archives and index entries, so
// that the same chart always has the same digest.
var helmFixtureTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// HelmRepoOptions configure NewHelmRepo.
type HelmRepoOptions struct {
	// Username and Password, when Username is set, make every request need
	// HTTP basic authentication with them (401 otherwise).
	Username string
	Password string
	// NoETag serves index.yaml without an ETag, so that clients can only
	// revalidate it with If-Modified-Since.
	NoETag bool
}

// HelmRequest is one request the repository answered.
type HelmRequest struct {
	Path   string
	Status int
}

// HelmRepo is a classic Helm chart repository: index.yaml and one .tgz per
// chart version in a temporary directory, served over HTTP by
// http.FileServer on 127.0.0.1. index.yaml carries Last-Modified and (unless
// NoETag) an ETag, and conditional requests get 304 Not Modified. The server
// stops when the test ends.
type HelmRepo struct {
	dir  string
	opts HelmRepoOptions
	srv  *httptest.Server

	mu       sync.Mutex
	modTime  time.Time // index.yaml's Last-Modified
	requests []HelmRequest
}

// NewHelmRepo serves charts, a map from chart name to its versions, as a
// classic chart repository.
func NewHelmRepo(tb testing.TB, charts map[string][]string, opts HelmRepoOptions) *HelmRepo {
	tb.Helper()
	r := &HelmRepo{dir: tb.TempDir(), opts: opts}
	r.SetCharts(tb, charts)
	r.srv = httptest.NewServer(r.handler(http.FileServer(http.Dir(r.dir))))
	tb.Cleanup(r.srv.Close)
	return r
}

// URL is the repository's URL, "http://127.0.0.1:PORT", to which Helm
// appends /index.yaml.
func (r *HelmRepo) URL() string { return r.srv.URL }

// Close stops the server: its address then refuses connections.
func (r *HelmRepo) Close() { r.srv.Close() }

// SetCharts replaces the repository's content with charts and writes a new
// index.yaml whose Last-Modified is at least a second after the previous
// one (HTTP dates have whole seconds), so clients see the change.
func (r *HelmRepo) SetCharts(tb testing.TB, charts map[string][]string) {
	tb.Helper()
	index, err := r.writeCharts(charts)
	if err != nil {
		tb.Fatalf("write chart repository: %v", err)
	}
	r.WriteIndex(tb, index)
}

// WriteIndex replaces index.yaml with content as given, for tests of
// unusual index files; the archives stay as they are.
func (r *HelmRepo) WriteIndex(tb testing.TB, content []byte) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	// Write aside and rename, so a request never reads half a file.
	tmp := filepath.Join(r.dir, ".index.yaml.tmp")
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		tb.Fatalf("write index.yaml: %v", err)
	}
	next := time.Now().Truncate(time.Second)
	if !next.After(r.modTime) {
		next = r.modTime.Add(time.Second)
	}
	r.modTime = next
	if err := os.Chtimes(tmp, next, next); err != nil {
		tb.Fatalf("set index.yaml's modification time: %v", err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, "index.yaml")); err != nil {
		tb.Fatalf("replace index.yaml: %v", err)
	}
}

// Requests returns the requests answered so far, oldest first.
func (r *HelmRepo) Requests() []HelmRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// IndexStatuses returns the status codes of the index.yaml requests
// answered so far, oldest first.
func (r *HelmRepo) IndexStatuses() []int {
	var out []int
	for _, req := range r.Requests() {
		if req.Path == "/index.yaml" {
			out = append(out, req.Status)
		}
	}
	return out
}

func (r *HelmRepo) handler(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			r.mu.Lock()
			r.requests = append(r.requests, HelmRequest{Path: req.URL.Path, Status: sw.status})
			r.mu.Unlock()
		}()
		if r.opts.Username != "" {
			u, p, ok := req.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.opts.Username)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(r.opts.Password)) != 1 {
				sw.Header().Set("WWW-Authenticate", `Basic realm="caravan-test"`)
				http.Error(sw, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if req.URL.Path == "/index.yaml" {
			r.mu.Lock()
			b, err := os.ReadFile(filepath.Join(r.dir, "index.yaml"))
			modTime := r.modTime
			r.mu.Unlock()
			if err != nil {
				http.Error(sw, err.Error(), http.StatusInternalServerError)
				return
			}
			if !r.opts.NoETag {
				sum := sha256.Sum256(b)
				sw.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
			}
			sw.Header().Set("Content-Type", "application/x-yaml")
			// ServeContent answers If-None-Match and If-Modified-Since with 304.
			http.ServeContent(sw, req, "index.yaml", modTime, bytes.NewReader(b))
			return
		}
		files.ServeHTTP(sw, req)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// helmIndex is the part of a chart repository index Helm writes that
// clients read.
type helmIndex struct {
	APIVersion string                      `json:"apiVersion"`
	Entries    map[string][]helmIndexEntry `json:"entries"`
	Generated  time.Time                   `json:"generated"`
}

type helmIndexEntry struct {
	APIVersion  string    `json:"apiVersion"`
	Created     time.Time `json:"created"`
	Description string    `json:"description"`
	Digest      string    `json:"digest"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	URLs        []string  `json:"urls"`
	Version     string    `json:"version"`
}

// writeCharts writes an archive per chart version and returns the index
// listing them, serialized as Helm serializes it (sigs.k8s.io/yaml). Each
// chart's versions keep the order given.
func (r *HelmRepo) writeCharts(charts map[string][]string) ([]byte, error) {
	idx := helmIndex{APIVersion: "v1", Entries: map[string][]helmIndexEntry{}, Generated: helmFixtureTime}
	for chart, versions := range charts {
		entries := make([]helmIndexEntry, 0, len(versions))
		for _, v := range versions {
			tgz, err := ChartArchive(chart, v)
			if err != nil {
				return nil, err
			}
			file := chart + "-" + v + ".tgz"
			if err := os.WriteFile(filepath.Join(r.dir, file), tgz, 0o644); err != nil {
				return nil, fmt.Errorf("write %s: %w", file, err)
			}
			sum := sha256.Sum256(tgz)
			entries = append(entries, helmIndexEntry{
				APIVersion: "v2", Created: helmFixtureTime, Description: "A test chart: " + chart + ".",
				Digest: hex.EncodeToString(sum[:]), Name: chart, Type: "application",
				URLs: []string{file}, Version: v,
			})
		}
		idx.Entries[chart] = entries
	}
	b, err := yaml.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("serialize index.yaml: %w", err)
	}
	return b, nil
}

// ChartArchive returns a packaged chart (.tgz) named chart at version: a
// Chart.yaml, a values.yaml and a ConfigMap template, under the directory
// chart/ as `helm package` lays it out. The same arguments give the same
// bytes.
func ChartArchive(chart, version string) ([]byte, error) {
	files := []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %q\ntype: application\n"+
			"description: A test chart.\nappVersion: %q\n", chart, version, version)},
		{"values.yaml", "message: hello\n"},
		{"templates/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n" +
			"  name: {{ .Release.Name }}-" + chart + "\ndata:\n  message: {{ .Values.message | quote }}\n" +
			"  version: {{ .Chart.Version | quote }}\n"},
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.ModTime = helmFixtureTime
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: path.Join(chart, f.name), Mode: 0o644, Size: int64(len(f.body)),
			ModTime: helmFixtureTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("package chart %s: %w", chart, err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, fmt.Errorf("package chart %s: %w", chart, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("package chart %s: %w", chart, err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("package chart %s: %w", chart, err)
	}
	return buf.Bytes(), nil
}

// ChartTag is the OCI tag Helm pushes a chart version under: "+" (build
// metadata), which tags may not contain, becomes "_".
func ChartTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// PushChart pushes version of a chart to repo (a path such as
// "charts/app"; the chart is named after its last element) as Helm pushes
// it: an OCI manifest whose config is the chart's metadata
// (HelmConfigMediaType) and whose one layer is the packaged chart
// (HelmChartMediaType), tagged ChartTag(version). It returns the manifest's
// digest. Subscriptions refer to it as "oci://" + r.Repo(repo).
func (r *Registry) PushChart(tb testing.TB, repo, version string) string {
	tb.Helper()
	img, err := buildChartArtifact(path.Base(repo), version)
	if err != nil {
		tb.Fatalf("build chart artifact: %v", err)
	}
	ref := r.tagRef(tb, repo, ChartTag(version))
	if err := r.pusher.Push(context.Background(), ref, img); err != nil {
		tb.Fatalf("push chart %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatalf("digest of chart %s: %v", ref, err)
	}
	return d.String()
}

// chartArtifact is a Helm chart as an OCI artifact.
type chartArtifact struct {
	config   []byte
	layer    v1.Layer
	manifest []byte
}

func buildChartArtifact(chart, version string) (v1.Image, error) {
	tgz, err := ChartArchive(chart, version)
	if err != nil {
		return nil, err
	}
	config, err := json.Marshal(map[string]string{"apiVersion": "v2", "name": chart, "version": version, "type": "application"})
	if err != nil {
		return nil, fmt.Errorf("serialize chart config: %w", err)
	}
	layer := static.NewLayer(tgz, HelmChartMediaType)
	layerDigest, err := layer.Digest()
	if err != nil {
		return nil, fmt.Errorf("digest chart layer: %w", err)
	}
	configDigest, _, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, fmt.Errorf("digest chart config: %w", err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: HelmConfigMediaType, Size: int64(len(config)), Digest: configDigest},
		Layers:        []v1.Descriptor{{MediaType: HelmChartMediaType, Size: int64(len(tgz)), Digest: layerDigest}},
		Annotations: map[string]string{
			"org.opencontainers.image.title":   chart,
			"org.opencontainers.image.version": version,
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("serialize chart manifest: %w", err)
	}
	return partial.CompressedToImage(&chartArtifact{config: config, layer: layer, manifest: raw})
}

func (c *chartArtifact) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *chartArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *chartArtifact) RawManifest() ([]byte, error)        { return c.manifest, nil }

func (c *chartArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := c.layer.Digest(); err == nil && d == h {
		return c.layer, nil
	}
	return nil, fmt.Errorf("chart artifact has no layer %s", h)
}
