package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// yamlUpdateSchema is the yaml-update step's config schema.
const yamlUpdateSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "yaml-update config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "updates"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The YAML file to update, relative to the promotion's workspace."
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
            "description": "Dot-separated path of an existing key, e.g. image.tag or containers.0.image; \\. is a dot inside a key."
          },
          "value": {
            "description": "The new value."
          }
        }
      }
    }
  }
}`

type yamlUpdateConfig struct {
	Path    string      `json:"path"`
	Updates []keyUpdate `json:"updates"`
}

// keyUpdate is one entry of yaml-update's and json-update's updates.
type keyUpdate struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// yamlUpdate is the yaml-update step.
type yamlUpdate struct{}

// NewYAMLUpdate returns the yaml-update step: it sets the values of existing
// keys in a YAML file in place, changing only the bytes of those values, so
// comments, blank lines, indentation, key order and the quoting of other
// values stay as they were. A string keeps the quoting style of the value it
// replaces. Its output commitMessage describes the change, for git-commit.
func NewYAMLUpdate() promotion.Step { return yamlUpdate{} }

// Name implements promotion.Step.
func (yamlUpdate) Name() string { return "yaml-update" }

// Schema implements promotion.Step.
func (yamlUpdate) Schema() []byte { return []byte(yamlUpdateSchema) }

// Run implements promotion.Step.
func (s yamlUpdate) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	return runKeyUpdate(s.Name(), sc, editYAML, "")
}

// runKeyUpdate is the body shared by yaml-update and json-update: parse the
// updates, edit the file in the workspace with edit, write it only if it
// changed, and report Kargo's commitMessage. hint follows the message of an
// edit error that is not about one update.
func runKeyUpdate(name string, sc *promotion.StepContext,
	edit func(src []byte, changes []keyChange) ([]byte, []string, error), hint string,
) (promotion.StepResult, error) {
	cfg, err := configFor[yamlUpdateConfig](name, sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	changes, err := keyChanges(cfg.Updates)
	if err != nil {
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
	out, rendered, err := edit(src, changes)
	if err != nil {
		var ce *keyChangeError
		if errors.As(err, &ce) {
			return promotion.StepResult{}, terminalf("update %s: updates[%d].key %q: %v", cfg.Path, ce.index, cfg.Updates[ce.index].Key, ce.err)
		}
		return promotion.StepResult{}, terminalf("update %s: %v%s", cfg.Path, err, hint)
	}
	if _, err := writeFileIfChanged(abs, out); err != nil {
		return promotion.StepResult{}, fmt.Errorf("update %s: %w", cfg.Path, relativeError(sc.WorkDir, err))
	}
	return promotion.StepResult{
		Status: promotion.StepStatusSucceeded,
		Output: map[string]any{"commitMessage": updateCommitMessage(cfg.Path, cfg.Updates, rendered)},
	}, nil
}

// keyChange is a parsed entry of updates: the plain value (see plainValue)
// to set at a key path.
type keyChange struct {
	parts []keyPart
	value any
}

// keyChangeError is an update that editYAML or editJSON could not apply.
type keyChangeError struct {
	index int
	err   error
}

func (e *keyChangeError) Error() string { return e.err.Error() }
func (e *keyChangeError) Unwrap() error { return e.err }

// keyChanges parses the keys of updates and turns the values into plain
// ones.
func keyChanges(updates []keyUpdate) ([]keyChange, error) {
	if len(updates) == 0 {
		return nil, terminalf("updates: no updates given: list at least one {key, value}")
	}
	changes := make([]keyChange, len(updates))
	for i, u := range updates {
		parts, err := splitKeyPath(u.Key)
		if err != nil {
			return nil, terminalf("updates[%d].key: %v", i, err)
		}
		changes[i] = keyChange{parts: parts, value: plainValue(u.Value)}
	}
	return changes, nil
}

// readWorkspaceFile reads the file the config field names, with a message
// that says what to check when it is missing.
func readWorkspaceFile(workDir, field, rel, abs string) ([]byte, error) {
	b, err := os.ReadFile(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, terminalf("read %s: %s %q: no such file in the promotion's workspace: check the path (is the repository cloned or the file created by an earlier step?)", rel, field, rel)
	case err != nil:
		if fi, serr := os.Stat(abs); serr == nil && fi.IsDir() {
			return nil, terminalf("read %s: %s %q is a directory: name a file", rel, field, rel)
		}
		return nil, fmt.Errorf("read %s: %w", rel, relativeError(workDir, err))
	}
	return b, nil
}

// updateCommitMessage describes updates of the file at path for git-commit,
// as Kargo's yaml-update and json-update do.
func updateCommitMessage(path string, updates []keyUpdate, rendered []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Updated %s\n", path)
	for i, u := range updates {
		fmt.Fprintf(&b, "\n- %s: %s", u.Key, rendered[i])
	}
	return b.String()
}
