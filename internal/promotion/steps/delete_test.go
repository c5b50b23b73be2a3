package steps

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDeleteValidation(t *testing.T) {
	checkValidation(t, NewDelete(), []validationCase{
		{name: "path", config: `{path: out/file}`},
		{name: "paths and options", config: `{paths: [a, b], pathsAreGlobs: true, strict: true}`},
		{name: "neither", config: `{strict: true}`, want: "'oneOf' failed"},
		{name: "both", config: `{path: a, paths: [b]}`, want: "'oneOf' failed, subschemas 0, 1 matched"},
		{name: "paths empty", config: `{paths: []}`, want: "/paths"},
		{name: "unknown field", config: `{path: a, recursive: true}`, want: "additional properties 'recursive'"},
		{name: "strict and missing", config: `{path: out/nope, strict: true}`,
			want: `delete out/nope: path "out/nope": no such file or directory: check it, or set strict: false`},
		{name: "strict glob matches nothing", config: `{paths: ["out/*.tmp"], pathsAreGlobs: true, strict: true}`,
			files: map[string]string{"out/a.yaml": ""}, want: `paths[0] "out/*.tmp": the pattern matches nothing`},
		{name: "the workspace itself", config: `{path: ./}`, want: "it names the whole workspace"},
		{name: "outside", config: `{path: ../x}`, want: "leads outside the promotion's workspace"},
		{name: "glob outside", config: `{paths: ["../*"], pathsAreGlobs: true}`, want: "the pattern must stay inside the promotion's workspace"},
		{name: "bad glob", config: `{paths: ["out/[z-a"], pathsAreGlobs: true}`, want: "syntax error in pattern"},
	})
}

func TestDeleteLiteralPaths(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"out/unwanted/file": "x", "out/tmp/a": "a", "out/build.log": "log", "out/keep.yaml": "k",
	})
	writeFiles(t, outside, map[string]string{"precious": "p"})
	if err := os.Symlink(outside, filepath.Join(dir, "out/link")); err != nil {
		t.Fatal(err)
	}
	runTwice(t, NewDelete(), dir, `{paths: [./out/unwanted/file, ./out/tmp, ./out/build.log, out/link, out/never-existed]}`)
	if got, want := listTree(t, dir), []string{"out/", "out/keep.yaml", "out/unwanted/"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("workspace holds %q, want %q", got, want)
	}
	if s := readFile(t, outside, "precious"); s != "p" {
		t.Fatal("the symlink's target was touched")
	}
}

func TestDeleteGlobs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"out/a.tmp": "", "out/sub/b.tmp": "", "out/sub/deeper/c.tmp": "", "out/sub/c.yaml": "",
		"out/build/x": "", "out/build.txt": "", "src/d.tmp": "",
	})
	runTwice(t, NewDelete(), dir, `{paths: [./out/**/*.tmp, ./out/build/, "out/build.txt/"], pathsAreGlobs: true}`)
	want := []string{"out/", "out/build.txt", "out/sub/", "out/sub/c.yaml", "out/sub/deeper/", "src/", "src/d.tmp"}
	if got := listTree(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("workspace holds %q, want %q", got, want)
	}
}
