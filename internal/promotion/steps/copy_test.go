package steps

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/caravan-dev/caravan/internal/retry"
)

func TestCopyValidation(t *testing.T) {
	checkValidation(t, NewCopy(), []validationCase{
		{name: "valid", config: `{inPath: src, outPath: out}`},
		{name: "valid with ignore", config: "{inPath: src, outPath: out, ignore: \"*.tmp\\n!keep.tmp\"}"},
		{name: "inPath missing", config: `{outPath: out}`, want: "missing property 'inPath'"},
		{name: "outPath missing", config: `{inPath: src}`, want: "missing property 'outPath'"},
		{name: "ignore empty", config: `{inPath: src, outPath: out, ignore: ""}`, want: "/ignore"},
		{name: "unknown field", config: `{inPath: src, outPath: out, recursive: true}`, want: "additional properties 'recursive'"},
		{name: "source missing", config: `{inPath: src, outPath: out}`, want: `inPath "src": no such file or directory`},
		{name: "bad ignore pattern", config: "{inPath: src, outPath: out, ignore: \"ok\\n[z-a\"}",
			files: map[string]string{"src/a": "a"}, want: `ignore line 2 "[z-a": syntax error in pattern`},
		{name: "into itself", config: `{inPath: src, outPath: src/copy}`,
			files: map[string]string{"src/a": "a"}, want: "outPath is inside inPath"},
		{name: "file onto a directory", config: `{inPath: a.txt, outPath: out}`,
			files: map[string]string{"a.txt": "a", "out/b": "b"}, want: `outPath "out" is a directory: name the destination file, such as out/a.txt`},
		{name: "escapes the workspace", config: `{inPath: src, outPath: ../elsewhere}`, want: "outPath: resolve path"},
	})
}

func TestCopyDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"src/base/deployment.yaml":  "kind: Deployment\n",
		"src/base/notes.tmp":        "scratch",
		"src/base/keep.tmp":         "keep me",
		"src/overlays/test/kus.yml": "resources: []\n",
		"src/testdata/fixture.yaml": "x: 1\n",
		"src/.git/HEAD":             "ref: refs/heads/main\n",
		"out/existing.txt":          "stays",
		"out/base/deployment.yaml":  "old",
	})
	if err := os.Symlink("base/deployment.yaml", filepath.Join(dir, "src/link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "src/base/deployment.yaml"), 0o640); err != nil {
		t.Fatal(err)
	}
	runTwice(t, NewCopy(), dir, "{inPath: ./src, outPath: ./out, ignore: \"# scratch files\\n*.tmp\\n!keep.tmp\\ntestdata/\\n\"}")
	want := []string{
		"out/base/", "out/base/deployment.yaml", "out/base/keep.tmp", "out/existing.txt",
		"out/overlays/", "out/overlays/test/", "out/overlays/test/kus.yml",
	}
	var got []string
	for _, p := range listTree(t, dir) {
		if len(p) > 4 && p[:4] == "out/" {
			got = append(got, p)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("out holds %q\nwant %q", got, want)
	}
	if s := readFile(t, dir, "out/base/deployment.yaml"); s != "kind: Deployment\n" {
		t.Fatalf("existing file not replaced: %q", s)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "out/base/deployment.yaml")); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestCopyFileAndGitReinclude(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"overlay/kustomization.yaml": "k: 1\n", "repo/.git/HEAD": "x", "repo/a": "a"})
	runTwice(t, NewCopy(), dir, `{inPath: overlay/kustomization.yaml, outPath: src/stages/test/kustomization.yaml}`)
	if s := readFile(t, dir, "src/stages/test/kustomization.yaml"); s != "k: 1\n" {
		t.Fatalf("copied file holds %q", s)
	}
	runTwice(t, NewCopy(), dir, "{inPath: repo, outPath: mirror, ignore: \"!.git/\"}")
	if s := readFile(t, dir, "mirror/.git/HEAD"); s != "x" {
		t.Fatalf(".git not re-included: %q", s)
	}
}

func TestCopyDoesNotWriteThroughSymlinks(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src/evil/x": "payload"})
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out/evil")); err != nil {
		t.Fatal(err)
	}
	_, err := runStep(t, NewCopy(), dir, `{inPath: src, outPath: out}`)
	if err == nil || !retry.IsTerminal(err) {
		t.Fatalf("copy through a symlink that leaves the workspace: %v; want a terminal error", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("files written outside the workspace: %v", entries)
	}
}
