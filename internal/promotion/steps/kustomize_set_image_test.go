package steps

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion"
)

func TestKustomizeSetImageSchema(t *testing.T) {
	khCheckSchemas(t, NewKustomizeSetImage(), []khSchemaCase{
		{name: "path only (images from the Freight)", config: `{"path": "./overlay"}`},
		{name: "kitchen sink", config: `{"path": "o", "images": [
			{"image": "a", "tag": "1"},
			{"image": "b", "digest": "sha256:x", "newName": "c", "name": "d"},
			{"image": "e", "tag": "1", "digest": ""},
			{"image": "f", "useDigest": true, "fromOrigin": {"kind": "Warehouse", "name": "w"}}]}`},
		{name: "path missing", config: `{"images": []}`, wantErr: []string{"path"}},
		{name: "path empty", config: `{"path": ""}`, wantErr: []string{"/path"}},
		{name: "image missing", config: `{"path": "o", "images": [{"tag": "1"}]}`, wantErr: []string{"/images/0", "image"}},
		{name: "image empty", config: `{"path": "o", "images": [{"image": "", "tag": "1"}]}`, wantErr: []string{"/images/0/image"}},
		{name: "misspelled key", config: `{"path": "o", "images": [{"image": "a", "tags": "1"}]}`, wantErr: []string{"tags"}},
		{name: "unknown top-level key", config: `{"path": "o", "outPath": "x"}`, wantErr: []string{"outPath"}},
		{name: "fromOrigin of another kind", config: `{"path": "o", "images": [{"image": "a", "fromOrigin": {"kind": "Stage", "name": "s"}}]}`,
			wantErr: []string{"/images/0/fromOrigin/kind"}},
		{name: "tag not a string", config: `{"path": "o", "images": [{"image": "a", "tag": 1.2}]}`, wantErr: []string{"/images/0/tag"}},
	})
}

func TestKustomizeSetImageRun(t *testing.T) {
	freight := khFreight(map[string]kargoapi.FreightReference{
		"app": {Images: []kargoapi.Image{{RepoURL: "ghcr.io/acme/app", Tag: "2.0.0", Digest: "sha256:aaa"}}},
		"db":  {Images: []kargoapi.Image{{RepoURL: "redis", Tag: "7.2.4", Digest: "sha256:bbb"}}},
	})
	tests := []struct {
		name        string
		file        string // kustomization.yaml before
		config      string
		want        string // kustomization.yaml after
		wantMessage string // commitMessage output
		wantNote    string // in the step's message
	}{
		{
			name: "updates a tag in place, keeping comments, blank lines, indentation and quotes",
			file: `# Overlay for the test stage.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
    - ../../base   # the shared base

images:
    # the app itself
    - name: ghcr.io/acme/app
      newTag: "1.0.0"  # bumped by Caravan
    - name: nginx
      newTag: 1.25.0

namePrefix: test-
`,
			config: `{"path": "./overlay", "images": [{"image": "ghcr.io/acme/app", "tag": "1.1.0"}]}`,
			want: `# Overlay for the test stage.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
    - ../../base   # the shared base

images:
    # the app itself
    - name: ghcr.io/acme/app
      newTag: "1.1.0"  # bumped by Caravan
    - name: nginx
      newTag: 1.25.0

namePrefix: test-
`,
			wantMessage: "Updated ./overlay to use new image\n\n- ghcr.io/acme/app:1.1.0",
		},
		{
			name: "a digest replaces the tag and newName changes",
			file: `kind: Kustomization
images:
- name: ghcr.io/acme/app
  newTag: 1.0.0
  newName: old.example/app # mirror
- name: nginx
  newTag: 1.25.0
`,
			config: `{"path": "./overlay", "images": [{"image": "ghcr.io/acme/app", "digest": "sha256:ccc", "newName": "mirror.example/app"}]}`,
			want: `kind: Kustomization
images:
- name: ghcr.io/acme/app
  newName: mirror.example/app # mirror
  digest: sha256:ccc
- name: nginx
  newTag: 1.25.0
`,
			wantMessage: "Updated ./overlay to use new image\n\n- mirror.example/app@sha256:ccc",
		},
		{
			name: "a new image is appended in the list's style, with a tag that needs quotes",
			file: `kind: Kustomization
images:
  - name: nginx   # web
    newTag: 1.25.0
`,
			config: `{"path": "./overlay", "images": [{"image": "docker.io/library/redis", "name": "redis", "tag": "7.2"}]}`,
			want: `kind: Kustomization
images:
  - name: nginx   # web
    newTag: 1.25.0
  - name: redis
    newTag: "7.2"
`,
			wantMessage: "Updated ./overlay to use new image\n\n- redis:7.2",
		},
		{
			name: "images is added in the file's sequence style when missing",
			file: "kind: Kustomization\nresources:\n- ../../base\n# last line without newline",
			config: `{"path": "./overlay", "images": [
				{"image": "ghcr.io/acme/app", "tag": "v2"},
				{"image": "busybox", "tag": "1.36", "newName": "mirror.example/busybox"}]}`,
			want: "kind: Kustomization\nresources:\n- ../../base\nimages:\n" +
				"- name: busybox\n  newName: mirror.example/busybox\n  newTag: \"1.36\"\n- name: ghcr.io/acme/app\n  newTag: v2\n" +
				"# last line without newline",
			wantMessage: "Updated ./overlay to use new images\n\n- mirror.example/busybox:1.36\n- ghcr.io/acme/app:v2",
		},
		{
			name: `"*" keeps what the file has`,
			file: `images:
- name: app
  newName: mirror.example/app
  newTag: 1.0.0
  tagSuffix: -debug
`,
			config: `{"path": "./overlay", "images": [{"image": "app", "newName": "*", "tag": "1.1.0"}]}`,
			want: `images:
- name: app
  newName: mirror.example/app
  newTag: 1.1.0
`,
			wantMessage: "Updated ./overlay to use new image\n\n- mirror.example/app:1.1.0",
		},
		{
			name:   "without images, every image of the Freight is set",
			file:   "kind: Kustomization\nimages: []  # filled by Caravan\nnamespace: test\n",
			config: `{"path": "./overlay"}`,
			want: "kind: Kustomization\nimages:\n- name: ghcr.io/acme/app\n  newTag: 2.0.0\n  digest: sha256:aaa\n" +
				"- name: redis\n  newTag: 7.2.4\n  digest: sha256:bbb\nnamespace: test\n",
			wantMessage: "Updated ./overlay to use new images\n\n- ghcr.io/acme/app:2.0.0@sha256:aaa\n- redis:7.2.4@sha256:bbb",
		},
		{
			name:   "an empty images list also sets every image of the Freight, as in Kargo",
			file:   "images:\n- name: redis\n  newTag: 7.0.0\n",
			config: `{"path": "./overlay", "images": []}`,
			want: "images:\n- name: redis\n  newTag: 7.2.4\n  digest: sha256:bbb\n" +
				"- name: ghcr.io/acme/app\n  newTag: 2.0.0\n  digest: sha256:aaa\n",
			wantMessage: "Updated ./overlay to use new images\n\n- ghcr.io/acme/app:2.0.0@sha256:aaa\n- redis:7.2.4@sha256:bbb",
		},
		{
			name: "neither tag nor digest: taken from the Freight, with a deprecation notice",
			file: "images:\n- name: ghcr.io/acme/app\n  newTag: 1.0.0\n",
			config: `{"path": "./overlay", "images": [
				{"image": "ghcr.io/acme/app", "fromOrigin": {"kind": "Warehouse", "name": "app"}, "useDigest": true},
				{"image": "redis", "newName": "mirror.example/redis"}]}`,
			want:        "images:\n- name: ghcr.io/acme/app\n  digest: sha256:aaa\n- name: redis\n  newName: mirror.example/redis\n  newTag: 7.2.4\n",
			wantMessage: "Updated ./overlay to use new images\n\n- ghcr.io/acme/app@sha256:aaa\n- mirror.example/redis:7.2.4",
			wantNote:    "deprecated",
		},
		{
			name:        "an image already set: nothing changes",
			file:        "images:\n- name: app\n  newTag: 1.0.0\n",
			config:      `{"path": "./overlay", "images": [{"image": "app", "tag": "1.0.0"}]}`,
			want:        "images:\n- name: app\n  newTag: 1.0.0\n",
			wantMessage: "Updated ./overlay to use new image\n\n- app:1.0.0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			khWriteTree(t, work, map[string]string{"overlay/kustomization.yaml": tc.file})
			step := NewKustomizeSetImage()
			var first map[string]khFile
			for run := 1; run <= 2; run++ {
				res, err := khRun(t, step, work, tc.config, freight)
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				got, err := os.ReadFile(filepath.Join(work, "overlay", "kustomization.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tc.want {
					t.Fatalf("run %d: kustomization.yaml:\n%s\nwant:\n%s", run, got, tc.want)
				}
				if msg, _ := res.Output["commitMessage"].(string); msg != tc.wantMessage {
					t.Errorf("run %d: commitMessage %q, want %q", run, msg, tc.wantMessage)
				}
				if res.Status != "Succeeded" {
					t.Errorf("run %d: status %s", run, res.Status)
				}
				if tc.wantNote != "" && !strings.Contains(res.Message, tc.wantNote) {
					t.Errorf("run %d: message %q does not mention %q", run, res.Message, tc.wantNote)
				}
				if run == 1 {
					first = khSnapshot(t, work)
				} else {
					khSameSnapshot(t, first, khSnapshot(t, work))
				}
			}
		})
	}
}

func TestKustomizeSetImageErrors(t *testing.T) {
	ambiguous := khFreight(map[string]kargoapi.FreightReference{
		"a": {Images: []kargoapi.Image{{RepoURL: "nginx", Tag: "1"}}},
		"b": {Images: []kargoapi.Image{{RepoURL: "nginx", Tag: "2"}}},
	})
	const file = "images:\n- name: nginx\n  newTag: 1.0.0\n"
	tests := []struct {
		name    string
		files   map[string]string
		config  string
		freight kargoapi.FreightCollection
		want    []string
	}{
		{name: "tag and digest", config: `{"path": "o", "images": [{"image": "nginx", "tag": "1", "digest": "sha256:x"}]}`,
			want: []string{"images[0]", "tag and digest are both set"}},
		{name: "ambiguous Freight", config: `{"path": "o"}`, freight: ambiguous,
			want: []string{"nginx", "Warehouse a", "Warehouse b", "list images explicitly"}},
		{name: "ambiguous legacy lookup", config: `{"path": "o", "images": [{"image": "nginx"}]}`, freight: ambiguous,
			want: []string{"images[0]", "neither tag nor digest"}},
		{name: "legacy image not in the Freight", config: `{"path": "o", "images": [{"image": "redis"}]}`,
			want: []string{"images[0]", "redis", "imageFrom"}},
		{name: "no kustomization", files: map[string]string{"o/other.yaml": "a: b\n"}, config: `{"path": "o", "images": [{"image": "nginx", "tag": "1"}]}`,
			want: []string{"path", "no kustomization.yaml"}},
		{name: "no directory", config: `{"path": "missing", "images": [{"image": "nginx", "tag": "1"}]}`,
			want: []string{"path", "does not exist"}},
		{name: "two kustomization files", files: map[string]string{"o/kustomization.yml": file},
			config: `{"path": "o", "images": [{"image": "nginx", "tag": "1"}]}`, want: []string{"kustomization.yaml, kustomization.yml"}},
		{name: "path outside the workspace", config: `{"path": "../o", "images": [{"image": "nginx", "tag": "1"}]}`,
			want: []string{"path", "outside the promotion's workspace"}},
		{name: "images not a list", files: map[string]string{"o/kustomization.yaml": "images: nginx\n"},
			config: `{"path": "o", "images": [{"image": "nginx", "tag": "1"}]}`, want: []string{"images field is not a list"}},
		{name: "two documents", files: map[string]string{"o/kustomization.yaml": "a: 1\n---\nb: 2\n"},
			config: `{"path": "o", "images": [{"image": "nginx", "tag": "1"}]}`, want: []string{"more than one document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			files := tc.files
			if files == nil {
				files = map[string]string{"o/kustomization.yaml": file}
			} else if _, ok := files["o/kustomization.yaml"]; !ok && tc.name != "no kustomization" {
				files["o/kustomization.yaml"] = file
			}
			khWriteTree(t, work, files)
			before := khSnapshot(t, work)
			_, err := khRun(t, NewKustomizeSetImage(), work, tc.config, tc.freight)
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			khSameSnapshot(t, before, khSnapshot(t, work))
		})
	}
}

// BenchmarkKustomizeSetImage sets a new tag in a small kustomization.
func BenchmarkKustomizeSetImage(b *testing.B) {
	work := b.TempDir()
	file := filepath.Join(work, "overlay", "kustomization.yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		b.Fatal(err)
	}
	src := []byte("# test stage\nresources:\n- ../base\nimages:\n- name: ghcr.io/acme/app\n  newTag: 1.0.0 # bumped\n")
	step := NewKustomizeSetImage()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := os.WriteFile(file, src, 0o644); err != nil {
			b.Fatal(err)
		}
		sc := &promotion.StepContext{Project: "demo", WorkDir: work, Attempt: 1,
			Config: []byte(`{"path": "overlay", "images": [{"image": "ghcr.io/acme/app", "tag": "1.0.` + strconv.Itoa(i%9+1) + `"}]}`)}
		if _, err := step.Run(context.Background(), sc); err != nil {
			b.Fatal(err)
		}
	}
}
