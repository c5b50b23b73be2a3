package apply

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Document is one manifest of an apply request: the decoded object, or the
// error that made it undecodable (a BadRequest StatusError). A document that
// fails to decode does not stop the others.
type Document struct {
	Object *unstructured.Unstructured
	Err    error
}

// Decode splits a multi-document YAML or JSON stream into documents. YAML
// documents are separated by "---" lines; a document may also be a JSON or
// YAML array of objects, or a List (any kind ending in "List" with items),
// each of whose items is a document. Empty and null documents are skipped.
// The returned error is only for failures reading r (such as a body over its
// size limit); a document that does not parse becomes a Document with Err.
func Decode(r io.Reader) ([]Document, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 64<<10))
	var docs []Document
	for n := 1; ; n++ {
		chunk, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			var syntax utilyaml.YAMLSyntaxError
			if errors.As(err, &syntax) {
				return append(docs, Document{Err: apierrors.NewBadRequest(fmt.Sprintf("document %d: %v", n, err))}), nil
			}
			return nil, err
		}
		docs = append(docs, decodeChunk(n, chunk)...)
	}
}

func decodeChunk(n int, chunk []byte) []Document {
	bad := func(format string, args ...any) []Document {
		return []Document{{Err: apierrors.NewBadRequest(fmt.Sprintf("document %d: ", n) + fmt.Sprintf(format, args...))}}
	}
	var v any
	trimmed := bytes.TrimSpace(chunk)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && utiljson.Unmarshal(trimmed, &v) == nil {
		// JSON, the fast path.
	} else {
		js, err := yaml.YAMLToJSON(chunk)
		if err != nil {
			return bad("not valid YAML or JSON: %v", err)
		}
		v = nil
		if err := utiljson.Unmarshal(js, &v); err != nil {
			return bad("not valid YAML or JSON: %v", err)
		}
	}
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return items(n, t)
	case map[string]any:
		if kind, _ := t["kind"].(string); strings.HasSuffix(kind, "List") {
			if list, ok := t["items"].([]any); ok {
				return items(n, list)
			}
		}
		return []Document{{Object: &unstructured.Unstructured{Object: t}}}
	default:
		return bad("expected an object with apiVersion, kind and metadata, got %T", v)
	}
}

func items(n int, list []any) []Document {
	out := make([]Document, 0, len(list))
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			out = append(out, Document{Err: apierrors.NewBadRequest(fmt.Sprintf(
				"document %d, item %d: expected an object with apiVersion, kind and metadata", n, i))})
			continue
		}
		out = append(out, Document{Object: &unstructured.Unstructured{Object: m}})
	}
	return out
}
