package chart_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/discovery/chart"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// discoverCase is one discovery and what it must give.
type discoverCase struct {
	name    string
	sub     v1alpha1.ChartSubscription
	creds   *discovery.Credentials
	want    []string // versions, newest first
	wantErr error    // a discovery kind
	wantMsg string   // a part of the error message
}

func (tc discoverCase) run(t *testing.T, d *chart.Discoverer) {
	t.Helper()
	res, err := d.Discover(t.Context(), &tc.sub, tc.creds)
	if tc.creds != nil && tc.creds.Password != "" && err != nil && strings.Contains(err.Error(), tc.creds.Password) {
		t.Errorf("error reveals the password: %v", err)
	}
	if tc.wantErr != nil {
		t.Logf("error: %v", err)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("Discover error = %v, want kind %v", err, tc.wantErr)
		}
		if !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("Discover error = %q, want it to contain %q", err, tc.wantMsg)
		}
		if errors.Is(err, discovery.ErrNoMatch) && (res == nil || res.Versions == nil || len(res.Versions) != 0) {
			t.Errorf("with ErrNoMatch, result = %+v, want one with no versions", res)
		}
		return
	}
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if !slices.Equal(res.Versions, tc.want) {
		t.Errorf("versions = %q, want %q", res.Versions, tc.want)
	}
	if res.RepoURL != tc.sub.RepoURL || res.Name != tc.sub.Name || res.SemverConstraint != tc.sub.SemverConstraint {
		t.Errorf("result = %+v does not echo the subscription %+v", res, tc.sub)
	}
}

func TestDiscoverClassic(t *testing.T) {
	repo := testserver.NewHelmRepo(t, map[string][]string{
		"app": {"1.0.0", "2.0.0", "v1.1", "1.2.0", "2.1.0-rc.1", "not-a-version", "1.3.0+build.7"},
		"db":  {"0.1.0"},
		"bad": {"latest", "stable"},
	}, testserver.HelmRepoOptions{})
	url := repo.URL()
	d := chart.NewDiscoverer(chart.Options{})
	tests := []discoverCase{
		{
			name: "no constraint: every semantic version, newest first",
			sub:  v1alpha1.ChartSubscription{RepoURL: url, Name: "app"},
			want: []string{"2.1.0-rc.1", "2.0.0", "1.3.0+build.7", "1.2.0", "v1.1", "1.0.0"},
		},
		{
			name: "a constraint that selects",
			sub:  v1alpha1.ChartSubscription{RepoURL: url, Name: "app", SemverConstraint: "^1.1.0"},
			want: []string{"1.3.0+build.7", "1.2.0", "v1.1"},
		},
		{
			name:    "a constraint that selects nothing",
			sub:     v1alpha1.ChartSubscription{RepoURL: url, Name: "app", SemverConstraint: ">=3.0.0"},
			wantErr: discovery.ErrNoMatch,
			wantMsg: `satisfies semverConstraint ">=3.0.0" (the newest is 2.1.0-rc.1)`,
		},
		{
			name: "discoveryLimit",
			sub:  v1alpha1.ChartSubscription{RepoURL: url, Name: "app", DiscoveryLimit: 2},
			want: []string{"2.1.0-rc.1", "2.0.0"},
		},
		{
			name: "a trailing slash on repoURL",
			sub:  v1alpha1.ChartSubscription{RepoURL: url + "/", Name: "db"},
			want: []string{"0.1.0"},
		},
		{
			name:    "no semantic versions at all",
			sub:     v1alpha1.ChartSubscription{RepoURL: url, Name: "bad"},
			wantErr: discovery.ErrNoMatch,
			wantMsg: "none of the 2 versions",
		},
		{
			name:    "a chart the index lacks",
			sub:     v1alpha1.ChartSubscription{RepoURL: url, Name: "cache"},
			wantErr: discovery.ErrNotFound,
			wantMsg: `chart "cache" is not in the index of chart repository ` + url + ": check name; the repository has app, bad, db",
		},
		{
			name:    "a chart name in the wrong case",
			sub:     v1alpha1.ChartSubscription{RepoURL: url, Name: "App"},
			wantErr: discovery.ErrNotFound,
			wantMsg: `did you mean "app"?`,
		},
		{
			name:    "no repository at repoURL",
			sub:     v1alpha1.ChartSubscription{RepoURL: url + "/nowhere", Name: "app"},
			wantErr: discovery.ErrNotFound,
			wantMsg: "no chart repository at " + url + "/nowhere (GET index.yaml answered HTTP 404): check repoURL",
		},
		{
			name:    "an invalid constraint",
			sub:     v1alpha1.ChartSubscription{RepoURL: url, Name: "app", SemverConstraint: "^^1"},
			wantErr: discovery.ErrInvalid,
			wantMsg: `semverConstraint "^^1" of chart subscription ` + url + " is not a semantic version constraint",
		},
		{
			name:    "no name",
			sub:     v1alpha1.ChartSubscription{RepoURL: url},
			wantErr: discovery.ErrInvalid,
			wantMsg: "set name to the chart's name",
		},
		{
			name:    "not a chart repository URL",
			sub:     v1alpha1.ChartSubscription{RepoURL: "ftp://charts.example.com", Name: "app"},
			wantErr: discovery.ErrInvalid,
			wantMsg: "use https://",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, d) })
	}
}

func TestDiscoverClassicAuth(t *testing.T) {
	const user, password = "reader", "s3cret-Pa55"
	repo := testserver.NewHelmRepo(t, map[string][]string{"app": {"1.0.0"}},
		testserver.HelmRepoOptions{Username: user, Password: password})
	d := chart.NewDiscoverer(chart.Options{})
	sub := v1alpha1.ChartSubscription{RepoURL: repo.URL(), Name: "app"}
	tests := []discoverCase{
		{name: "no credentials", sub: sub, wantErr: discovery.ErrAuth,
			wantMsg: "requires authentication (HTTP 401): create a Secret labelled kargo.akuity.io/cred-type: helm"},
		{name: "empty credentials", sub: sub, creds: &discovery.Credentials{}, wantErr: discovery.ErrAuth,
			wantMsg: "requires authentication"},
		{name: "a wrong password", sub: sub, creds: &discovery.Credentials{Username: user, Password: "wrong-" + password},
			wantErr: discovery.ErrAuth, wantMsg: "refused the credentials (HTTP 401)"},
		{name: "the right credentials", sub: sub, creds: &discovery.Credentials{Username: user, Password: password},
			want: []string{"1.0.0"}},
		// The cached index is not served to other credentials.
		{name: "a wrong password after success", sub: sub, creds: &discovery.Credentials{Username: user, Password: "x"},
			wantErr: discovery.ErrAuth, wantMsg: "refused the credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, d) })
	}
}

// TestDiscoverClassicRevalidates checks that an unchanged index is
// revalidated with a conditional request (304, no download) and a changed
// one is fetched again, with ETags and with Last-Modified alone.
func TestDiscoverClassicRevalidates(t *testing.T) {
	for _, opts := range []testserver.HelmRepoOptions{{}, {NoETag: true}} {
		t.Run(map[bool]string{false: "etag", true: "last-modified"}[opts.NoETag], func(t *testing.T) {
			repo := testserver.NewHelmRepo(t, map[string][]string{"app": {"1.0.0"}, "db": {"0.1.0"}}, opts)
			d := chart.NewDiscoverer(chart.Options{})
			steps := []struct {
				name    string
				change  map[string][]string
				chart   string
				want    []string
				wantReq []int
			}{
				{name: "first poll", chart: "app", want: []string{"1.0.0"}, wantReq: []int{200}},
				{name: "unchanged", chart: "app", want: []string{"1.0.0"}, wantReq: []int{200, 304}},
				{name: "another chart of the same index", chart: "db", want: []string{"0.1.0"}, wantReq: []int{200, 304, 304}},
				{name: "changed", change: map[string][]string{"app": {"1.0.0", "1.1.0"}}, chart: "app",
					want: []string{"1.1.0", "1.0.0"}, wantReq: []int{200, 304, 304, 200}},
				{name: "unchanged again", chart: "app", want: []string{"1.1.0", "1.0.0"}, wantReq: []int{200, 304, 304, 200, 304}},
			}
			for _, st := range steps {
				if st.change != nil {
					repo.SetCharts(t, st.change)
				}
				res, err := d.Discover(t.Context(), &v1alpha1.ChartSubscription{RepoURL: repo.URL(), Name: st.chart}, nil)
				if err != nil {
					t.Fatalf("%s: Discover: %v", st.name, err)
				}
				if !slices.Equal(res.Versions, st.want) {
					t.Errorf("%s: versions = %q, want %q", st.name, res.Versions, st.want)
				}
				if got := repo.IndexStatuses(); !slices.Equal(got, st.wantReq) {
					t.Errorf("%s: index.yaml answered %v, want %v", st.name, got, st.wantReq)
				}
			}
		})
	}
}

func TestDiscoverClassicConcurrent(t *testing.T) {
	repo := testserver.NewHelmRepo(t, map[string][]string{"app": {"1.0.0", "2.0.0"}}, testserver.HelmRepoOptions{})
	d := chart.NewDiscoverer(chart.Options{})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			res, err := d.Discover(context.Background(), &v1alpha1.ChartSubscription{RepoURL: repo.URL(), Name: "app"}, nil)
			if err == nil && !slices.Equal(res.Versions, []string{"2.0.0", "1.0.0"}) {
				err = errors.New("wrong versions " + strings.Join(res.Versions, ","))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := repo.IndexStatuses(); len(got) > n || got[0] != 200 {
		t.Errorf("index.yaml answered %v to %d concurrent discoveries", got, n)
	}
}

func TestDiscoverClassicBadRepositories(t *testing.T) {
	repo := testserver.NewHelmRepo(t, map[string][]string{"app": {"1.0.0"}}, testserver.HelmRepoOptions{})
	html := testserver.NewHelmRepo(t, nil, testserver.HelmRepoOptions{})
	html.WriteIndex(t, []byte("<!DOCTYPE html>\n<html><body>Welcome</body></html>\n"))
	gone := repo.URL()
	repo.Close()
	d := chart.NewDiscoverer(chart.Options{})
	tests := []discoverCase{
		{name: "unreachable", sub: v1alpha1.ChartSubscription{RepoURL: gone, Name: "app"},
			wantErr: discovery.ErrUnreachable, wantMsg: "cannot reach chart repository " + gone + ": check repoURL"},
		{name: "a web page, not an index", sub: v1alpha1.ChartSubscription{RepoURL: html.URL(), Name: "app"},
			wantErr: discovery.ErrNotFound, wantMsg: "/index.yaml is not a Helm chart repository index"},
		{name: "credentials in the URL are not repeated", sub: v1alpha1.ChartSubscription{
			RepoURL: strings.Replace(gone, "http://", "http://user:url-secret@", 1), Name: "app"},
			wantErr: discovery.ErrUnreachable, wantMsg: "cannot reach chart repository " + gone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, d)
		})
	}
	_, err := d.Discover(t.Context(), &tests[2].sub, nil)
	if err == nil || strings.Contains(err.Error(), "url-secret") || strings.Contains(err.Error(), "user") {
		t.Errorf("error reveals the URL's user information: %v", err)
	}
}

func TestDiscoverOCI(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0-rc.1", "1.2.0+build.5", "v1.3.0", "1.4"} {
		reg.PushChart(t, "charts/app", v)
	}
	reg.Tag(t, "charts/app", "1.0.0", "latest")
	reg.PushChart(t, "charts/other", "0.1.0")
	reg.PushChart(t, "charts/unversioned", "latest")
	repoURL := "oci://" + reg.Repo("charts/app")
	d := chart.NewDiscoverer(chart.Options{})
	tests := []discoverCase{
		{
			name: "no constraint: strict semantic versions only, newest first, _ read as +",
			sub:  v1alpha1.ChartSubscription{RepoURL: repoURL},
			want: []string{"2.0.0-rc.1", "1.2.0+build.5", "1.1.0", "1.0.0"},
		},
		{
			name: "a constraint that selects the version with build metadata",
			sub:  v1alpha1.ChartSubscription{RepoURL: repoURL, SemverConstraint: "~1.2"},
			want: []string{"1.2.0+build.5"},
		},
		{
			name: "a constraint that selects several",
			sub:  v1alpha1.ChartSubscription{RepoURL: repoURL, SemverConstraint: "^1.0.0", DiscoveryLimit: 2},
			want: []string{"1.2.0+build.5", "1.1.0"},
		},
		{
			name:    "a constraint that selects nothing",
			sub:     v1alpha1.ChartSubscription{RepoURL: repoURL, SemverConstraint: "^3"},
			wantErr: discovery.ErrNoMatch,
			wantMsg: "no version of chart " + repoURL + ` satisfies semverConstraint "^3"`,
		},
		{
			name:    "only tags that are not strict semantic versions",
			sub:     v1alpha1.ChartSubscription{RepoURL: "oci://" + reg.Repo("charts/unversioned")},
			wantErr: discovery.ErrNoMatch,
			wantMsg: "OCI tags must be strict semantic versions",
		},
		{
			name:    "a repository that does not exist",
			sub:     v1alpha1.ChartSubscription{RepoURL: "oci://" + reg.Repo("charts/missing")},
			wantErr: discovery.ErrNotFound,
			wantMsg: "does not exist: check repoURL",
		},
		{
			name:    "a name with an oci repository",
			sub:     v1alpha1.ChartSubscription{RepoURL: repoURL, Name: "app"},
			wantErr: discovery.ErrInvalid,
			wantMsg: "an oci:// repoURL is itself the chart",
		},
		{
			name:    "a tag in the repository URL",
			sub:     v1alpha1.ChartSubscription{RepoURL: repoURL + ":1.0.0"},
			wantErr: discovery.ErrInvalid,
			wantMsg: "without a tag or digest",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, d) })
	}

	t.Run("unreachable", func(t *testing.T) {
		reg.Stop()
		discoverCase{sub: v1alpha1.ChartSubscription{RepoURL: repoURL}, wantErr: discovery.ErrUnreachable,
			wantMsg: "cannot reach the registry of chart repository " + repoURL}.run(t, d)
	})
}

func TestDiscoverOCIAuth(t *testing.T) {
	const user, password = "pusher", "0ci-Pa55word"
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{Username: user, Password: password})
	reg.PushChart(t, "charts/app", "1.0.0")
	reg.PushChart(t, "charts/app", "1.1.0+meta")
	var logs bytes.Buffer
	d := chart.NewDiscoverer(chart.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sub := v1alpha1.ChartSubscription{RepoURL: "oci://" + reg.Repo("charts/app")}
	tests := []discoverCase{
		{name: "no credentials", sub: sub, wantErr: discovery.ErrAuth, wantMsg: "requires authentication (HTTP 401)"},
		{name: "a wrong password", sub: sub, creds: &discovery.Credentials{Username: user, Password: "not-" + password},
			wantErr: discovery.ErrAuth, wantMsg: "refused the credentials (HTTP 401)"},
		{name: "the right credentials", sub: sub, creds: &discovery.Credentials{Username: user, Password: password},
			want: []string{"1.1.0+meta", "1.0.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, d) })
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("logs reveal the password:\n%s", logs.String())
	}
}

// TestDiscoverClassicServerFailures covers answers a file server never
// gives, from a server that gives only them.
func TestDiscoverClassicServerFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		wantErr error
		wantMsg string
	}{
		{name: "server error", handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, wantErr: discovery.ErrUnreachable, wantMsg: "answered GET index.yaml with HTTP 500 Internal Server Error"},
		{name: "forbidden", handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no", http.StatusForbidden)
		}, wantErr: discovery.ErrAuth, wantMsg: "requires authentication (HTTP 403)"},
		{name: "not modified to an unconditional request", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}, wantErr: discovery.ErrUnreachable, wantMsg: "HTTP 304"},
		{name: "timeout", handler: func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, timeout: 100 * time.Millisecond, wantErr: discovery.ErrUnreachable, wantMsg: "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			client := &http.Client{Timeout: tt.timeout}
			d := chart.NewDiscoverer(chart.Options{HTTPClient: client})
			_, err := d.Discover(t.Context(), &v1alpha1.ChartSubscription{RepoURL: srv.URL, Name: "app"}, nil)
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Discover error = %v, want kind %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

func TestDiscoverCanceled(t *testing.T) {
	repo := testserver.NewHelmRepo(t, map[string][]string{"app": {"1.0.0"}}, testserver.HelmRepoOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := chart.NewDiscoverer(chart.Options{})
	for _, repoURL := range []string{repo.URL(), "oci://127.0.0.1:1/charts/app"} {
		sub := v1alpha1.ChartSubscription{RepoURL: repoURL}
		if !strings.HasPrefix(repoURL, "oci://") {
			sub.Name = "app"
		}
		_, err := d.Discover(ctx, &sub, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Discover error = %v, want context.Canceled", repoURL, err)
		}
		for _, kind := range []error{discovery.ErrUnreachable, discovery.ErrAuth, discovery.ErrNotFound} {
			if errors.Is(err, kind) {
				t.Errorf("%s: a canceled discovery is reported as %v", repoURL, kind)
			}
		}
	}
}
