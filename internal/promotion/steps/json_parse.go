package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// jsonParse is the json-parse step.
type jsonParse struct{}

// NewJSONParse returns the json-parse step: it reads a JSON file and sets
// each of its outputs to the value of an expression over the document, as
// yaml-parse does for YAML.
func NewJSONParse() promotion.Step { return jsonParse{} }

// Name implements promotion.Step.
func (jsonParse) Name() string { return "json-parse" }

// Schema implements promotion.Step.
func (jsonParse) Schema() []byte { return []byte(fmt.Sprintf(parseSchema, "json-parse", "JSON")) }

// Run implements promotion.Step.
func (s jsonParse) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	return runParse(sc, s.Name(), decodeJSONDocument)
}

// decodeJSONDocument decodes one JSON value into plain Go values, refusing
// anything after it.
func decodeJSONDocument(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse the file as JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("parse the file as JSON: there is more after the first value")
	}
	return plainValue(doc), nil
}
