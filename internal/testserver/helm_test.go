package testserver

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"
)

func helmGet(t *testing.T, url string, header http.Header, user, pass string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestHelmRepoServesIndexAndCharts(t *testing.T) {
	repo := NewHelmRepo(t, map[string][]string{"app": {"1.0.0", "1.1.0+build.1"}, "db": {"0.1.0"}}, HelmRepoOptions{})
	status, hdr, body := helmGet(t, repo.URL()+"/index.yaml", nil, "", "")
	if status != http.StatusOK {
		t.Fatalf("GET index.yaml = %d", status)
	}
	if hdr.Get("ETag") == "" || hdr.Get("Last-Modified") == "" {
		t.Errorf("index.yaml headers lack ETag or Last-Modified: %v", hdr)
	}
	var idx helmIndex
	if err := yaml.Unmarshal(body, &idx); err != nil {
		t.Fatalf("parse index.yaml: %v\n%s", err, body)
	}
	var got []string
	for _, e := range idx.Entries["app"] {
		got = append(got, e.Version)
	}
	if want := []string{"1.0.0", "1.1.0+build.1"}; !slices.Equal(got, want) {
		t.Errorf("app versions = %v, want %v", got, want)
	}

	// Every entry's archive is served and holds the chart.
	e := idx.Entries["app"][1]
	status, _, tgz := helmGet(t, repo.URL()+"/"+e.URLs[0], nil, "", "")
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d", e.URLs[0], status)
	}
	chartYAML := readTarFile(t, tgz, "app/Chart.yaml")
	if !strings.Contains(chartYAML, `version: "1.1.0+build.1"`) {
		t.Errorf("Chart.yaml = %q, want version 1.1.0+build.1", chartYAML)
	}
}

func TestHelmRepoConditionalRequests(t *testing.T) {
	tests := []struct {
		name     string
		opts     HelmRepoOptions
		validate func(h http.Header) http.Header
	}{
		{"etag", HelmRepoOptions{}, func(h http.Header) http.Header {
			return http.Header{"If-None-Match": {h.Get("ETag")}}
		}},
		{"last-modified", HelmRepoOptions{NoETag: true}, func(h http.Header) http.Header {
			return http.Header{"If-Modified-Since": {h.Get("Last-Modified")}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := NewHelmRepo(t, map[string][]string{"app": {"1.0.0"}}, tt.opts)
			_, hdr, _ := helmGet(t, repo.URL()+"/index.yaml", nil, "", "")
			if tt.opts.NoETag && hdr.Get("ETag") != "" {
				t.Fatalf("NoETag repository sent ETag %s", hdr.Get("ETag"))
			}
			if status, _, _ := helmGet(t, repo.URL()+"/index.yaml", tt.validate(hdr), "", ""); status != http.StatusNotModified {
				t.Errorf("unchanged index: status %d, want 304", status)
			}
			repo.SetCharts(t, map[string][]string{"app": {"1.0.0", "2.0.0"}})
			status, _, body := helmGet(t, repo.URL()+"/index.yaml", tt.validate(hdr), "", "")
			if status != http.StatusOK || !strings.Contains(string(body), "2.0.0") {
				t.Errorf("changed index: status %d, want 200 with 2.0.0", status)
			}
			if got, want := repo.IndexStatuses(), []int{200, 304, 200}; !slices.Equal(got, want) {
				t.Errorf("IndexStatuses = %v, want %v", got, want)
			}
		})
	}
}

func TestHelmRepoBasicAuth(t *testing.T) {
	repo := NewHelmRepo(t, map[string][]string{"app": {"1.0.0"}}, HelmRepoOptions{Username: "u", Password: "p"})
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"u", "wrong", 401}, {"u", "p", 200}} {
		if status, _, _ := helmGet(t, repo.URL()+"/index.yaml", nil, tc.user, tc.pass); status != tc.want {
			t.Errorf("GET as %q/%q = %d, want %d", tc.user, tc.pass, status, tc.want)
		}
	}
}

func TestRegistryPushChart(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{Username: "u", Password: "p"})
	reg.PushChart(t, "charts/app", "1.0.0")
	digest := reg.PushChart(t, "charts/app", "1.1.0+build.7")

	auth := remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})
	repo, err := name.NewRepository(reg.Repo("charts/app"))
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo, auth, remote.WithContext(context.Background()))
	if err != nil {
		t.Fatalf("list tags: %v", err)
	}
	slices.Sort(tags)
	if want := []string{"1.0.0", "1.1.0_build.7"}; !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}
	desc, err := remote.Get(repo.Tag("1.1.0_build.7"), auth)
	if err != nil {
		t.Fatalf("get chart manifest: %v", err)
	}
	if desc.Digest.String() != digest {
		t.Errorf("tag digest %s, PushChart returned %s", desc.Digest, digest)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != HelmConfigMediaType || len(m.Layers) != 1 || m.Layers[0].MediaType != HelmChartMediaType {
		t.Errorf("manifest media types: config %s, layers %v", m.Config.MediaType, m.Layers)
	}
	layer, err := remote.Layer(repo.Digest(m.Layers[0].Digest.String()), auth)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tgz, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTarFile(t, tgz, "app/Chart.yaml"); !strings.Contains(got, "name: app") {
		t.Errorf("pushed chart's Chart.yaml = %q", got)
	}
}

func readTarFile(t *testing.T, tgz []byte, name string) string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in archive: %v", name, err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
