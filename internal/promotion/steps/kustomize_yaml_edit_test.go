package steps

import (
	"reflect"
	"strings"
	"testing"

	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// TestKustomizeApplyImagesLayouts runs the editor over kustomization files
// of many shapes: the result must always hold the right images (read back
// by kustomize's own types) and, where it says so, be exactly the expected
// text.
func TestKustomizeApplyImagesLayouts(t *testing.T) {
	app := kustomizeImage{Name: "app", NewTag: "v2"}
	tests := []struct {
		name    string
		src     string
		targets []kustomizeImage
		want    string // exact result; "" to check only the data
		images  []kustypes.Image
		other   map[string]any // other fields that must survive
	}{
		{
			name:    "wide sequences when the file uses them",
			src:     "resources:\n  - ../base\n",
			targets: []kustomizeImage{app},
			want:    "resources:\n  - ../base\nimages:\n  - name: app\n    newTag: v2\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
		},
		{
			name:    "an empty file",
			src:     "",
			targets: []kustomizeImage{app},
			want:    "images:\n- name: app\n  newTag: v2\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
		},
		{
			name:    "images: with nothing, followed by another key",
			src:     "images:\nnamespace: x # ns\n",
			targets: []kustomizeImage{app},
			want:    "images:\n- name: app\n  newTag: v2\nnamespace: x # ns\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
			other:   map[string]any{"namespace": "x"},
		},
		{
			name:    "a flow-style list is rewritten, data intact",
			src:     "# keep me\nimages: [{name: app, newTag: v1}, {name: b, digest: 'sha256:1'}]\nnamespace: x\n",
			targets: []kustomizeImage{app},
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}, {Name: "b", Digest: "sha256:1"}},
			other:   map[string]any{"namespace": "x"},
		},
		{
			name:    "name not the first key; a field removed from the first line",
			src:     "images:\n- digest: sha256:1\n  name: app\n",
			targets: []kustomizeImage{app},
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
		},
		{
			name:    "name not the first key; first key updated in place",
			src:     "images:\n- newTag: v1 # tag\n  name: app\n",
			targets: []kustomizeImage{app},
			want:    "images:\n- newTag: v2 # tag\n  name: app\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
		},
		{
			name:    "a document start marker and non-ASCII comments",
			src:     "---\n# Überlagerung für Tests — ünïcödé\nimages:\n- name: app  # ça\n  newTag: 'v1' # ½\n",
			targets: []kustomizeImage{app},
			want:    "---\n# Überlagerung für Tests — ünïcödé\nimages:\n- name: app  # ça\n  newTag: 'v2' # ½\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
		},
		{
			name:    "CRLF line endings",
			src:     "kind: Kustomization\r\nimages:\r\n- name: app\r\n  newTag: v1\r\n",
			targets: []kustomizeImage{app, {Name: "b", NewTag: "1"}},
			want:    "kind: Kustomization\r\nimages:\r\n- name: app\r\n  newTag: v2\r\n- name: b\r\n  newTag: \"1\"\r\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}, {Name: "b", NewTag: "1"}},
			other:   map[string]any{"kind": "Kustomization"},
		},
		{
			name:    "values that YAML would read as other types are quoted",
			src:     "images:\n- name: app\n  newTag: v1\n",
			targets: []kustomizeImage{{Name: "app", NewTag: "1.10"}, {Name: "yes", NewTag: "true"}, {Name: "n", NewTag: "null"}},
			want:    "images:\n- name: app\n  newTag: \"1.10\"\n- name: \"n\"\n  newTag: \"null\"\n- name: \"yes\"\n  newTag: \"true\"\n",
			images:  []kustypes.Image{{Name: "app", NewTag: "1.10"}, {Name: "n", NewTag: "null"}, {Name: "yes", NewTag: "true"}},
		},
		{
			name:    "an anchored value is rewritten, data intact",
			src:     "x: &tag v1\nimages:\n- name: app\n  newTag: *tag\n",
			targets: []kustomizeImage{app},
			images:  []kustypes.Image{{Name: "app", NewTag: "v2"}},
			other:   map[string]any{"x": "v1"},
		},
		{
			name:    "nothing to set leaves the file alone",
			src:     "images:   [ ]\n",
			targets: nil,
			want:    "images:   [ ]\n",
			images:  []kustypes.Image{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := kustomizeApplyImages([]byte(tc.src), tc.targets)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(out) != tc.want {
				t.Errorf("result:\n%s\nwant:\n%s", out, tc.want)
			}
			var k struct {
				Images []kustypes.Image `json:"images"`
			}
			if err := yaml.Unmarshal(out, &k); err != nil {
				t.Fatalf("result is not valid: %v\n%s", err, out)
			}
			if k.Images == nil {
				k.Images = []kustypes.Image{}
			}
			if !reflect.DeepEqual(k.Images, tc.images) {
				t.Errorf("images %+v, want %+v\n%s", k.Images, tc.images, out)
			}
			var all map[string]any
			_ = yaml.Unmarshal(out, &all)
			for key, v := range tc.other {
				if !reflect.DeepEqual(all[key], v) {
					t.Errorf("%s = %v, want %v", key, all[key], v)
				}
			}
			if strings.HasPrefix(tc.src, "# keep me") && !strings.Contains(string(out), "# keep me") {
				t.Errorf("comment lost:\n%s", out)
			}
		})
	}
}

// TestKhSetDependencyVersion checks the edits helm-update-chart makes to
// Chart.yaml: only the version's text changes.
func TestKhSetDependencyVersion(t *testing.T) {
	src := "apiVersion: v2\nname: u\nversion: 0.1.0\ndependencies:\n- name: a\n  repository: https://r.example/\n  # no version yet\n" +
		"- name: b\n  version: \"~1.0\" # range\n  repository: oci://r.example/charts\n"
	cfg := helmUpdateChartConfig{Path: "u"}
	cfg.Charts = append(cfg.Charts,
		struct {
			Repository string `json:"repository"`
			Name       string `json:"name"`
			Version    string `json:"version"`
		}{"https://r.example", "a", "1.2.3"},
		struct {
			Repository string `json:"repository"`
			Name       string `json:"name"`
			Version    string `json:"version"`
		}{"oci://r.example/charts", "b", "1.0.7"})
	out, err := helmSetDependencyVersions([]byte(src), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: v2\nname: u\nversion: 0.1.0\ndependencies:\n- name: a\n  repository: https://r.example/\n  version: 1.2.3\n  # no version yet\n" +
		"- name: b\n  version: \"1.0.7\" # range\n  repository: oci://r.example/charts\n"
	if string(out) != want {
		t.Errorf("Chart.yaml:\n%s\nwant:\n%s", out, want)
	}
}
