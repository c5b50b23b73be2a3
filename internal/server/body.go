package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/apply"
)

// readBody reads the request body within the size limit: 413 beyond it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return nil, s.bodyError(err)
	}
	return b, nil
}

func (s *Server) bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the request body is larger than the limit of %d bytes", s.maxBody))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("read the request body: %v", err))
}

// decodeValue decodes a JSON or YAML document; numbers become int64 or
// float64 as in unstructured objects.
func decodeValue(b []byte) (any, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	if b[0] != '{' && b[0] != '[' {
		js, err := yaml.YAMLToJSON(b)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the request body is not valid JSON or YAML: %v", err))
		}
		b = js
	}
	var v any
	if err := utiljson.Unmarshal(b, &v); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the request body is not valid JSON or YAML: %v", err))
	}
	return v, nil
}

// readObject reads a request body holding one object.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (*unstructured.Unstructured, error) {
	b, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	v, err := decodeValue(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, apierrors.NewBadRequest("the request body must be one object with apiVersion, kind and metadata")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// checkObject makes a body agree with its path: apiVersion and kind are
// filled when absent and must match; metadata.namespace is filled (namespaced
// kinds) or cleared (cluster-scoped ones) and must match; for a path naming
// an object, metadata.name is filled and must match.
func checkObject(t *target, obj *unstructured.Unstructured) error {
	if err := apply.CheckMetadata(obj); err != nil {
		return err
	}
	switch k := obj.GetKind(); k {
	case "":
		obj.SetKind(t.info.Kind)
	case t.info.Kind:
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("the object's kind %q does not match the path, which serves %s", k, t.info.Kind))
	}
	switch v := obj.GetAPIVersion(); v {
	case "":
		obj.SetAPIVersion(t.info.APIVersion())
	case t.info.APIVersion():
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("the object's apiVersion %q does not match the path, which serves %s", v, t.info.APIVersion()))
	}
	ns := obj.GetNamespace()
	switch {
	case !t.info.Namespaced:
		if ns != "" {
			obj.SetNamespace("")
		}
	case ns == "":
		obj.SetNamespace(t.namespace)
	case ns != t.namespace:
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the URL (%s)", ns, t.namespace))
	}
	if t.name != "" {
		switch n := obj.GetName(); n {
		case "":
			obj.SetName(t.name)
		case t.name:
		default:
			return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", n, t.name))
		}
	}
	return nil
}

// mergePatch applies an RFC 7386 JSON merge patch to target and returns the
// result; target may be modified. Values taken from patch are copied.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return runtime.DeepCopyJSONValue(patch)
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
