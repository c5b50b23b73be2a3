package steps

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileWriteValidation(t *testing.T) {
	checkValidation(t, NewFileWrite(), []validationCase{
		{name: "valid", config: `{path: out/app.yaml, contents: "a: 1\n", permissions: "0644", overwrite: true}`},
		{name: "empty contents", config: `{path: out/empty, contents: ""}`},
		{name: "contents missing", config: `{path: out/app.yaml}`, want: "missing property 'contents'"},
		{name: "contents not a string", config: `{path: out/app.yaml, contents: {a: 1}}`, want: "at '/contents': got object, want string"},
		{name: "bad permissions", config: `{path: a, contents: x, permissions: "644"}`, want: "/permissions"},
		{name: "permissions not octal", config: `{path: a, contents: x, permissions: "0999"}`, want: "/permissions"},
		{name: "exists without overwrite", config: `{path: out/app.yaml, contents: new}`,
			files: map[string]string{"out/app.yaml": "old"}, want: "write out/app.yaml: the file exists: set overwrite: true to replace it"},
		{name: "a directory", config: `{path: out, contents: x, overwrite: true}`,
			files: map[string]string{"out/a": ""}, want: `path "out" is a directory`},
	})
}

func TestFileWrite(t *testing.T) {
	dir := t.TempDir()
	runTwice(t, NewFileWrite(), dir, `{path: out/config/app.yaml, contents: "replicas: 3\n"}`)
	if s := readFile(t, dir, "out/config/app.yaml"); s != "replicas: 3\n" {
		t.Fatalf("file holds %q", s)
	}
	fi, err := os.Stat(filepath.Join(dir, "out/config/app.yaml"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want the default 0600", fi.Mode().Perm(), err)
	}
	runTwice(t, NewFileWrite(), dir, `{path: out/config/app.yaml, contents: "replicas: 4\n", permissions: "0644", overwrite: true}`)
	fi, _ = os.Stat(filepath.Join(dir, "out/config/app.yaml"))
	if s := readFile(t, dir, "out/config/app.yaml"); s != "replicas: 4\n" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("after overwrite: %q mode %v", s, fi.Mode().Perm())
	}
}
