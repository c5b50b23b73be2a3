package v1alpha1

import (
	"bytes"
)

// RawJSON holds a JSON value exactly as written: a metric provider Caravan
// does not model, or a web provider's jsonBody. An empty Raw means absent.
type RawJSON struct {
	// Raw is the encoded JSON value.
	Raw []byte `json:"-"`
}

// MarshalJSON returns the raw bytes, or null when there are none.
func (j RawJSON) MarshalJSON() ([]byte, error) {
	if len(j.Raw) == 0 {
		return []byte("null"), nil
	}
	return j.Raw, nil
}

// UnmarshalJSON keeps a copy of data; JSON null leaves Raw empty.
func (j *RawJSON) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		j.Raw = nil
		return nil
	}
	j.Raw = append(j.Raw[:0:0], data...)
	return nil
}
