package steps

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// tarSchema is the tar step's config schema.
const tarSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "tar config",
  "type": "object",
  "additionalProperties": false,
  "required": ["inPath", "outPath"],
  "properties": {
    "inPath": {
      "type": "string",
      "minLength": 1,
      "description": "The directory (its contents are archived) or file to archive, relative to the promotion's workspace."
    },
    "outPath": {
      "type": "string",
      "minLength": 1,
      "description": "The archive to write; it is replaced if it exists."
    },
    "ignore": {
      "type": "string",
      "minLength": 1,
      "description": "Patterns of paths not to archive, one a line, in .gitignore syntax; .git is ignored unless re-included with !.git/."
    },
    "gzip": {
      "type": "boolean",
      "default": true,
      "description": "Compress the archive with gzip."
    }
  }
}`

// Limits against archiving more than a promotion should move around, as
// Kargo has them.
const (
	maxArchiveFileSize  = 50 << 20
	maxArchiveTotalSize = 100 << 20
)

// archiveTime is the modification time of every archived entry, so that the
// same files always make the same archive.
var archiveTime = time.Unix(0, 0)

type tarConfig struct {
	InPath  string `json:"inPath"`
	OutPath string `json:"outPath"`
	Ignore  string `json:"ignore"`
	Gzip    *bool  `json:"gzip"`
}

// tarStep is the tar step.
type tarStep struct{}

// NewTar returns the tar step: it archives a directory's contents (or one
// file) into a tar file, gzipped unless gzip is false. Archives are
// reproducible: entries are sorted, owners are root and times are the Unix
// epoch, so the same files make the same bytes. Symlinks are archived as
// links if they stay inside inPath and refused otherwise; .git and whatever
// the ignore patterns match are left out.
func NewTar() promotion.Step { return tarStep{} }

// Name implements promotion.Step.
func (tarStep) Name() string { return "tar" }

// Schema implements promotion.Step.
func (tarStep) Schema() []byte { return []byte(tarSchema) }

// Run implements promotion.Step.
func (s tarStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[tarConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	in, out, rules, err := inOutPaths(sc.WorkDir, cfg.InPath, cfg.OutPath, cfg.Ignore)
	if err != nil {
		return promotion.StepResult{}, err
	}
	what := fmt.Sprintf("archive %s into %s", cfg.InPath, cfg.OutPath)
	fi, err := statInPath(sc.WorkDir, what, cfg.InPath, in)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if ofi, err := os.Stat(out); err == nil && ofi.IsDir() {
		return promotion.StepResult{}, terminalf("%s: outPath %q is a directory: name the archive file, such as %s.tar.gz", what, cfg.OutPath, strings.TrimSuffix(cfg.OutPath, "/"))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	defer os.Remove(tmp.Name())
	err = writeArchive(ctx, tmp, in, fi, rules, cfg.Gzip == nil || *cfg.Gzip, []string{out, tmp.Name()})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	if same, _ := sameContents(tmp.Name(), out); !same {
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
		}
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}

// writeArchive writes the tar archive of in (described by fi) to w, leaving
// out the paths in skip (the archive being written).
func writeArchive(ctx context.Context, w io.Writer, in string, fi fs.FileInfo, rules *ignoreRules, gz bool, skip []string) error {
	var gzw *gzip.Writer
	if gz {
		gzw = gzip.NewWriter(w) // no name and a zero time in the header
		w = gzw
	}
	tw := tar.NewWriter(w)
	var total int64
	add := func(abs, rel string, info fs.FileInfo) error {
		h := &tar.Header{Name: rel, ModTime: archiveTime, Mode: int64(info.Mode().Perm()), Format: tar.FormatPAX}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(abs)
			if err != nil {
				return err
			}
			if filepath.IsAbs(target) || climbsOut(path.Join(path.Dir(rel), filepath.ToSlash(target))) {
				return terminalf("the symlink %s points to %s, outside inPath: remove it or add it to ignore", rel, target)
			}
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, filepath.ToSlash(target), 0o777
		case info.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, rel+"/"
		case info.Mode().IsRegular():
			if info.Size() > maxArchiveFileSize {
				return terminalf("%s is %d bytes, more than the %d a file may have in an archive", rel, info.Size(), maxArchiveFileSize)
			}
			if total += info.Size(); total > maxArchiveTotalSize {
				return terminalf("the files add up to more than the %d bytes an archive may hold: archive less (see ignore)", maxArchiveTotalSize)
			}
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
		default:
			return nil // sockets, devices and pipes are not archived
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(abs)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, h.Size)
		return err
	}
	var err error
	if !fi.IsDir() {
		err = add(in, filepath.Base(in), fi)
	} else {
		err = filepath.WalkDir(in, func(abs string, d fs.DirEntry, err error) error {
			if err != nil || abs == in {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			for _, s := range skip {
				if abs == s {
					return nil
				}
			}
			rel, err := filepath.Rel(in, abs)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if rules.match(rel, d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := os.Lstat(abs)
			if err != nil {
				return err
			}
			return add(abs, rel, info)
		})
	}
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if gzw != nil {
		return gzw.Close()
	}
	return nil
}
