package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifestExts are the file extensions read from a directory.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// document is one YAML or JSON document of a manifest source.
type document struct {
	source string // file name, or "-" for stdin
	raw    []byte
}

// readDocuments reads the documents of -f PATH: a file, every .yaml, .yml
// and .json file directly in a directory (sorted by name), or stdin for "-".
// Empty documents (only whitespace and comments) are dropped.
func readDocuments(path string, stdin io.Reader) ([]document, error) {
	if path == "" {
		return nil, errors.New("no manifests given: pass -f FILE, -f DIR or -f - (stdin)")
	}
	if path == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return splitDocuments("-", data)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		return splitDocuments(path, data)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && manifestExts[strings.ToLower(filepath.Ext(e.Name()))] {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("read manifests: no .yaml, .yml or .json files in directory %s", path)
	}
	var docs []document
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		d, err := splitDocuments(f, data)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// splitDocuments splits multi-document YAML (a JSON file is one document).
func splitDocuments(source string, data []byte) ([]document, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", source, err)
		}
		if isEmptyDocument(raw) {
			continue
		}
		// The reader keeps a separator that opens the stream; drop it.
		if bytes.HasPrefix(raw, []byte("---")) {
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				raw = raw[i+1:]
			}
		}
		docs = append(docs, document{source: source, raw: raw})
	}
	return docs, nil
}

func isEmptyDocument(raw []byte) bool {
	for _, line := range strings.Split(string(raw), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && t != "---" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// joinDocuments renders documents as one multi-document YAML stream.
func joinDocuments(docs []document) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d.raw)
		if len(d.raw) > 0 && d.raw[len(d.raw)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// decode parses a document into an object.
func (d document) decode() (*unstructured.Unstructured, error) {
	obj := map[string]any{}
	if err := yaml.Unmarshal(d.raw, &obj); err != nil {
		return nil, fmt.Errorf("parse %s: %w", d.source, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}
