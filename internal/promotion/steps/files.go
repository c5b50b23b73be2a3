package steps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// This file holds what the file, data and utility steps share: decoding a
// step's config, resolving workspace paths, writing files atomically and
// turning decoded JSON into plain Go values.

// configFor decodes a step's config into T, refusing unknown fields. The
// engine has already validated the config against the step's schema, so a
// failure here means the config was not validated (a direct call) or the
// schema and T disagree; either way retrying cannot help.
func configFor[T any](step string, raw json.RawMessage) (T, error) {
	var cfg T
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, retry.Terminal(fmt.Errorf("decode %s config: %w: correct the step's config", step, err))
	}
	return cfg, nil
}

// terminalf returns a formatted error marked retry.Terminal: a problem with
// the config or the workspace that running the step again cannot fix.
func terminalf(format string, args ...any) error {
	return retry.Terminal(fmt.Errorf(format, args...))
}

// workspacePath resolves p, the value of the config field named field, to an
// absolute path inside workDir. Symlinks on the way are followed but may not
// lead outside the workspace.
func workspacePath(workDir, field, p string) (string, error) {
	abs, err := promotion.SecurePath(workDir, p)
	if err != nil {
		return "", retry.Terminal(fmt.Errorf("%s: %w", field, err))
	}
	return abs, nil
}

// workspaceEntryPath is workspacePath for steps that act on the entry at p
// itself (delete it, replace it) rather than on what a symlink there points
// to: the parent directory is resolved securely and the last element is
// kept as written. The workspace itself is refused.
func workspaceEntryPath(workDir, field, p string) (string, error) {
	clean := filepath.Clean(filepath.Join("/", p))
	if clean == "/" {
		return "", terminalf("%s %q: it names the whole workspace: name a file or directory inside it", field, p)
	}
	if rel := filepath.Clean(p); filepath.IsAbs(p) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", terminalf("%s %q: it leads outside the promotion's workspace: use a relative path inside it, such as ./out/file", field, p)
	}
	parent, err := workspacePath(workDir, field, "."+filepath.Dir(clean))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(clean)), nil
}

// relativeError rewrites the workspace paths in err's message relative to
// workDir, so that messages name paths as the user wrote them and do not
// reveal where the server keeps its data. errors.Is and errors.As (and so
// retry.IsTerminal) see through it.
func relativeError(workDir string, err error) error {
	if err == nil {
		return nil
	}
	msg := strings.ReplaceAll(err.Error(), workDir+string(filepath.Separator), "./")
	msg = strings.ReplaceAll(msg, workDir, ".")
	return &rewrittenError{msg: msg, err: err}
}

// rewrittenError is an error with its message rewritten.
type rewrittenError struct {
	msg string
	err error
}

func (e *rewrittenError) Error() string { return e.msg }
func (e *rewrittenError) Unwrap() error { return e.err }

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers never see a half-written file and a
// symlink at path is replaced rather than written through. Missing parent
// directories are created.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("set mode of %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeFileIfChanged writes data to path unless the file already holds
// exactly data, keeping the file's mode; it reports whether it wrote.
func writeFileIfChanged(path string, data []byte) (bool, error) {
	perm := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			return false, nil
		}
	}
	return true, writeFileAtomic(path, data, perm)
}

// plainValue turns a value decoded with json.Decoder.UseNumber into plain Go
// values that expressions compare naturally: json.Number becomes int64 when
// it is an integer that fits, float64 otherwise; maps and slices are
// converted in place.
func plainValue(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(string(t), 64); err == nil {
			return f
		}
		return string(t)
	case map[string]any:
		for k, e := range t {
			t[k] = plainValue(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = plainValue(e)
		}
		return t
	default:
		return v
	}
}

// jsonPlain returns v as the plain JSON value it serializes to (maps,
// slices, strings, bool, nil, int64 for integers, float64 otherwise), so
// step outputs hold exactly what a later step reads back. It fails for
// values JSON cannot represent.
func jsonPlain(v any) (any, error) {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil, fmt.Errorf("%v cannot be represented in JSON", f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return plainValue(out), nil
}

// jsonText renders v as compact JSON without HTML escaping.
func jsonText(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// inOutPaths is the prologue copy, tar and untar share: their ignore rules
// (with defaultIgnore) and their inPath and outPath resolved in the
// workspace.
func inOutPaths(workDir, inPath, outPath, ignore string) (in, out string, rules *ignoreRules, err error) {
	if rules, err = parseIgnoreRules("ignore", ignore, defaultIgnore); err != nil {
		return "", "", nil, err
	}
	if in, err = workspacePath(workDir, "inPath", inPath); err != nil {
		return "", "", nil, err
	}
	if out, err = workspacePath(workDir, "outPath", outPath); err != nil {
		return "", "", nil, err
	}
	return in, out, rules, nil
}

// statInPath stats a step's resolved inPath; a missing one is a terminal
// error naming it. what describes the step's action for the message.
func statInPath(workDir, what, inPath, in string) (fs.FileInfo, error) {
	fi, err := os.Stat(in)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, terminalf("%s: inPath %q: no such file or directory in the promotion's workspace: check the path", what, inPath)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, relativeError(workDir, err))
	}
	return fi, nil
}
