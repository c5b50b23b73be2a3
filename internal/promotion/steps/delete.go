package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// deleteSchema is the delete step's config schema.
const deleteSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "delete config",
  "type": "object",
  "additionalProperties": false,
  "oneOf": [
    {"required": ["path"]},
    {"required": ["paths"]}
  ],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The file or directory to delete, relative to the promotion's workspace. Give either path or paths."
    },
    "paths": {
      "type": "array",
      "minItems": 1,
      "items": {"type": "string", "minLength": 1},
      "description": "The files or directories to delete. Give either path or paths."
    },
    "pathsAreGlobs": {
      "type": "boolean",
      "default": false,
      "description": "Read path and paths as glob patterns: * ? [...] within a path element, ** across elements, a trailing / for directories only."
    },
    "strict": {
      "type": "boolean",
      "default": false,
      "description": "Fail when a path does not exist or a pattern matches nothing."
    }
  }
}`

type deleteConfig struct {
	Path          string   `json:"path"`
	Paths         []string `json:"paths"`
	PathsAreGlobs bool     `json:"pathsAreGlobs"`
	Strict        bool     `json:"strict"`
}

// deleteStep is the delete step.
type deleteStep struct{}

// NewDelete returns the delete step: it deletes files and directories
// (recursively), given as path or paths, literally or as glob patterns. A
// symlink is deleted itself, never what it points to. Paths that do not
// exist are fine unless strict is set.
func NewDelete() promotion.Step { return deleteStep{} }

// Name implements promotion.Step.
func (deleteStep) Name() string { return "delete" }

// Schema implements promotion.Step.
func (deleteStep) Schema() []byte { return []byte(deleteSchema) }

// Run implements promotion.Step.
func (s deleteStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[deleteConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	type target struct{ field, path string }
	var targets []target
	switch {
	case cfg.Path != "" && len(cfg.Paths) > 0:
		return promotion.StepResult{}, terminalf("path and paths are both set: give one of them")
	case cfg.Path != "":
		targets = []target{{"path", cfg.Path}}
	case len(cfg.Paths) > 0:
		for i, p := range cfg.Paths {
			targets = append(targets, target{fmt.Sprintf("paths[%d]", i), p})
		}
	default:
		return promotion.StepResult{}, terminalf("path: not set: give path (or paths) to delete")
	}
	// Resolve everything first, so that a bad entry deletes nothing.
	var doomed []string
	for _, t := range targets {
		var found []string
		if cfg.PathsAreGlobs && hasGlobMeta(t.path) {
			if found, err = globWorkspace(ctx, sc.WorkDir, t.field, t.path); err != nil {
				return promotion.StepResult{}, err
			}
		} else {
			abs, err := workspaceEntryPath(sc.WorkDir, t.field, t.path)
			if err != nil {
				return promotion.StepResult{}, err
			}
			fi, err := os.Lstat(abs)
			switch {
			case err == nil && strings.HasSuffix(t.path, "/") && !fi.IsDir():
			case err == nil:
				found = []string{abs}
			case !errors.Is(err, fs.ErrNotExist):
				return promotion.StepResult{}, fmt.Errorf("delete %s: %w", t.path, relativeError(sc.WorkDir, err))
			}
		}
		if len(found) == 0 && cfg.Strict {
			what := "no such file or directory"
			if cfg.PathsAreGlobs && hasGlobMeta(t.path) {
				what = "the pattern matches nothing"
			}
			return promotion.StepResult{}, terminalf("delete %s: %s %q: %s: check it, or set strict: false to allow this", t.path, t.field, t.path, what)
		}
		doomed = append(doomed, found...)
	}
	for _, abs := range doomed {
		if err := os.RemoveAll(abs); err != nil {
			return promotion.StepResult{}, fmt.Errorf("delete: %w", relativeError(sc.WorkDir, err))
		}
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}

// globWorkspace returns the absolute paths of the workspace entries that
// pattern (relative to the workspace) matches; a matching directory is
// returned without its contents. Symlinks are matched, not followed.
func globWorkspace(ctx context.Context, workDir, field, pattern string) ([]string, error) {
	slash := filepath.ToSlash(pattern)
	var segs []string
	for _, seg := range strings.Split(slash, "/") {
		switch seg {
		case "..":
			return nil, terminalf("%s %q: the pattern must stay inside the promotion's workspace: remove ../", field, pattern)
		case ".", "":
			continue
		}
		segs = append(segs, seg)
	}
	if strings.HasPrefix(slash, "/") || len(segs) == 0 {
		return nil, terminalf("%s %q: give a pattern relative to the promotion's workspace, such as ./out/**/*.tmp", field, pattern)
	}
	trailing := ""
	if strings.HasSuffix(slash, "/") {
		trailing = "/"
	}
	p, err := parseIgnorePattern("/" + strings.Join(segs, "/") + trailing)
	if err != nil {
		return nil, terminalf("%s %q: %v: fix the pattern", field, pattern, err)
	}
	// Walk from the longest prefix without metacharacters.
	var prefix []string
	for _, seg := range p.segments {
		if hasGlobMeta(seg) || seg == "**" {
			break
		}
		prefix = append(prefix, seg)
	}
	base := workDir
	if len(prefix) > 0 {
		if base, err = workspacePath(workDir, field, strings.Join(prefix, "/")); err != nil {
			return nil, err
		}
	}
	var found []string
	err = filepath.WalkDir(base, func(abs string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && abs == base {
			return filepath.SkipAll
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if abs == base {
			return nil
		}
		rel, err := filepath.Rel(base, abs)
		if err != nil {
			return err
		}
		names := append(append([]string(nil), prefix...), strings.Split(filepath.ToSlash(rel), "/")...)
		if (!p.dirOnly || d.IsDir()) && matchSegments(p.segments, names) {
			found = append(found, abs)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", field, pattern, relativeError(workDir, err))
	}
	sort.Strings(found)
	return found, nil
}
