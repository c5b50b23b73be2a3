package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// setMetadataSchema is the set-metadata step's config schema.
const setMetadataSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "set-metadata config",
  "type": "object",
  "additionalProperties": false,
  "required": ["updates"],
  "properties": {
    "updates": {
      "type": "array",
      "minItems": 1,
      "description": "The metadata to set, per Stage or Freight.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "name", "values"],
        "properties": {
          "kind": {"type": "string", "enum": ["Stage", "Freight"], "description": "Stage or Freight."},
          "name": {"type": "string", "minLength": 1, "description": "The Stage's or the Freight's name, in the promotion's project."},
          "values": {"type": "object", "minProperties": 1, "description": "The keys to set and their values, of any JSON type."}
        }
      }
    }
  }
}`

// MetadataWriter sets metadata on Stages and Freight: the narrow part of the
// store the set-metadata step needs. Each call sets the given keys and keeps
// the others; setting a key to the value it has is a no-op. A missing Stage
// or Freight is an error wrapping ErrNotFound. Implementations are safe for
// concurrent use.
type MetadataWriter interface {
	SetStageMetadata(ctx context.Context, project, stage string, values map[string]any) error
	SetFreightMetadata(ctx context.Context, project, freight string, values map[string]any) error
}

// ErrNotFound is wrapped by writers' errors for a Stage or Freight that does
// not exist; the step then fails at once instead of retrying.
var ErrNotFound = errors.New("not found")

type setMetadataConfig struct {
	Updates []struct {
		Kind   string         `json:"kind"`
		Name   string         `json:"name"`
		Values map[string]any `json:"values"`
	} `json:"updates"`
}

// setMetadata is the set-metadata step.
type setMetadata struct {
	w MetadataWriter
}

// NewSetMetadata returns the set-metadata step, which writes with w: for
// each update it sets the given keys of a Stage's or a Freight's metadata
// in the promotion's project, which stageMetadata() and freightMetadata()
// then read. w must not be nil.
func NewSetMetadata(w MetadataWriter) promotion.Step { return setMetadata{w: w} }

// Name implements promotion.Step.
func (setMetadata) Name() string { return "set-metadata" }

// Schema implements promotion.Step.
func (setMetadata) Schema() []byte { return []byte(setMetadataSchema) }

// Run implements promotion.Step.
func (s setMetadata) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[setMetadataConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if len(cfg.Updates) == 0 {
		return promotion.StepResult{}, terminalf("updates: none given: list at least one {kind, name, values}")
	}
	for i, u := range cfg.Updates {
		if u.Kind != "Stage" && u.Kind != "Freight" {
			return promotion.StepResult{}, terminalf("updates[%d].kind %q: give Stage or Freight", i, u.Kind)
		}
		if u.Name == "" || len(u.Values) == 0 {
			return promotion.StepResult{}, terminalf("updates[%d]: give the %s's name and at least one value", i, u.Kind)
		}
	}
	for i, u := range cfg.Updates {
		values := plainValue(u.Values).(map[string]any)
		if u.Kind == "Stage" {
			err = s.w.SetStageMetadata(ctx, sc.Project, u.Name, values)
		} else {
			err = s.w.SetFreightMetadata(ctx, sc.Project, u.Name, values)
		}
		switch {
		case errors.Is(err, ErrNotFound):
			return promotion.StepResult{}, terminalf("updates[%d]: %s %q not found in project %q: check the name (for the Freight being promoted use ${{ ctx.targetFreight.name }})",
				i, u.Kind, u.Name, sc.Project)
		case err != nil:
			return promotion.StepResult{}, fmt.Errorf("updates[%d]: set the metadata of %s %q: %w", i, u.Kind, u.Name, err)
		}
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}
