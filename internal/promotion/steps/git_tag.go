package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// gitTagSchema is the config of git-tag. Kargo requires message; Caravan
// also accepts a tag without one (its message is then the tag's name).
const gitTagSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-tag",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "tag"],
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "A working tree made by git-clone."},
    "tag": {"type": "string", "minLength": 1, "description": "The name of the tag to create at HEAD."},
    "message": {"type": "string", "description": "The message of the annotated tag; the tag's name when empty."}
  }
}`

// gitTagConfig is git-tag's config.
type gitTagConfig struct {
	Path    string `json:"path"`
	Tag     string `json:"tag"`
	Message string `json:"message,omitempty"`
}

// gitTag is the git-tag step.
type gitTag struct{}

// NewGitTag returns the git-tag step: it creates an annotated tag at the
// HEAD of a working tree made by git-clone, tagged by git-clone's author.
// The tag stays local until a git-push with `tag` pushes it.
//
// Output: commit, the tagged commit. Running it again when the tag already
// marks HEAD changes nothing; a tag of that name on another commit is an
// error (tags are not moved).
func NewGitTag() promotion.Step { return gitTag{} }

// Name implements promotion.Step.
func (gitTag) Name() string { return "git-tag" }

// Schema implements promotion.Step.
func (gitTag) Schema() []byte { return []byte(gitTagSchema) }

// Run implements promotion.Step.
func (gitTag) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	const step = "git-tag"
	var cfg gitTagConfig
	if err := gitDecode(step, sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, err
	}
	if cfg.Path == "" {
		return promotion.StepResult{}, gitTerminal(step, "path is required: set it to a working tree made by git-clone, such as ./out")
	}
	if err := gitRefName(cfg.Tag); err != nil {
		return promotion.StepResult{}, gitTerminal(step, "tag %q is not a valid tag name: %v", cfg.Tag, err)
	}
	message := cfg.Message
	if strings.TrimSpace(message) == "" {
		message = cfg.Tag
	}
	space, err := newGitSpace(sc.WorkDir)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
	}
	t, err := space.openTree(ctx, step, "path", cfg.Path)
	if err != nil {
		return promotion.StepResult{}, err
	}
	head, err := t.revParse(ctx, "HEAD")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: read HEAD of %s: %w", step, cfg.Path, err)
	}
	if head == "" {
		return promotion.StepResult{}, gitTerminal(step, "%s has no commit to tag: commit first with git-commit", cfg.Path)
	}
	existing, err := t.revParse(ctx, "refs/tags/"+cfg.Tag+"^{commit}")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: look up tag %q: %w", step, cfg.Tag, err)
	}
	switch existing {
	case head:
		return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{"commit": head}}, nil
	case "":
	default:
		return promotion.StepResult{}, gitTerminal(step, "tag %q already exists on commit %s, not on HEAD (%s): tags are not moved; "+
			"choose another tag name", cfg.Tag, existing, head)
	}
	if _, err := t.git(ctx, []byte(message), nil, "tag", "--annotate", "--file=-", "--", cfg.Tag, head); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: create tag %q: %w", step, cfg.Tag, err)
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{"commit": head}}, nil
}
