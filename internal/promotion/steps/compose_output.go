package steps

import (
	"context"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// composeOutputSchema is the compose-output step's config schema: any
// object with at least one key.
const composeOutputSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "compose-output config",
  "type": "object",
  "minProperties": 1,
  "description": "Each key becomes an output of the step, with its value (usually an expression over earlier outputs)."
}`

// composeOutput is the compose-output step.
type composeOutput struct{}

// NewComposeOutput returns the compose-output step: its config, after
// expressions are evaluated, is its output, key by key. In a PromotionTask
// the engine also makes these outputs those of the task's alias (see
// TaskOutput).
func NewComposeOutput() promotion.Step { return composeOutput{} }

// Name implements promotion.Step.
func (composeOutput) Name() string { return "compose-output" }

// Schema implements promotion.Step.
func (composeOutput) Schema() []byte { return []byte(composeOutputSchema) }

// TaskOutput implements promotion.TaskOutputStep: inside a PromotionTask,
// the composed output is also the task's.
func (composeOutput) TaskOutput() bool { return true }

// Run implements promotion.Step.
func (s composeOutput) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[map[string]any](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if len(cfg) == 0 {
		return promotion.StepResult{}, terminalf("config: no keys: give each output as a key, such as url: ${{ outputs['open-pr'].url }}")
	}
	for k, v := range cfg {
		cfg[k] = plainValue(v)
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: cfg}, nil
}
