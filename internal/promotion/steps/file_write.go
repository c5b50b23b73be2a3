package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// fileWriteSchema is the file-write step's config schema.
const fileWriteSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "file-write config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "contents"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The file to write, relative to the promotion's workspace; missing directories are created."
    },
    "contents": {
      "type": "string",
      "description": "What to write; may be empty."
    },
    "permissions": {
      "type": "string",
      "pattern": "^0[0-7]{3}$",
      "description": "The file's mode in octal, such as 0644. Defaults to 0600."
    },
    "overwrite": {
      "type": "boolean",
      "default": false,
      "description": "Replace the file if it exists."
    }
  }
}`

type fileWriteConfig struct {
	Path        string `json:"path"`
	Contents    string `json:"contents"`
	Permissions string `json:"permissions"`
	Overwrite   bool   `json:"overwrite"`
}

// fileWrite is the file-write step.
type fileWrite struct{}

// NewFileWrite returns the file-write step: it writes contents to a file,
// creating missing directories. An existing file is replaced only with
// overwrite: true, except that a file already holding exactly the contents
// and mode is left alone, so running the step again succeeds.
func NewFileWrite() promotion.Step { return fileWrite{} }

// Name implements promotion.Step.
func (fileWrite) Name() string { return "file-write" }

// Schema implements promotion.Step.
func (fileWrite) Schema() []byte { return []byte(fileWriteSchema) }

// Run implements promotion.Step.
func (s fileWrite) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[fileWriteConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	perm := fs.FileMode(0o600)
	if cfg.Permissions != "" {
		p, err := strconv.ParseUint(cfg.Permissions, 8, 32)
		if err != nil || p > 0o777 {
			return promotion.StepResult{}, terminalf("permissions %q: not an octal file mode: write it like 0644", cfg.Permissions)
		}
		perm = fs.FileMode(p)
	}
	abs, err := workspacePath(sc.WorkDir, "path", cfg.Path)
	if err != nil {
		return promotion.StepResult{}, err
	}
	data := []byte(cfg.Contents)
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return promotion.StepResult{}, terminalf("write %s: path %q is a directory: name a file", cfg.Path, cfg.Path)
	case err == nil:
		if old, rerr := os.ReadFile(abs); rerr == nil && bytes.Equal(old, data) && fi.Mode().Perm() == perm {
			return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil // written before
		}
		if !cfg.Overwrite {
			return promotion.StepResult{}, terminalf("write %s: the file exists: set overwrite: true to replace it", cfg.Path)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return promotion.StepResult{}, fmt.Errorf("write %s: %w", cfg.Path, relativeError(sc.WorkDir, err))
	}
	if err := writeFileAtomic(abs, data, perm); err != nil {
		return promotion.StepResult{}, fmt.Errorf("write %s: %w", cfg.Path, relativeError(sc.WorkDir, err))
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}
