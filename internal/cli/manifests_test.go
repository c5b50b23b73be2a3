package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadDocuments(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b.yaml":    "---\nkind: B1\n---\n# only a comment\n---\nkind: B2\n",
		"a.yml":     "kind: A\n",
		"c.json":    `{"kind": "C"}`,
		"notes.txt": "kind: Ignored\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}

	docs, err := readDocuments(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		o, err := d.decode()
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, o.GetKind())
	}
	if got := strings.Join(kinds, ","); got != "A,B1,B2,C" {
		t.Errorf("documents %s, want A,B1,B2,C (files sorted, empty documents dropped)", got)
	}
	joined := string(joinDocuments(docs))
	if strings.Count(joined, "---\n") != 3 || !strings.HasSuffix(joined, "}\n") {
		t.Errorf("joined:\n%s", joined)
	}

	docs, err = readDocuments("-", strings.NewReader("kind: X\n---\nkind: Y"))
	if err != nil || len(docs) != 2 {
		t.Errorf("stdin: %d documents, %v", len(docs), err)
	}

	if _, err := readDocuments(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "no .yaml") {
		t.Errorf("empty dir: err = %v", err)
	}
	if _, err := readDocuments(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("missing file: want an error")
	}
}
