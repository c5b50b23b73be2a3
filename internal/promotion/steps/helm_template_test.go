package steps

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/promotion"
)

func TestHelmTemplateSchema(t *testing.T) {
	khCheckSchemas(t, NewHelmTemplate(nil, nil), []khSchemaCase{
		{name: "minimal", config: `{"path": "chart", "outPath": "out", "releaseName": "r"}`},
		{name: "kitchen sink", config: `{"path": "c", "outPath": "o", "releaseName": "r", "outLayout": "flat", "useReleaseName": true,
			"namespace": "n", "valuesFiles": ["v.yaml"], "setValues": [{"key": "a.b", "value": "1", "literal": true}],
			"buildDependencies": true, "includeCRDs": true, "disableHooks": false, "skipTests": true,
			"kubeVersion": "1.31.0", "apiVersions": ["monitoring.coreos.com/v1"]}`},
		{name: "releaseName missing", config: `{"path": "c", "outPath": "o"}`, wantErr: []string{"releaseName"}},
		{name: "releaseName empty", config: `{"path": "c", "outPath": "o", "releaseName": ""}`, wantErr: []string{"/releaseName"}},
		{name: "unknown layout", config: `{"path": "c", "outPath": "o", "releaseName": "r", "outLayout": "kustomize"}`,
			wantErr: []string{"/outLayout"}},
		{name: "setValues without value", config: `{"path": "c", "outPath": "o", "releaseName": "r", "setValues": [{"key": "a"}]}`,
			wantErr: []string{"/setValues/0", "value"}},
		{name: "setValues value not a string", config: `{"path": "c", "outPath": "o", "releaseName": "r", "setValues": [{"key": "a", "value": 2}]}`,
			wantErr: []string{"/setValues/0/value"}},
		{name: "empty values file", config: `{"path": "c", "outPath": "o", "releaseName": "r", "valuesFiles": [""]}`,
			wantErr: []string{"/valuesFiles/0"}},
		{name: "misspelled key", config: `{"path": "c", "outPath": "o", "releaseName": "r", "includeCRD": true}`,
			wantErr: []string{"includeCRD"}},
	})
}

// helmTestChart is a chart with values, a Deployment and a ConfigMap that
// read values and capabilities, a hook, a test, a CRD and notes.
var helmTestChart = map[string]string{
	"chart/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"1.0\"\n",
	"chart/values.yaml": "image:\n  repository: ghcr.io/acme/app\n  tag: 1.0.0\nreplicas: 1\ngreeting: hello\nlist: \"\"\n",
	"chart/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  template:
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
	"chart/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
  list: {{ .Values.list | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
`,
	"chart/templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox}]
`,
	"chart/templates/tests/test.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  containers: [{name: t, image: busybox}]
`,
	"chart/templates/NOTES.txt": "Installed {{ .Release.Name }}.\n",
	"chart/crds/widget.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
`,
	"values/test.yaml": "image:\n  tag: 1.1.0\nreplicas: 2\n",
}

func TestHelmTemplateRun(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		wantFiles []string          // files under out/
		contains  map[string]string // file → text it holds ("|" separates several)
		absent    map[string]string // file → text it must not hold
	}{
		{
			name: "to one file, with values files, setValues, namespace and capabilities",
			config: `{"path": "./chart", "outPath": "./out/app.yaml", "releaseName": "rel", "namespace": "test",
				"valuesFiles": ["./values/test.yaml"],
				"setValues": [{"key": "image.tag", "value": "1.2.0"}, {"key": "list", "value": "a,b", "literal": true}],
				"kubeVersion": "1.31.2", "apiVersions": ["monitoring.coreos.com/v1"], "includeCRDs": true}`,
			wantFiles: []string{"app.yaml"},
			contains: map[string]string{"app.yaml": `image: "ghcr.io/acme/app:1.2.0"|replicas: 2|namespace: test|list: "a,b"|` +
				`kube: "v1.31.2"|monitoring: "true"|# Source: app/crds/widget.yaml|name: rel-migrate|name: rel-test|# Source: app/templates/hook.yaml`},
			absent: map[string]string{"app.yaml": "Installed rel"},
		},
		{
			name:      "to a directory in helm's layout; the namespace defaults to the project",
			config:    `{"path": "chart", "outPath": "out", "releaseName": "rel", "skipTests": true}`,
			wantFiles: []string{"app/templates/configmap.yaml", "app/templates/deployment.yaml", "app/templates/hook.yaml"},
			contains: map[string]string{
				"app/templates/deployment.yaml": "---\n# Source: app/templates/deployment.yaml\n|namespace: demo|replicas: 1",
				"app/templates/hook.yaml":       "# Source: app/templates/hook.yaml\n|helm.sh/hook: pre-install",
			},
		},
		{
			name:   "helm layout under the release name",
			config: `{"path": "chart", "outPath": "out", "releaseName": "rel", "useReleaseName": true, "includeCRDs": true}`,
			wantFiles: []string{"rel/app/crds/widget.yaml", "rel/app/templates/configmap.yaml", "rel/app/templates/deployment.yaml",
				"rel/app/templates/hook.yaml", "rel/app/templates/tests/test.yaml"},
		},
		{
			name:      "flat layout: one file per resource",
			config:    `{"path": "chart", "outPath": "out", "outLayout": "flat", "releaseName": "rel", "namespace": "test", "skipTests": true}`,
			wantFiles: []string{"apps-deployment-test-rel-app.yaml", "batch-job-rel-migrate.yaml", "configmap-rel-config.yaml"},
			contains:  map[string]string{"apps-deployment-test-rel-app.yaml": "# Source: app/templates/deployment.yaml\napiVersion: apps/v1"},
		},
		{
			name:      "flat layout without hooks",
			config:    `{"path": "chart", "outPath": "out", "outLayout": "flat", "releaseName": "rel", "disableHooks": true, "includeCRDs": true}`,
			wantFiles: []string{"apiextensions_k8s_io-customresourcedefinition-widgets.example.com.yaml", "apps-deployment-demo-rel-app.yaml", "configmap-rel-config.yaml"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			khWriteTree(t, work, helmTestChart)
			var first map[string]khFile
			for run := 1; run <= 2; run++ {
				res, err := khRun(t, NewHelmTemplate(nil, nil), work, tc.config, khFreight(nil))
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
				for file, texts := range tc.contains {
					for _, text := range strings.Split(texts, "|") {
						if got := snap[file].content; !strings.Contains(got, text) {
							t.Errorf("run %d: %s does not contain %q:\n%s", run, file, text, got)
						}
					}
				}
				for file, text := range tc.absent {
					if strings.Contains(snap[file].content, text) {
						t.Errorf("run %d: %s contains %q", run, file, text)
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

func TestHelmTemplateErrors(t *testing.T) {
	outside := t.TempDir()
	khWriteTree(t, outside, map[string]string{"secret.txt": "s3cr3t-value\n"})
	tests := []struct {
		name   string
		files  map[string]string
		links  map[string]string
		config string
		want   []string
	}{
		{name: "no chart", config: `{"path": "nochart", "outPath": "out", "releaseName": "r"}`,
			want: []string{"path", "nochart", "does not exist"}},
		{name: "values file missing", config: `{"path": "chart", "outPath": "out", "releaseName": "r", "valuesFiles": ["values/missing.yaml"]}`,
			want: []string{"valuesFiles[0]", "values/missing.yaml", "does not exist"}},
		{name: "values file outside", config: `{"path": "chart", "outPath": "out", "releaseName": "r", "valuesFiles": ["../v.yaml"]}`,
			want: []string{"valuesFiles[0]", "outside the promotion's workspace"}},
		{name: "values file not a mapping", files: map[string]string{"values/bad.yaml": "- a\n- b\n"},
			config: `{"path": "chart", "outPath": "out", "releaseName": "r", "valuesFiles": ["values/bad.yaml"]}`,
			want:   []string{"valuesFiles[0]", "not a YAML mapping"}},
		{name: "bad set syntax", config: `{"path": "chart", "outPath": "out", "releaseName": "r", "setValues": [{"key": "a[x]", "value": "1"}]}`,
			want: []string{"setValues[0]", `"a[x]"`}},
		{name: "bad kubeVersion", config: `{"path": "chart", "outPath": "out", "releaseName": "r", "kubeVersion": "latest"}`,
			want: []string{"kubeVersion", "latest"}},
		{name: "template fails", files: map[string]string{"chart/templates/fail.yaml": `{{ fail "replicas must be set" }}`},
			config: `{"path": "chart", "outPath": "out", "releaseName": "r"}`, want: []string{"render chart chart", "replicas must be set"}},
		{name: "incompatible kubeVersion", files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\nkubeVersion: \">=1.40.0\"\n"},
			config: `{"path": "chart", "outPath": "out", "releaseName": "r", "kubeVersion": "1.31.0"}`, want: []string{"1.40.0"}},
		{name: "dependency missing from charts/", files: map[string]string{
			"chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.invalid\n"},
			config: `{"path": "chart", "outPath": "out", "releaseName": "r"}`, want: []string{"redis", "buildDependencies: true"}},
		{name: "symlink leading outside", links: map[string]string{"chart/files/secret.txt": "OUTSIDE/secret.txt"},
			config: `{"path": "chart", "outPath": "out", "releaseName": "r"}`, want: []string{"chart/files/secret.txt", "outside"}},
		{name: "outPath outside", config: `{"path": "chart", "outPath": "/etc/out.yaml", "releaseName": "r"}`,
			want: []string{"outPath"}},
		{name: "bad release name", config: `{"path": "chart", "outPath": "out", "releaseName": "Not_Valid"}`,
			want: []string{"render chart chart", "Not_Valid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			khWriteTree(t, work, helmTestChart)
			khWriteTree(t, work, tc.files)
			for link, target := range tc.links {
				p := filepath.Join(work, link)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(strings.ReplaceAll(target, "OUTSIDE", outside), p); err != nil {
					t.Fatal(err)
				}
			}
			before := khSnapshot(t, work)
			_, err := khRun(t, NewHelmTemplate(nil, nil), work, tc.config, khFreight(nil))
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), work) {
				t.Errorf("error leaks a secret or the workspace's path: %v", err)
			}
			khSameSnapshot(t, before, khSnapshot(t, work))
		})
	}
}

// BenchmarkHelmTemplate renders the test chart (three templates, a hook
// and a test) to one file.
func BenchmarkHelmTemplate(b *testing.B) {
	work := b.TempDir()
	for name, content := range helmTestChart {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	step := NewHelmTemplate(nil, nil)
	sc := &promotion.StepContext{Project: "demo", WorkDir: work, Attempt: 1,
		Config: []byte(`{"path": "chart", "outPath": "out.yaml", "releaseName": "rel", "valuesFiles": ["values/test.yaml"]}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := step.Run(context.Background(), sc); err != nil {
			b.Fatal(err)
		}
	}
}
