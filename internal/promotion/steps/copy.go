package steps

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// copySchema is the copy step's config schema.
const copySchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "copy config",
  "type": "object",
  "additionalProperties": false,
  "required": ["inPath", "outPath"],
  "properties": {
    "inPath": {
      "type": "string",
      "minLength": 1,
      "description": "The file or directory to copy, relative to the promotion's workspace."
    },
    "outPath": {
      "type": "string",
      "minLength": 1,
      "description": "Where to copy it: the destination file, or the directory the source directory's contents are merged into."
    },
    "ignore": {
      "type": "string",
      "minLength": 1,
      "description": "Patterns of paths not to copy, one a line, in .gitignore syntax; .git is ignored unless re-included with !.git/."
    }
  }
}`

type copyConfig struct {
	InPath  string `json:"inPath"`
	OutPath string `json:"outPath"`
	Ignore  string `json:"ignore"`
}

// copyStep is the copy step.
type copyStep struct{}

// NewCopy returns the copy step: it copies a file to a file, or a
// directory's contents recursively into a directory, merging with what is
// there and replacing files of the same name. Symlinks in the source are
// skipped, as is .git and whatever the ignore patterns match.
func NewCopy() promotion.Step { return copyStep{} }

// Name implements promotion.Step.
func (copyStep) Name() string { return "copy" }

// Schema implements promotion.Step.
func (copyStep) Schema() []byte { return []byte(copySchema) }

// Run implements promotion.Step.
func (s copyStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[copyConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	in, out, rules, err := inOutPaths(sc.WorkDir, cfg.InPath, cfg.OutPath, cfg.Ignore)
	if err != nil {
		return promotion.StepResult{}, err
	}
	what := fmt.Sprintf("copy %s to %s", cfg.InPath, cfg.OutPath)
	fi, err := statInPath(sc.WorkDir, what, cfg.InPath, in)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if !fi.IsDir() {
		if rules.match(filepath.Base(in), false) {
			return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
		}
		if ofi, err := os.Stat(out); err == nil && ofi.IsDir() {
			return promotion.StepResult{}, terminalf("%s: outPath %q is a directory: name the destination file, such as %s",
				what, cfg.OutPath, path.Join(cfg.OutPath, filepath.Base(in)))
		}
		if err := copyFile(in, out, fi.Mode().Perm()); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
		}
		return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
	}
	if rel, err := filepath.Rel(in, out); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return promotion.StepResult{}, terminalf("%s: outPath is inside inPath, so the copy would copy itself: choose an outPath outside %s", what, cfg.InPath)
	}
	err = filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == in {
			return os.MkdirAll(out, 0o755)
		}
		rel, err := filepath.Rel(in, p)
		if err != nil {
			return err
		}
		slashRel := filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 || !(d.IsDir() || d.Type().IsRegular()) {
			return nil // symlinks and special files are not copied
		}
		if rules.match(slashRel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dest, err := workspacePath(sc.WorkDir, "outPath", path.Join(cfg.OutPath, slashRel))
		if err != nil {
			return err
		}
		if d.IsDir() {
			if fi, err := os.Stat(dest); err == nil && !fi.IsDir() {
				return terminalf("%s is a file in the destination but a directory in the source: delete it first", path.Join(cfg.OutPath, slashRel))
			}
			return os.MkdirAll(dest, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(p, dest, info.Mode().Perm())
	})
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}

// copyFile copies the regular file src to dest with mode perm, leaving dest
// alone when it already holds the same bytes and mode.
func copyFile(src, dest string, perm fs.FileMode) error {
	if fi, err := os.Stat(dest); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory in the destination but a file in the source: delete it first", dest)
		}
		if same, err := sameContents(src, dest); err == nil && same && fi.Mode().Perm() == perm {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// sameContents reports whether two files hold the same bytes.
func sameContents(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil || sa.Size() != sb.Size() {
		return false, err
	}
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(fa, bufA)
		nb, errB := io.ReadFull(fb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}
