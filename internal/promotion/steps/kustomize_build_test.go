package steps

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/testserver"
)

func TestKustomizeBuildSchema(t *testing.T) {
	khCheckSchemas(t, NewKustomizeBuild(), []khSchemaCase{
		{name: "minimal", config: `{"path": "src/overlay", "outPath": "out"}`},
		{name: "kitchen sink", config: `{"path": "s", "outPath": "o.yaml", "outputFormat": "kustomize",
			"plugin": {"helm": {"apiVersions": ["monitoring.coreos.com/v1"], "kubeVersion": "1.31.0"}}}`},
		{name: "outPath missing", config: `{"path": "s"}`, wantErr: []string{"outPath"}},
		{name: "path empty", config: `{"path": "", "outPath": "o"}`, wantErr: []string{"/path"}},
		{name: "unknown format", config: `{"path": "s", "outPath": "o", "outputFormat": "flat"}`, wantErr: []string{"/outputFormat"}},
		{name: "outLayout is helm-template's", config: `{"path": "s", "outPath": "o", "outLayout": "flat"}`, wantErr: []string{"outLayout"}},
		{name: "unknown plugin", config: `{"path": "s", "outPath": "o", "plugin": {"kcl": {}}}`, wantErr: []string{"kcl"}},
		{name: "empty api version", config: `{"path": "s", "outPath": "o", "plugin": {"helm": {"apiVersions": [""]}}}`,
			wantErr: []string{"/plugin/helm/apiVersions/0"}},
	})
}

// kustomizeApp is a kustomize base and a test overlay with a namespace, an
// image, a generated ConfigMap, a patch and a cluster-scoped Namespace.
var kustomizeApp = map[string]string{
	"src/base/kustomization.yaml": `resources:
- deployment.yaml
- service.yaml
`,
	"src/base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: ghcr.io/acme/app:1.0.0
`,
	"src/base/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector: {app: app}
  ports:
  - port: 80
`,
	"src/stages/test/kustomization.yaml": `namespace: test
resources:
- ../../base
- namespace.yaml
images:
- name: ghcr.io/acme/app
  newTag: 1.1.0
configMapGenerator:
- name: app-config
  files:
  - settings.properties
patches:
- target: {kind: Deployment, name: app}
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 2
`,
	"src/stages/test/namespace.yaml":      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: test\n",
	"src/stages/test/settings.properties": "greeting=hello\n",
}

func TestKustomizeBuildRun(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		wantFiles []string          // files under out/
		contains  map[string]string // file under out/ → text it holds
	}{
		{
			name:      "to one file",
			config:    `{"path": "./src/stages/test", "outPath": "./out/manifests.yaml"}`,
			wantFiles: []string{"manifests.yaml"},
			contains: map[string]string{"manifests.yaml": "image: ghcr.io/acme/app:1.1.0",
				"manifests.yaml ": "replicas: 2"},
		},
		{
			name:   "to a directory, Kargo's file names",
			config: `{"path": "./src/stages/test", "outPath": "./out"}`,
			wantFiles: []string{"namespace-test.yaml", "test-configmap-app-config-7hchhdb6t4.yaml",
				"test-deployment-app.yaml", "test-service-app.yaml"},
			contains: map[string]string{"test-deployment-app.yaml": "image: ghcr.io/acme/app:1.1.0",
				"test-configmap-app-config-7hchhdb6t4.yaml": "greeting=hello"},
		},
		{
			name:   "to a directory, kustomize's file names",
			config: `{"path": "./src/stages/test", "outPath": "./out", "outputFormat": "kustomize"}`,
			wantFiles: []string{"apps_v1_deployment_app.yaml", "v1_configmap_app-config-7hchhdb6t4.yaml",
				"v1_namespace_test.yaml", "v1_service_app.yaml"},
			contains: map[string]string{"apps_v1_deployment_app.yaml": "namespace: test"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			khWriteTree(t, work, kustomizeApp)
			var first map[string]khFile
			for run := 1; run <= 2; run++ {
				res, err := khRun(t, NewKustomizeBuild(), work, tc.config, khFreight(nil))
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				if res.Status != "Succeeded" || res.Output != nil {
					t.Errorf("run %d: status %s, output %v", run, res.Status, res.Output)
				}
				snap := khSnapshot(t, filepath.Join(work, "out"))
				var names []string
				for n := range snap {
					names = append(names, n)
				}
				slices.Sort(names)
				if !slices.Equal(names, tc.wantFiles) {
					t.Fatalf("run %d: files %q, want %q", run, names, tc.wantFiles)
				}
				for file, text := range tc.contains {
					if got := snap[strings.TrimSpace(file)].content; !strings.Contains(got, text) {
						t.Errorf("run %d: %s does not contain %q:\n%s", run, file, text, got)
					}
				}
				if run == 1 {
					first = snap
				} else {
					khSameSnapshot(t, first, snap)
				}
			}
		})
	}
}

func TestKustomizeBuildMultiNamespaceKustomizeNames(t *testing.T) {
	work := t.TempDir()
	khWriteTree(t, work, map[string]string{
		"k/kustomization.yaml": "resources:\n- a.yaml\n",
		"k/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: one\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: two\n",
	})
	if _, err := khRun(t, NewKustomizeBuild(), work, `{"path": "k", "outPath": "out", "outputFormat": "kustomize"}`, khFreight(nil)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"one_v1_configmap_c.yaml", "two_v1_configmap_c.yaml"} {
		if _, err := os.Stat(filepath.Join(work, "out", f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}

func TestKustomizeBuildErrors(t *testing.T) {
	outside := t.TempDir()
	khWriteTree(t, outside, map[string]string{
		"secret.yaml":               "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
		"base/kustomization.yaml":   "resources:\n- ../secret.yaml\n",
		"base/other.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		"remote/kustomization.yaml": "resources: []\n",
	})
	tests := []struct {
		name   string
		files  map[string]string
		links  map[string]string // link (in the workspace) → target
		config string
		want   []string
	}{
		{
			name:   "a base outside the workspace",
			files:  map[string]string{"k/kustomization.yaml": "resources:\n- " + strings.Repeat("../", 30) + strings.TrimPrefix(outside, "/") + "/base\n"},
			config: `{"path": "k", "outPath": "out.yaml"}`,
			want:   []string{"outside the promotion's workspace"},
		},
		{
			name:   "a symlinked resource leading outside",
			files:  map[string]string{"k/kustomization.yaml": "resources:\n- secret.yaml\n"},
			links:  map[string]string{"k/secret.yaml": filepath.Join(outside, "secret.yaml")},
			config: `{"path": "k", "outPath": "out.yaml"}`,
			want:   []string{"k/secret.yaml", "symlink", "outside the promotion's workspace"},
		},
		{
			name:   "a remote ref that git would take for an option",
			files:  map[string]string{"k/kustomization.yaml": "resources:\n- https://example.invalid/org/repo.git//base?ref=--upload-pack=touch\n"},
			config: `{"path": "k", "outPath": "out.yaml"}`,
			want:   []string{"ref=\"--upload-pack=touch\"", "option"},
		},
		{
			name:   "no kustomization",
			files:  map[string]string{"k/a.yaml": "a: b\n"},
			config: `{"path": "k", "outPath": "out.yaml"}`,
			want:   []string{"no kustomization.yaml"},
		},
		{
			name:   "a missing resource",
			files:  map[string]string{"k/kustomization.yaml": "resources:\n- missing.yaml\n"},
			config: `{"path": "k", "outPath": "out.yaml"}`,
			want:   []string{"build k", "missing.yaml"},
		},
		{
			name: "a resource name that is not a file name",
			files: map[string]string{"k/kustomization.yaml": "resources:\n- a.yaml\n",
				"k/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ../../escape\n"},
			config: `{"path": "k", "outPath": "out"}`,
			want:   []string{"cannot be a file name"},
		},
		{
			name:   "outPath outside the workspace",
			files:  map[string]string{"k/kustomization.yaml": "resources: []\n"},
			config: `{"path": "k", "outPath": "../out.yaml"}`,
			want:   []string{"outPath", "outside the promotion's workspace"},
		},
		{
			name:   "helm charts without the helm command",
			files:  map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: app\n  repo: https://charts.example.invalid\n  version: 1.0.0\n"},
			config: `{"path": "k", "outPath": "out.yaml"}`,
			want:   []string{"helm"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			files := map[string]string{}
			for k, v := range tc.files {
				files[k] = strings.ReplaceAll(v, "WORK", work)
			}
			khWriteTree(t, work, files)
			for link, target := range tc.links {
				if err := os.Symlink(target, filepath.Join(work, link)); err != nil {
					t.Fatal(err)
				}
			}
			before := khSnapshot(t, work)
			_, err := khRun(t, NewKustomizeBuild(), work, tc.config, khFreight(nil))
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "stolen") {
				t.Errorf("error leaks content from outside the workspace: %v", err)
			}
			khSameSnapshot(t, before, khSnapshot(t, work))
		})
	}
}

// TestKustomizeBuildRemoteBase builds an overlay whose base is a remote Git
// repository, which kustomize clones (with git) outside the workspace.
func TestKustomizeBuildRemoteBase(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := srv.CreateRepo(t, "bases")
	repo.Commit(t, testserver.Commit{Files: map[string]string{
		"base/kustomization.yaml": "resources:\n- cm.yaml\n",
		"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\ndata:\n  from: git\n",
	}})
	repo.Push(t)
	work := t.TempDir()
	khWriteTree(t, work, map[string]string{
		"k/kustomization.yaml": "namespace: test\nresources:\n- " + repo.URL + "//base?ref=main\n",
	})
	if _, err := khRun(t, NewKustomizeBuild(), work, `{"path": "k", "outPath": "out"}`, khFreight(nil)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(work, "out", "test-configmap-remote.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "from: git") {
		t.Errorf("unexpected manifest:\n%s", b)
	}
}

// BenchmarkKustomizeBuild renders the test overlay of kustomizeApp (four
// resources) into a directory, as the rendered-manifests promotion does.
func BenchmarkKustomizeBuild(b *testing.B) {
	work := b.TempDir()
	for name, content := range kustomizeApp {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	step := NewKustomizeBuild()
	sc := &promotion.StepContext{Project: "demo", WorkDir: work, Attempt: 1,
		Config: []byte(`{"path": "./src/stages/test", "outPath": "./out"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := step.Run(context.Background(), sc); err != nil {
			b.Fatal(err)
		}
	}
}
