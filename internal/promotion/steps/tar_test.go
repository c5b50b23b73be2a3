package steps

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/retry"
)

func TestTarValidation(t *testing.T) {
	checkValidation(t, NewTar(), []validationCase{
		{name: "valid", config: `{inPath: src, outPath: out/bundle.tar.gz, gzip: true, ignore: "*.log"}`},
		{name: "inPath missing", config: `{outPath: a.tar}`, want: "missing property 'inPath'"},
		{name: "gzip not a bool", config: `{inPath: src, outPath: a.tar, gzip: "yes"}`, want: "at '/gzip': got string, want boolean"},
		{name: "Kargo has no path key", config: `{path: src, outPath: a.tar}`, want: "additional properties 'path'"},
		{name: "source missing", config: `{inPath: src, outPath: a.tar}`, want: `inPath "src": no such file or directory`},
		{name: "outPath a directory", config: `{inPath: src, outPath: out}`,
			files: map[string]string{"src/a": "a", "out/b": "b"}, want: `outPath "out" is a directory: name the archive file`},
	})
}

func TestTarRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"src/manifests/deploy.yaml": "kind: Deployment\n",
		"src/manifests/svc.yaml":    "kind: Service\n",
		"src/README.md":             "# app\n",
		"src/debug.log":             "noise",
		"src/.git/HEAD":             "ref: refs/heads/main\n",
		"src/empty/.keep":           "",
	})
	if err := os.Symlink("manifests/deploy.yaml", filepath.Join(dir, "src/current.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "src/README.md"), 0o600); err != nil {
		t.Fatal(err)
	}
	runTwice(t, NewTar(), dir, `{inPath: ./src, outPath: ./artifacts/bundle.tar.gz, ignore: "*.log"}`)
	first := readFile(t, dir, "artifacts/bundle.tar.gz")
	if !strings.HasPrefix(first, "\x1f\x8b") {
		t.Fatal("the archive is not gzipped")
	}
	// Touching the files does not change the archive: it is reproducible.
	if err := os.Chtimes(filepath.Join(dir, "src/README.md"), archiveTime.AddDate(30, 0, 0), archiveTime.AddDate(30, 0, 0)); err != nil {
		t.Fatal(err)
	}
	runStep(t, NewTar(), dir, `{inPath: ./src, outPath: ./artifacts/bundle.tar.gz, ignore: "*.log"}`)
	if readFile(t, dir, "artifacts/bundle.tar.gz") != first {
		t.Fatal("the archive changed although the files did not")
	}

	runTwice(t, NewUntar(), dir, `{inPath: ./artifacts/bundle.tar.gz, outPath: ./extracted}`)
	want := []string{"README.md", "current.yaml -> manifests/deploy.yaml", "empty/", "empty/.keep", "manifests/", "manifests/deploy.yaml", "manifests/svc.yaml"}
	if got := listTree(t, filepath.Join(dir, "extracted")); !reflect.DeepEqual(got, want) {
		t.Fatalf("extracted %q\nwant %q", got, want)
	}
	if s := readFile(t, dir, "extracted/current.yaml"); s != "kind: Deployment\n" {
		t.Fatalf("symlink resolves to %q", s)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "extracted/README.md")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestTarPlainFileAndSelf(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "hello", "b.txt": "world"})
	// The archive is written inside the directory it archives: it leaves
	// itself out.
	runTwice(t, NewTar(), dir, `{inPath: ., outPath: ./all.tar, gzip: false}`)
	b := readFile(t, dir, "all.tar")
	if len(b) < 262 || b[257:262] != "ustar" {
		t.Fatal("not an uncompressed tar archive")
	}
	runTwice(t, NewTar(), dir, `{inPath: a.txt, outPath: one.tar.gz}`)
	runTwice(t, NewUntar(), dir, `{inPath: all.tar, outPath: x}`)
	if got, want := listTree(t, filepath.Join(dir, "x")), []string{"a.txt", "b.txt"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("extracted %q, want %q", got, want)
	}
	runTwice(t, NewUntar(), dir, `{inPath: one.tar.gz, outPath: single}`)
	if s := readFile(t, dir, "single/a.txt"); s != "hello" {
		t.Fatalf("a.txt holds %q", s)
	}
}

func TestTarRefusesSymlinkOutside(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src/a": "a", "secret": "s"})
	if err := os.Symlink("../secret", filepath.Join(dir, "src/leak")); err != nil {
		t.Fatal(err)
	}
	_, err := runStep(t, NewTar(), dir, `{inPath: src, outPath: out.tgz}`)
	if err == nil || !retry.IsTerminal(err) || !strings.Contains(err.Error(), "the symlink leak points to ../secret, outside inPath: remove it or add it to ignore") {
		t.Fatalf("error %v; want the symlink refused", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.tgz")); !os.IsNotExist(err) {
		t.Fatal("an archive was written")
	}
	runTwice(t, NewTar(), dir, `{inPath: src, outPath: out.tgz, ignore: leak}`)
	if !bytes.HasPrefix([]byte(readFile(t, dir, "out.tgz")), []byte{0x1f, 0x8b}) {
		t.Fatal("no archive")
	}
}
