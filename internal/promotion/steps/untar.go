package steps

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// untarSchema is the untar step's config schema.
const untarSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "untar config",
  "type": "object",
  "additionalProperties": false,
  "required": ["inPath", "outPath"],
  "properties": {
    "inPath": {
      "type": "string",
      "minLength": 1,
      "description": "The tar file, gzipped or not, relative to the promotion's workspace."
    },
    "outPath": {
      "type": "string",
      "minLength": 1,
      "description": "The directory to extract into; what is there is merged with, files of the same name replaced."
    },
    "stripComponents": {
      "type": "integer",
      "minimum": 0,
      "description": "How many leading path elements to remove from entry names, as tar --strip-components does."
    },
    "ignore": {
      "type": "string",
      "minLength": 1,
      "description": "Patterns of entries not to extract, one a line, in .gitignore syntax; .git is ignored unless re-included with !.git/."
    }
  }
}`

type untarConfig struct {
	InPath          string `json:"inPath"`
	OutPath         string `json:"outPath"`
	StripComponents int    `json:"stripComponents"`
	Ignore          string `json:"ignore"`
}

// untarStep is the untar step.
type untarStep struct{}

// NewUntar returns the untar step: it extracts a tar file (gzipped or not,
// detected from its first bytes) into a directory. An archive with an entry
// that would land outside outPath — an absolute name, a ../, a symlink or
// hard link that leads out — is refused as a whole and nothing is
// extracted; so is one holding more than 50 MiB in a file or 100 MiB in
// all. Extraction goes to a temporary directory first, so a failure leaves
// outPath as it was.
func NewUntar() promotion.Step { return untarStep{} }

// Name implements promotion.Step.
func (untarStep) Name() string { return "untar" }

// Schema implements promotion.Step.
func (untarStep) Schema() []byte { return []byte(untarSchema) }

// Run implements promotion.Step.
func (s untarStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[untarConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if cfg.StripComponents < 0 {
		return promotion.StepResult{}, terminalf("stripComponents %d: give 0 or more", cfg.StripComponents)
	}
	in, out, rules, err := inOutPaths(sc.WorkDir, cfg.InPath, cfg.OutPath, cfg.Ignore)
	if err != nil {
		return promotion.StepResult{}, err
	}
	what := fmt.Sprintf("extract %s into %s", cfg.InPath, cfg.OutPath)
	f, err := os.Open(in)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return promotion.StepResult{}, terminalf("%s: inPath %q: no such file in the promotion's workspace: check the path", what, cfg.InPath)
	case err != nil:
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	defer f.Close()
	if ofi, err := os.Stat(out); err == nil && !ofi.IsDir() {
		return promotion.StepResult{}, terminalf("%s: outPath %q is a file: name a directory", what, cfg.OutPath)
	}
	tmp, err := os.MkdirTemp(sc.WorkDir, ".untar-*")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	defer os.RemoveAll(tmp)
	if err := extractArchive(ctx, f, tmp, cfg.StripComponents, rules); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(tmp, err))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	if err := mergeDir(tmp, out); err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", what, relativeError(sc.WorkDir, err))
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}

// extractArchive extracts the tar stream r (gzipped or not) into dir.
func extractArchive(ctx context.Context, r io.Reader, dir string, strip int, rules *ignoreRules) error {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return terminalf("read the gzip stream: %v: is the file a .tar.gz?", err)
		}
		defer gz.Close()
		r = gz
	} else {
		r = br
	}
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return terminalf("read the archive: %v: is the file a tar archive?", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := entryPath(h.Name, strip)
		if err != nil {
			return err
		}
		if rel == "" || rules.excluded(rel, h.Typeflag == tar.TypeDir) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			dest, err := promotion.SecurePath(dir, rel)
			if err != nil {
				return unsafeEntry(h.Name, err)
			}
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA:
			if h.Size > maxArchiveFileSize {
				return terminalf("entry %q is %d bytes, more than the %d a file may have: the archive is too big to extract", h.Name, h.Size, maxArchiveFileSize)
			}
			if total += h.Size; total > maxArchiveTotalSize {
				return terminalf("the entries add up to more than %d bytes: the archive is too big to extract", maxArchiveTotalSize)
			}
			if err := extractFile(tr, dir, rel, h); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := extractSymlink(dir, rel, h); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := entryPath(h.Linkname, strip)
			if err != nil || target == "" {
				return unsafeEntry(h.Name, fmt.Errorf("its hard link target %q is not inside outPath", h.Linkname))
			}
			src, err := promotion.SecurePath(dir, target)
			if err != nil {
				return unsafeEntry(h.Name, err)
			}
			dest, err := entryDest(dir, rel)
			if err != nil {
				return unsafeEntry(h.Name, err)
			}
			if err := os.Link(src, dest); err != nil {
				return terminalf("entry %q: hard link to %q: %v (the target must come earlier in the archive)", h.Name, h.Linkname, err)
			}
		default:
			// Devices, pipes and the like are not extracted.
		}
	}
}

// entryPath checks an entry's name and returns it relative to the
// extraction directory after stripping strip leading elements; "" means the
// entry is stripped away entirely.
func entryPath(name string, strip int) (string, error) {
	slash := strings.ReplaceAll(name, `\`, "/")
	if path.IsAbs(slash) || (len(slash) > 1 && slash[1] == ':') {
		return "", unsafeEntry(name, errors.New("it has an absolute path"))
	}
	var segs []string
	for _, seg := range strings.Split(slash, "/") {
		switch seg {
		case "..":
			return "", unsafeEntry(name, errors.New("its path climbs out with .."))
		case ".", "":
			continue
		}
		segs = append(segs, seg)
	}
	if len(segs) <= strip {
		return "", nil
	}
	return strings.Join(segs[strip:], "/"), nil
}

// unsafeEntry is the error for an archive entry that would be written
// outside the extraction directory: the whole archive is refused.
func unsafeEntry(name string, why error) error {
	return terminalf("entry %q would be written outside outPath (%v): the archive is unsafe and nothing was extracted", name, why)
}

// entryDest returns where entry rel goes: its parent directory resolved
// inside dir (created if missing), and its own name, so that an entry never
// writes through a symlink an earlier entry made.
func entryDest(dir, rel string) (string, error) {
	parent, err := promotion.SecurePath(dir, "./"+path.Dir(rel))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	dest := filepath.Join(parent, path.Base(rel))
	if err := os.RemoveAll(dest); err != nil {
		return "", err
	}
	return dest, nil
}

func extractFile(tr *tar.Reader, dir, rel string, h *tar.Header) error {
	dest, err := entryDest(dir, rel)
	if err != nil {
		return unsafeEntry(h.Name, err)
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode).Perm()|0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, tr, h.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return terminalf("entry %q: %v: the archive is damaged", h.Name, err)
	}
	return nil
}

func extractSymlink(dir, rel string, h *tar.Header) error {
	target := h.Linkname
	slash := filepath.ToSlash(target)
	if target == "" || path.IsAbs(slash) || climbsOut(path.Join(path.Dir(rel), slash)) {
		return unsafeEntry(h.Name, fmt.Errorf("it is a symlink to %q, outside outPath", target))
	}
	dest, err := entryDest(dir, rel)
	if err != nil {
		return unsafeEntry(h.Name, err)
	}
	return os.Symlink(target, dest)
}

// climbsOut reports whether the cleaned relative path p leads above its
// root.
func climbsOut(p string) bool { return p == ".." || strings.HasPrefix(p, "../") }

// mergeDir moves the contents of src into dst: directories present in both
// are merged, anything else in dst of the same name is replaced.
func mergeDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if e.IsDir() {
			if fi, err := os.Lstat(to); err == nil && fi.IsDir() {
				if err := mergeDir(from, to); err != nil {
					return err
				}
				continue
			}
		}
		if err := os.RemoveAll(to); err != nil {
			return err
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
	}
	return nil
}
