package v1alpha1

import (
	"bytes"
	"encoding/json"
)

// JSON holds a free-form JSON value exactly as it was written: a promotion
// step's config, a Target's params, a generic subscription's config, a
// Promotion's state. Caravan stores it untouched; whatever consumes it checks
// it. The zero value (nil Raw) stands for an absent value.
type JSON struct {
	// Raw is the encoded JSON value.
	Raw []byte `json:"-"`
}

// NewJSON encodes v and returns it as a JSON value.
func NewJSON(v any) (*JSON, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &JSON{Raw: raw}, nil
}

// MarshalJSON returns the raw bytes, or null when there are none.
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j.Raw) == 0 {
		return []byte("null"), nil
	}
	return j.Raw, nil
}

// UnmarshalJSON keeps a copy of data. A JSON null leaves Raw empty.
func (j *JSON) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		j.Raw = nil
		return nil
	}
	j.Raw = append(j.Raw[:0:0], data...)
	return nil
}

// IsEmpty reports whether the value is absent or JSON null.
func (j *JSON) IsEmpty() bool {
	return j == nil || len(j.Raw) == 0 || bytes.Equal(j.Raw, []byte("null"))
}

// Decode unmarshals the value into v. An empty value leaves v untouched.
func (j *JSON) Decode(v any) error {
	if j.IsEmpty() {
		return nil
	}
	return json.Unmarshal(j.Raw, v)
}

// ExpressionVariable is a named value, which may contain ${{ }} expressions,
// that promotion steps can refer to as vars.NAME.
type ExpressionVariable struct {
	// Name is the variable's name.
	//
	// +kubebuilder:validation:Required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Value is the variable's value; it may contain expressions.
	Value string `json:"value,omitempty"`
}
