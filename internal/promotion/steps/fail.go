package steps

import (
	"context"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// failSchema is the fail step's config schema.
const failSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "fail config",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "message": {"type": "string", "minLength": 1, "description": "Why the promotion fails."}
  }
}`

// failDefaultMessage is the message of a fail step without one.
const failDefaultMessage = "failed by a fail step"

type failConfig struct {
	Message string `json:"message"`
}

// failStep is the fail step.
type failStep struct{}

// NewFail returns the fail step: it fails the promotion with its message,
// usually under an if that detects what must stop the promotion.
func NewFail() promotion.Step { return failStep{} }

// Name implements promotion.Step.
func (failStep) Name() string { return "fail" }

// Schema implements promotion.Step.
func (failStep) Schema() []byte { return []byte(failSchema) }

// Run implements promotion.Step.
func (s failStep) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[failConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	msg := cfg.Message
	if msg == "" {
		msg = failDefaultMessage
	}
	return promotion.StepResult{Status: promotion.StepStatusFailed, Message: msg}, nil
}
