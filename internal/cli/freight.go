package cli

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// freightID computes the ID Kargo gives a Freight document, which is also
// its name: a hash of its origin and artifacts. The server's apply names
// Freight with it and `delete -f` finds Freight by it.
func freightID(obj *unstructured.Unstructured) (string, error) {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return "", fmt.Errorf("encode Freight %q: %w", obj.GetName(), err)
	}
	var f v1alpha1.Freight
	if err := json.Unmarshal(b, &f); err != nil {
		return "", fmt.Errorf("decode Freight %q: %w", obj.GetName(), err)
	}
	if f.Origin.Name == "" {
		return "", fmt.Errorf("compute the ID of Freight %q: it has no origin; set origin.kind and origin.name", obj.GetName())
	}
	return f.GenerateID(), nil
}
