package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// gitCommitSchema is the config of git-commit.
const gitCommitSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-commit",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "message"],
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "A working tree made by git-clone."},
    "message": {"type": "string", "minLength": 1, "description": "The commit message."},
    "author": ` + gitIdentitySchema + `
  }
}`

// gitCommitConfig is git-commit's config.
type gitCommitConfig struct {
	Path    string       `json:"path"`
	Message string       `json:"message"`
	Author  *gitIdentity `json:"author,omitempty"`
}

// gitCommit is the git-commit step.
type gitCommit struct{}

// NewGitCommit returns the git-commit step: it commits every change of a
// working tree made by git-clone (new, changed and deleted files, also
// outside a sparse checkout) to its branch, or to its detached HEAD. The
// author and committer are the author of git-clone's config (else
// DefaultGitAuthorName and DefaultGitAuthorEmail); the author of this
// step's config (deprecated in Kargo, still accepted) overrides it.
//
// Output: commit, the ID of the new commit. When nothing changed, no commit
// is made and the step is Skipped with the current HEAD as commit, as in
// Kargo; so a second run reports the same commit as the first.
func NewGitCommit() promotion.Step { return gitCommit{} }

// Name implements promotion.Step.
func (gitCommit) Name() string { return "git-commit" }

// Schema implements promotion.Step.
func (gitCommit) Schema() []byte { return []byte(gitCommitSchema) }

// Run implements promotion.Step.
func (gitCommit) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	const step = "git-commit"
	var cfg gitCommitConfig
	if err := gitDecode(step, sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, err
	}
	switch {
	case cfg.Path == "":
		return promotion.StepResult{}, gitTerminal(step, "path is required: set it to a working tree made by git-clone, such as ./out")
	case strings.TrimSpace(cfg.Message) == "":
		return promotion.StepResult{}, gitTerminal(step, "message is required: say what the commit changes")
	}
	if err := cfg.Author.check("author"); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("%s: %w", step, err))
	}
	space, err := newGitSpace(sc.WorkDir)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
	}
	t, err := space.openTree(ctx, step, "path", cfg.Path)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if _, err := t.git(ctx, nil, nil, "add", "--all", "--sparse"); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: stage the changes of %s: %w", step, cfg.Path, err)
	}
	head, err := t.revParse(ctx, "HEAD")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: read HEAD of %s: %w", step, cfg.Path, err)
	}
	if head != "" {
		_, err := t.git(ctx, nil, nil, "diff", "--cached", "--quiet", "--no-ext-diff", "--no-textconv", "HEAD")
		if err == nil {
			return promotion.StepResult{Status: promotion.StepStatusSkipped, Output: map[string]any{"commit": head},
				Message: "nothing to commit: " + cfg.Path + " has no changes"}, nil
		}
		if gitExitCode(err) != 1 {
			return promotion.StepResult{}, fmt.Errorf("%s: look for changes in %s: %w", step, cfg.Path, err)
		}
	}
	if _, err := t.git(ctx, []byte(cfg.Message), gitIdentityEnv(cfg.Author),
		"commit", "--quiet", "--no-verify", "--allow-empty", "--file=-"); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: commit in %s: %w", step, cfg.Path, err)
	}
	id, err := t.revParse(ctx, "HEAD")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: read the new commit of %s: %w", step, cfg.Path, err)
	}
	gitLogger(sc).Debug("committed", "path", cfg.Path, "commit", id)
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{"commit": id}}, nil
}
