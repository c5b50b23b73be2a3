package steps

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"helm.sh/helm/v4/pkg/downloader"
	"helm.sh/helm/v4/pkg/getter"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/credentials"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
	"github.com/caravan-dev/caravan/internal/testserver"
)

func TestHelmUpdateChartSchema(t *testing.T) {
	khCheckSchemas(t, NewHelmUpdateChart(nil, nil), []khSchemaCase{
		{name: "path only", config: `{"path": "chart"}`},
		{name: "charts", config: `{"path": "c", "charts": [{"repository": "oci://r.example/charts", "name": "a", "version": "1.0.0"}]}`},
		{name: "path missing", config: `{"charts": []}`, wantErr: []string{"path"}},
		{name: "empty charts", config: `{"path": "c", "charts": []}`, wantErr: []string{"/charts"}},
		{name: "chart without version", config: `{"path": "c", "charts": [{"repository": "https://r", "name": "a"}]}`,
			wantErr: []string{"/charts/0", "version"}},
		{name: "chart with empty name", config: `{"path": "c", "charts": [{"repository": "https://r", "name": "", "version": "1"}]}`,
			wantErr: []string{"/charts/0/name"}},
		{name: "unknown key", config: `{"path": "c", "charts": [{"repoURL": "https://r", "name": "a", "version": "1"}]}`,
			wantErr: []string{"repoURL"}},
	})
}

// helmCredsLookup returns the real credentials lookup over a SQLite store
// holding one helm credentials Secret per repository URL given.
func helmCredsLookup(t *testing.T, user, password string, repoURLs ...string) discovery.CredentialsLookup {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "caravan.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for i, u := range repoURLs {
		s := &unstructured.Unstructured{Object: map[string]any{
			"stringData": map[string]any{"repoURL": u, "username": user, "password": password},
		}}
		s.SetAPIVersion("v1")
		s.SetKind("Secret")
		s.SetNamespace("demo")
		s.SetName("helm-creds-" + string(rune('a'+i)))
		s.SetLabels(map[string]string{kargoapi.LabelKeyCredentialType: "helm"})
		if _, err := st.Create(t.Context(), s); err != nil {
			t.Fatalf("create secret: %v", err)
		}
	}
	return credentials.New(st, credentials.Options{Logger: slog.New(slog.DiscardHandler)})
}

// helmUmbrella is an umbrella chart depending on a classic and an OCI
// chart, with comments and layout to keep.
func helmUmbrella(classicURL, ociRepo, classicVersion, ociVersion string) string {
	return `apiVersion: v2
name: umbrella   # the whole app
version: 0.1.0

dependencies:
  # from the classic repository
  - name: dep
    version: "` + classicVersion + `"
    repository: ` + classicURL + `
  - name: ocidep
    repository: "oci://` + ociRepo + `"
    version: ` + ociVersion + `   # pinned
    alias: db
`
}

func TestHelmUpdateChartRun(t *testing.T) {
	const user, password = "robot", "s3cr3t-password"
	classic := testserver.NewHelmRepo(t, map[string][]string{"dep": {"1.0.0", "1.1.0", "2.0.0"}},
		testserver.HelmRepoOptions{Username: user, Password: password})
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{Username: user, Password: password})
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0-rc.1"} {
		reg.PushChart(t, "charts/ocidep", v)
	}
	ociRepo := reg.Repo("charts")
	creds := helmCredsLookup(t, user, password, classic.URL(), "oci://"+ociRepo+"/ocidep")
	step := NewHelmUpdateChart(creds, nil)

	work := t.TempDir()
	khWriteTree(t, work, map[string]string{
		"chart/Chart.yaml":     helmUmbrella(classic.URL(), ociRepo, "1.0.0", "0.1.0"),
		"chart/values.yaml":    "{}\n",
		"chart/charts/x-9.tgz": "not a chart, kept\n",
	})
	chartsDir := filepath.Join(work, "chart", "charts")

	// First: fetch the dependencies as they are.
	res, err := khRun(t, step, work, `{"path": "chart"}`, khFreight(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Output["commitMessage"], "Updated chart dependencies for chart\n\n- dep: 1.0.0\n- ocidep: 0.1.0"; got != want {
		t.Errorf("commitMessage %q, want %q", got, want)
	}
	helmWantArchives(t, chartsDir, "dep-1.0.0.tgz", "ocidep-0.1.0.tgz", "x-9.tgz")

	// Then: set new versions, twice.
	config := `{"path": "chart", "charts": [
		{"repository": "` + classic.URL() + `", "name": "dep", "version": "1.1.0"},
		{"repository": "oci://` + ociRepo + `", "name": "ocidep", "version": "0.2.0"}]}`
	var first map[string]khFile
	for run := 1; run <= 2; run++ {
		res, err := khRun(t, step, work, config, khFreight(nil))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		chartYAML, _ := os.ReadFile(filepath.Join(work, "chart", "Chart.yaml"))
		if want := helmUmbrella(classic.URL(), ociRepo, "1.1.0", "0.2.0"); string(chartYAML) != want {
			t.Errorf("run %d: Chart.yaml:\n%s\nwant:\n%s", run, chartYAML, want)
		}
		helmWantArchives(t, chartsDir, "dep-1.1.0.tgz", "ocidep-0.2.0.tgz", "x-9.tgz")
		lock, _ := os.ReadFile(filepath.Join(work, "chart", "Chart.lock"))
		for _, want := range []string{"name: dep\n  repository: " + classic.URL() + "\n  version: 1.1.0", "version: 0.2.0", "digest: sha256:"} {
			if !strings.Contains(string(lock), want) {
				t.Errorf("run %d: Chart.lock lacks %q:\n%s", run, want, lock)
			}
		}
		msg, _ := res.Output["commitMessage"].(string)
		if run == 1 {
			if want := "Updated chart dependencies for chart\n\n- dep: 1.0.0 -> 1.1.0\n- ocidep: 0.1.0 -> 0.2.0"; msg != want {
				t.Errorf("commitMessage %q, want %q", msg, want)
			}
			first = khSnapshot(t, work)
			continue
		}
		if msg != "" {
			t.Errorf("second run: commitMessage %q, want none (nothing changed)", msg)
		}
		khSameSnapshot(t, first, khSnapshot(t, work))
	}
}

func TestHelmUpdateChartConstraints(t *testing.T) {
	classic := testserver.NewHelmRepo(t, map[string][]string{"dep": {"1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0"}}, testserver.HelmRepoOptions{})
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	for _, v := range []string{"0.1.0", "0.1.5", "0.2.0", "0.1.6+build.1"} {
		reg.PushChart(t, "charts/ocidep", v)
	}
	work := t.TempDir()
	khWriteTree(t, work, map[string]string{
		"chart/Chart.yaml": helmUmbrella(classic.URL(), reg.Repo("charts"), "^1.0.0", "~0.1.0"),
	})
	res, err := khRun(t, NewHelmUpdateChart(nil, nil), work, `{"path": "chart"}`, khFreight(nil))
	if err != nil {
		t.Fatal(err)
	}
	helmWantArchives(t, filepath.Join(work, "chart", "charts"), "dep-1.1.0.tgz", "ocidep-0.1.6+build.1.tgz")
	if msg, _ := res.Output["commitMessage"].(string); !strings.Contains(msg, "- dep: 1.1.0") || !strings.Contains(msg, "- ocidep: 0.1.6+build.1") {
		t.Errorf("commitMessage %q", msg)
	}
}

// TestHelmUpdateChartLockAcceptedByHelm checks that Helm's own `helm
// dependency build` accepts the Chart.lock the step writes (same digest).
func TestHelmUpdateChartLockAcceptedByHelm(t *testing.T) {
	work := t.TempDir()
	khWriteTree(t, work, map[string]string{
		"chart/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n" +
			"- name: common\n  version: \">=1.0.0\"\n  repository: file://../common\n  condition: common.enabled\n  tags: [base]\n",
		"common/Chart.yaml":               "apiVersion: v2\nname: common\nversion: 1.2.3\n",
		"common/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: common\n",
	})
	var first map[string]khFile
	for run := 1; run <= 2; run++ {
		if _, err := khRun(t, NewHelmUpdateChart(nil, nil), work, `{"path": "chart"}`, khFreight(nil)); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 1 {
			first = khSnapshot(t, work)
		} else {
			khSameSnapshot(t, first, khSnapshot(t, work))
		}
	}
	helmWantArchives(t, filepath.Join(work, "chart", "charts"), "common-1.2.3.tgz")
	m := &downloader.Manager{
		Out:       io.Discard,
		ChartPath: filepath.Join(work, "chart"),
		Getters:   getter.Providers{},
		// No repositories are configured: file:// needs none.
		RepositoryConfig: filepath.Join(t.TempDir(), "repositories.yaml"),
		RepositoryCache:  t.TempDir(),
		SkipUpdate:       true,
	}
	if err := m.Build(); err != nil {
		t.Fatalf("helm dependency build refuses the result: %v", err)
	}
}

func TestHelmUpdateChartErrors(t *testing.T) {
	classic := testserver.NewHelmRepo(t, map[string][]string{"dep": {"1.0.0"}},
		testserver.HelmRepoOptions{Username: "robot", Password: "s3cr3t-password"})
	open := testserver.NewHelmRepo(t, map[string][]string{"dep": {"1.0.0"}}, testserver.HelmRepoOptions{})
	chartWith := func(deps string) map[string]string {
		return map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n" + deps}
	}
	tests := []struct {
		name   string
		files  map[string]string
		creds  discovery.CredentialsLookup
		config string
		want   []string
	}{
		{name: "no Chart.yaml", files: map[string]string{"chart/values.yaml": "{}\n"}, config: `{"path": "chart"}`,
			want: []string{"path", "no Chart.yaml"}},
		{name: "no matching dependency", files: chartWith("- name: dep\n  version: 1.0.0\n  repository: " + open.URL() + "\n"),
			config: `{"path": "chart", "charts": [{"repository": "https://other.example", "name": "dep", "version": "1.0.0"}]}`,
			want:   []string{"charts[0]", `no dependency named "dep" from repository "https://other.example"`, "dep (" + open.URL() + ")"}},
		{name: "no credentials", files: chartWith("- name: dep\n  version: 1.0.0\n  repository: " + classic.URL() + "\n"),
			config: `{"path": "chart"}`, want: []string{"HTTP 401", "kargo.akuity.io/cred-type: helm"}},
		{name: "wrong credentials", files: chartWith("- name: dep\n  version: 1.0.0\n  repository: " + classic.URL() + "\n"),
			creds:  helmCredsLookup(t, "robot", "wrong", classic.URL()),
			config: `{"path": "chart"}`, want: []string{"HTTP 401", "check the username and password"}},
		{name: "no such version", files: chartWith("- name: dep\n  version: 1.0.0\n  repository: " + open.URL() + "\n"),
			config: `{"path": "chart", "charts": [{"repository": "` + open.URL() + `", "name": "dep", "version": "9.9.9"}]}`,
			want:   []string{"dependencies[0] (dep)", `no version of dep that satisfies "9.9.9"`}},
		{name: "no such chart", files: chartWith("- name: nope\n  version: 1.0.0\n  repository: " + open.URL() + "\n"),
			config: `{"path": "chart"}`, want: []string{"has no chart nope"}},
		{name: "repository alias", files: chartWith("- name: dep\n  version: 1.0.0\n  repository: \"@stable\"\n"),
			config: `{"path": "chart"}`, want: []string{"@stable", "write the repository's URL"}},
		{name: "bad constraint", files: chartWith("- name: dep\n  version: one\n  repository: " + open.URL() + "\n"),
			config: `{"path": "chart"}`, want: []string{`version "one"`}},
		{name: "file dependency outside", files: chartWith("- name: x\n  version: 1.0.0\n  repository: file://../../../x\n"),
			config: `{"path": "chart"}`, want: []string{"file://../../../x", "outside the promotion's workspace"}},
		{name: "apiVersion v1", files: map[string]string{"chart/Chart.yaml": "apiVersion: v1\nname: old\nversion: 0.1.0\n"},
			config: `{"path": "chart"}`, want: []string{"apiVersion v1", "requirements.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			khWriteTree(t, work, tc.files)
			before := khSnapshot(t, work)
			_, err := khRun(t, NewHelmUpdateChart(tc.creds, nil), work, tc.config, khFreight(nil))
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "wrong") && tc.creds != nil {
				t.Errorf("error leaks a password: %v", err)
			}
			khSameSnapshot(t, before, khSnapshot(t, work))
		})
	}
}

func TestHelmUpdateChartNoDependencies(t *testing.T) {
	work := t.TempDir()
	vendored, err := testserver.ChartArchive("vendored", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	khWriteTree(t, work, map[string]string{
		"chart/Chart.yaml":                "apiVersion: v2\nname: u\nversion: 0.1.0\n",
		"chart/charts/vendored-1.0.0.tgz": string(vendored),
	})
	before := khSnapshot(t, work)
	res, err := khRun(t, NewHelmUpdateChart(nil, nil), work, `{"path": "chart"}`, khFreight(nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != nil {
		t.Errorf("output %v, want none", res.Output)
	}
	khSameSnapshot(t, before, khSnapshot(t, work))
}

func TestHelmUpdateChartOCIWithoutCredentials(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{Username: "robot", Password: "s3cr3t-password"})
	reg.PushChart(t, "charts/ocidep", "0.1.0")
	work := t.TempDir()
	khWriteTree(t, work, map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: u\nversion: 0.1.0\ndependencies:\n" +
		"- name: ocidep\n  version: ~0.1.0\n  repository: oci://" + reg.Repo("charts") + "\n"})
	_, err := khRun(t, NewHelmUpdateChart(nil, nil), work, `{"path": "chart"}`, khFreight(nil))
	if err == nil || !strings.Contains(err.Error(), "requires authentication") || !strings.Contains(err.Error(), "cred-type: helm") {
		t.Fatalf("error %v, want one asking for helm credentials", err)
	}
	t.Logf("error: %v", err)
}

// TestHelmTemplateBuildDependencies renders an umbrella chart whose
// dependency is fetched first, from Chart.yaml and then from Chart.lock.
func TestHelmTemplateBuildDependencies(t *testing.T) {
	classic := testserver.NewHelmRepo(t, map[string][]string{"dep": {"1.0.0", "1.1.0"}},
		testserver.HelmRepoOptions{Username: "robot", Password: "s3cr3t-password"})
	creds := helmCredsLookup(t, "robot", "s3cr3t-password", classic.URL())
	work := t.TempDir()
	khWriteTree(t, work, map[string]string{
		"chart/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n" +
			"- name: dep\n  version: ^1.0.0\n  repository: " + classic.URL() + "\n",
	})
	config := `{"path": "chart", "outPath": "out.yaml", "releaseName": "rel", "buildDependencies": true}`
	var first map[string]khFile
	for run := 1; run <= 2; run++ {
		if _, err := khRun(t, NewHelmTemplate(creds, nil), work, config, khFreight(nil)); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		out, _ := os.ReadFile(filepath.Join(work, "out.yaml"))
		if !strings.Contains(string(out), "name: rel-dep") || !strings.Contains(string(out), `version: "1.1.0"`) {
			t.Errorf("run %d: output lacks the dependency's ConfigMap at 1.1.0:\n%s", run, out)
		}
		if run == 1 {
			first = khSnapshot(t, work)
		} else {
			khSameSnapshot(t, first, khSnapshot(t, work))
		}
	}
	helmWantArchives(t, filepath.Join(work, "chart", "charts"), "dep-1.1.0.tgz")

	// Chart.lock now pins 1.1.0; Chart.yaml changing without it is refused.
	khWriteTree(t, work, map[string]string{
		"chart/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n" +
			"- name: dep\n  version: 1.0.0\n  repository: " + classic.URL() + "\n",
	})
	_, err := khRun(t, NewHelmTemplate(creds, nil), work, config, khFreight(nil))
	if err == nil || !strings.Contains(err.Error(), "out of sync") {
		t.Fatalf("error %v, want Chart.lock out of sync", err)
	}
}

// helmWantArchives checks the files of a charts/ directory.
func helmWantArchives(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("charts/ holds %q, want %q", got, want)
	}
}
