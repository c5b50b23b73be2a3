package steps

import (
	"context"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// jsonUpdateSchema is the json-update step's config schema.
const jsonUpdateSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "json-update config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "updates"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The JSON file to update, relative to the promotion's workspace."
    },
    "updates": {
      "type": "array",
      "minItems": 1,
      "description": "The values to set.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["key", "value"],
        "properties": {
          "key": {
            "type": "string",
            "minLength": 1,
            "description": "Dot-separated path, e.g. image.tag or containers.0.image (sjson syntax); \\. is a dot inside a key, -1 appends to an array. Missing keys are added."
          },
          "value": {
            "description": "The new value."
          }
        }
      }
    }
  }
}`

// jsonUpdate is the json-update step.
type jsonUpdate struct{}

// NewJSONUpdate returns the json-update step: it sets values in a JSON file
// in place, changing only the bytes of those values; as with Kargo's sjson
// paths, a missing key is added to its object and -1 appends to an array,
// laid out like the surrounding document. Its output commitMessage
// describes the change, for git-commit.
func NewJSONUpdate() promotion.Step { return jsonUpdate{} }

// Name implements promotion.Step.
func (jsonUpdate) Name() string { return "json-update" }

// Schema implements promotion.Step.
func (jsonUpdate) Schema() []byte { return []byte(jsonUpdateSchema) }

// Run implements promotion.Step.
func (s jsonUpdate) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	return runKeyUpdate(s.Name(), sc, editJSON, ": fix the file")
}
