package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// gitClearSchema is the config of git-clear.
const gitClearSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-clear",
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "A working tree made by git-clone, or a directory in one, to empty."}
  }
}`

// gitClearConfig is git-clear's config.
type gitClearConfig struct {
	Path string `json:"path"`
}

// gitClear is the git-clear step.
type gitClear struct{}

// NewGitClear returns the git-clear step: it deletes everything in a
// working tree made by git-clone except its .git file, from the files and
// from the index (so in a sparse checkout, the files outside it too), as
// `git rm -rf .` would; the next git-commit records what was written
// since. A path inside a working tree clears that directory only. It has
// no outputs; running it again changes nothing.
func NewGitClear() promotion.Step { return gitClear{} }

// Name implements promotion.Step.
func (gitClear) Name() string { return "git-clear" }

// Schema implements promotion.Step.
func (gitClear) Schema() []byte { return []byte(gitClearSchema) }

// Run implements promotion.Step.
func (gitClear) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	const step = "git-clear"
	var cfg gitClearConfig
	if err := gitDecode(step, sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, err
	}
	if cfg.Path == "" {
		return promotion.StepResult{}, gitTerminal(step, "path is required: set it to a working tree made by git-clone, such as ./out")
	}
	space, err := newGitSpace(sc.WorkDir)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
	}
	t, err := space.openTree(ctx, step, "path", cfg.Path)
	if err != nil {
		return promotion.StepResult{}, err
	}
	dir := filepath.Join(t.path, t.sub)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return promotion.StepResult{}, fmt.Errorf("%s: read %s: %w", step, cfg.Path, err)
	}
	for _, e := range entries {
		if t.sub == "." && e.Name() == ".git" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: clear %s: %w", step, cfg.Path, err)
		}
	}
	// Files outside a sparse checkout are only in the index.
	if _, err := t.git(ctx, nil, nil, "rm", "-r", "--quiet", "--cached", "--ignore-unmatch", "--sparse", "--", filepath.ToSlash(t.sub)); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: clear the index of %s: %w", step, cfg.Path, err)
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}
