package steps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/retry"
)

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name, body, link string
	kind             byte
}

// makeArchive builds a tar archive, gzipped when gz is set.
func makeArchive(t *testing.T, gz bool, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var gzw *gzip.Writer
	tw := tar.NewWriter(&buf)
	if gz {
		gzw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(gzw)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.kind, Linkname: e.link}
		if e.kind == 0 {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if e.kind == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if gzw != nil {
		if err := gzw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writeArchiveFile(t *testing.T, dir, rel string, b []byte) {
	t.Helper()
	writeFiles(t, dir, map[string]string{rel: string(b)})
}

func TestUntarValidation(t *testing.T) {
	checkValidation(t, NewUntar(), []validationCase{
		{name: "valid", config: `{inPath: a.tgz, outPath: out, stripComponents: 1, ignore: "*.md"}`},
		{name: "outPath missing", config: `{inPath: a.tgz}`, want: "missing property 'outPath'"},
		{name: "negative strip", config: `{inPath: a.tgz, outPath: out, stripComponents: -1}`, want: "/stripComponents"},
		{name: "strip not an integer", config: `{inPath: a.tgz, outPath: out, stripComponents: 1.5}`, want: "/stripComponents"},
		{name: "archive missing", config: `{inPath: a.tgz, outPath: out}`, want: `inPath "a.tgz": no such file`},
		{name: "not an archive", config: `{inPath: a.tgz, outPath: out}`,
			files: map[string]string{"a.tgz": strings.Repeat("not a tar archive ", 40)}, want: "is the file a tar archive?"},
		{name: "outPath a file", config: `{inPath: a.tgz, outPath: out}`,
			files: map[string]string{"a.tgz": "x", "out": "file"}, want: `outPath "out" is a file: name a directory`},
	})
}

func TestUntarRefusesUnsafeArchives(t *testing.T) {
	cases := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"dot-dot", []tarEntry{{name: "ok.txt", body: "ok"}, {name: "../evil.txt", body: "x"}}, `entry "../evil.txt" would be written outside outPath (its path climbs out with ..)`},
		{"dot-dot inside", []tarEntry{{name: "a/../../evil.txt", body: "x"}}, `entry "a/../../evil.txt" would be written outside outPath`},
		{"absolute", []tarEntry{{name: "/tmp/evil.txt", body: "x"}}, `entry "/tmp/evil.txt" would be written outside outPath (it has an absolute path)`},
		{"symlink out", []tarEntry{{name: "link", kind: tar.TypeSymlink, link: "../../outside"}}, `entry "link" would be written outside outPath (it is a symlink to "../../outside", outside outPath)`},
		{"absolute symlink", []tarEntry{{name: "etc", kind: tar.TypeSymlink, link: "/etc"}, {name: "etc/passwd", body: "x"}}, `entry "etc" would be written outside outPath (it is a symlink to "/etc"`},
		{"hard link out", []tarEntry{{name: "h", kind: tar.TypeLink, link: "../secret"}}, `entry "h" would be written outside outPath (its hard link target "../secret" is not inside outPath)`},
		{"windows path", []tarEntry{{name: `..\evil.txt`, body: "x"}}, `would be written outside outPath`},
	}
	for _, tc := range cases {
		for _, gz := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				root := t.TempDir()
				dir := filepath.Join(root, "work")
				writeFiles(t, dir, map[string]string{"out/existing.txt": "keep", "secret": "s"})
				writeArchiveFile(t, dir, "in.tar", makeArchive(t, gz, tc.entries...))
				_, err := runStep(t, NewUntar(), dir, `{inPath: in.tar, outPath: out/sub}`)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was extracted") {
					t.Fatalf("error %v; want one containing %q", err, tc.want)
				}
				if !retry.IsTerminal(err) {
					t.Fatalf("error %v is not terminal: retrying cannot make the archive safe", err)
				}
				if got, want := listTree(t, root), []string{"work/", "work/in.tar", "work/out/", "work/out/existing.txt", "work/secret"}; !reflect.DeepEqual(got, want) {
					t.Fatalf("after the refusal the tree is %q, want %q", got, want)
				}
			})
		}
	}
}

func TestUntarStripIgnoreAndMerge(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"charts/app/values.yaml": "old", "charts/app/local.txt": "mine"})
	writeArchiveFile(t, dir, "charts/app-1.2.3.tgz", makeArchive(t, true,
		tarEntry{name: "app/", kind: tar.TypeDir},
		tarEntry{name: "app/Chart.yaml", body: "name: app\n"},
		tarEntry{name: "app/values.yaml", body: "new"},
		tarEntry{name: "app/templates/deploy.yaml", body: "kind: Deployment\n"},
		tarEntry{name: "app/templates/NOTES.txt", body: "notes"},
		tarEntry{name: "app/.git/config", body: "x"},
		tarEntry{name: "app/README.md", body: "readme"},
		tarEntry{name: "app/docs/", kind: tar.TypeDir},
		tarEntry{name: "app/docs/guide.md", body: "guide"},
		tarEntry{name: "app/deploy-link.yaml", kind: tar.TypeSymlink, link: "templates/deploy.yaml"},
		tarEntry{name: "app/hard.yaml", kind: tar.TypeLink, link: "app/Chart.yaml"},
		tarEntry{name: "top-level-only", body: "stripped away"},
		tarEntry{name: "app/fifo", kind: tar.TypeFifo},
	))
	runTwice(t, NewUntar(), dir, "{inPath: charts/app-1.2.3.tgz, outPath: charts/app, stripComponents: 1, ignore: \"*.md\\ndocs/\\n/templates/NOTES.txt\"}")
	want := []string{"Chart.yaml", "deploy-link.yaml -> templates/deploy.yaml", "hard.yaml", "local.txt", "templates/", "templates/deploy.yaml", "values.yaml"}
	if got := listTree(t, filepath.Join(dir, "charts/app")); !reflect.DeepEqual(got, want) {
		t.Fatalf("extracted %q\nwant %q", got, want)
	}
	if s := readFile(t, dir, "charts/app/values.yaml"); s != "new" {
		t.Fatalf("values.yaml not replaced: %q", s)
	}
	if s := readFile(t, dir, "charts/app/hard.yaml"); s != "name: app\n" {
		t.Fatalf("hard link holds %q", s)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".untar-*")); len(entries) != 0 {
		t.Fatalf("temporary directories left behind: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, "charts/app/fifo")); !os.IsNotExist(err) {
		t.Fatal("a fifo was extracted")
	}
}
