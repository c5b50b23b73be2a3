package steps

import (
	"context"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/caravan-dev/caravan/internal/expr"
	"github.com/caravan-dev/caravan/internal/promotion"
)

// parseSchema is the config schema of yaml-parse and json-parse, which
// differ only in the format they read.
const parseSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "%s config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "outputs"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The %s file to read, relative to the promotion's workspace."
    },
    "outputs": {
      "type": "array",
      "minItems": 1,
      "description": "The outputs to extract from the document.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "fromExpression"],
        "properties": {
          "name": {
            "type": "string",
            "minLength": 1,
            "description": "The name of the output."
          },
          "fromExpression": {
            "type": "string",
            "minLength": 1,
            "description": "An expr-lang expression, without ${{ }}, over the document's top-level keys (the whole document is also outputs; a document that is not a mapping is root)."
          }
        }
      }
    }
  }
}`

type parseConfig struct {
	Path    string       `json:"path"`
	Outputs []outputRule `json:"outputs"`
}

// outputRule is one entry of an outputs list: an output's name and the
// expression that computes it.
type outputRule struct {
	Name           string `json:"name"`
	FromExpression string `json:"fromExpression"`
}

// yamlParse is the yaml-parse step.
type yamlParse struct{}

// NewYAMLParse returns the yaml-parse step: it reads a YAML file (its first
// document) and sets each of its outputs to the value of an expression over
// the document. The document's top-level keys are the expression's
// variables, so image.tag reads the tag under image; the whole document is
// also available as outputs, and a document that is not a mapping as root.
func NewYAMLParse() promotion.Step { return yamlParse{} }

// Name implements promotion.Step.
func (yamlParse) Name() string { return "yaml-parse" }

// Schema implements promotion.Step.
func (yamlParse) Schema() []byte { return []byte(fmt.Sprintf(parseSchema, "yaml-parse", "YAML")) }

// Run implements promotion.Step.
func (s yamlParse) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	return runParse(sc, s.Name(), func(b []byte) (any, error) {
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("parse the file as YAML: %w", err)
		}
		return jsonPlain(yamlPlain(doc))
	})
}

// runParse is yaml-parse and json-parse: decode reads the file's bytes into
// a plain value.
func runParse(sc *promotion.StepContext, step string, decode func([]byte) (any, error)) (promotion.StepResult, error) {
	cfg, err := configFor[parseConfig](step, sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if err := checkOutputRules(cfg.Outputs); err != nil {
		return promotion.StepResult{}, err
	}
	abs, err := workspacePath(sc.WorkDir, "path", cfg.Path)
	if err != nil {
		return promotion.StepResult{}, err
	}
	src, err := readWorkspaceFile(sc.WorkDir, "path", cfg.Path, abs)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if len(src) == 0 {
		return promotion.StepResult{}, terminalf("parse %s: the file is empty: check the path", cfg.Path)
	}
	doc, err := decode(src)
	if err != nil {
		return promotion.StepResult{}, terminalf("parse %s: %v: fix the file", cfg.Path, err)
	}
	out, err := evalOutputs(cfg.Outputs, documentEnv(doc))
	if err != nil {
		return promotion.StepResult{}, terminalf("parse %s: %v", cfg.Path, err)
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: out}, nil
}

// checkOutputRules refuses outputs lists a schema cannot: repeated names.
func checkOutputRules(rules []outputRule) error {
	if len(rules) == 0 {
		return terminalf("outputs: none given: list at least one {name, fromExpression}")
	}
	seen := map[string]int{}
	for i, r := range rules {
		if j, dup := seen[r.Name]; dup {
			return terminalf("outputs[%d].name %q: outputs[%d] has the same name: give each output its own name", i, r.Name, j)
		}
		seen[r.Name] = i
	}
	return nil
}

// evalOutputs evaluates each rule's expression over env. The results are
// stored as JSON values.
func evalOutputs(rules []outputRule, env map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(rules))
	for i, r := range rules {
		v, err := expr.Eval(r.FromExpression, env)
		if err != nil {
			return nil, fmt.Errorf("outputs[%d] (%s): %w", i, r.Name, err)
		}
		if out[r.Name], err = jsonPlain(v); err != nil {
			return nil, fmt.Errorf("outputs[%d] (%s): the value of %q cannot be an output (%v): extract plain data", i, r.Name, r.FromExpression, err)
		}
	}
	return out, nil
}

// reservedNames are the functions every expression can call; a document key
// of the same name cannot be a variable, so it is left to outputs.<name>.
var reservedNames = map[string]bool{
	"quote": true, "unsafeQuote": true, "asJSON": true, "asYAML": true,
	"warehouse": true, "semverParse": true, "semverDiff": true, "always": true,
}

// documentEnv makes a parsed document the variables of output expressions:
// a mapping's keys (the whole document is also outputs, unless the document
// has a key of that name), anything else as root.
func documentEnv(doc any) map[string]any {
	m, ok := doc.(map[string]any)
	if !ok {
		return map[string]any{"root": doc, "outputs": doc}
	}
	env := make(map[string]any, len(m)+1)
	for k, v := range m {
		if !reservedNames[k] {
			env[k] = v
		}
	}
	if _, taken := m["outputs"]; !taken {
		env["outputs"] = doc
	}
	return env
}
