package promotion

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds the symbolic links SecurePath follows, as the kernel
// does, so that a loop of links is an error instead of a hang.
const maxSymlinks = 40

// SecurePath resolves p, a path a step's config names relative to the
// promotion's workspace, to an absolute path inside workDir.
//
// p must be relative ("out", "./out/manifests.yaml"); "." is the workspace
// itself. Symbolic links on the way are followed: a relative link, or an
// absolute one that points into the workspace, is fine; a path whose "../"
// or whose link leads outside the workspace is an error that says so,
// never silently redirected. Components that do not exist yet are taken as
// written, so the result may name a file a step is about to create. The
// result starts with workDir as given, even when workDir itself sits behind
// a symbolic link (such as /tmp on some systems).
//
// SecurePath checks the filesystem as it is now; it guards against
// manifests that point outside the workspace, not against a process racing
// to swap links in it.
func SecurePath(workDir, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("resolve path: the path is empty: give a path inside the promotion's workspace, such as ./out")
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("resolve path %q: an absolute path leads outside the promotion's workspace: "+
			"use a path relative to it, such as ./out", p)
	}
	clean := filepath.Clean(p)
	if escapes(clean) {
		return "", fmt.Errorf("resolve path %q: its \"..\" leads outside the promotion's workspace: "+
			"use a path inside it, such as ./out", p)
	}
	root, err := filepath.Abs(workDir)
	if err != nil {
		return "", fmt.Errorf("resolve path %q: workspace %q: %w", p, workDir, err)
	}
	// realRoot is the workspace with its own links resolved, the prefix of
	// whatever absolute link targets or resolved paths say.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolve path %q: workspace %q: %w", p, workDir, err)
		}
		realRoot = root // nothing exists yet, so there is no link to follow
	}
	rel, err := resolveInside(realRoot, clean)
	if err != nil {
		return "", fmt.Errorf("resolve path %q: %w", p, err)
	}
	return filepath.Join(root, rel), nil
}

// escapes reports whether a cleaned relative path climbs above its start.
func escapes(clean string) bool {
	return clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator))
}

// resolveInside walks rel component by component from realRoot, the
// workspace with its links resolved, following symbolic links, and returns
// the resolved path relative to the workspace.
func resolveInside(realRoot, rel string) (string, error) {
	var done []string // resolved components below the workspace
	todo := splitPath(rel)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", fmt.Errorf("a symlink in it leads outside the promotion's workspace: remove the link or use another path")
			}
			done = done[:len(done)-1]
			continue
		}
		cur := filepath.Join(append([]string{realRoot}, append(done, c)...)...)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			// The rest does not exist yet: take it as written, still
			// refusing a ".." that would climb out.
			rest := filepath.Clean(filepath.Join(append(append([]string{}, done...), append([]string{c}, todo...)...)...))
			if escapes(rest) {
				return "", fmt.Errorf("its \"..\" leads outside the promotion's workspace: use a path inside it")
			}
			return rest, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("too many levels of symbolic links: remove the loop of links")
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			inside, ok := within(realRoot, resolveExisting(target))
			if !ok {
				return "", fmt.Errorf("the symlink %s points to %s, outside the promotion's workspace: "+
					"remove the link or use another path", filepath.Join(append(done, c)...), target)
			}
			done = nil
			todo = append(splitPath(inside), todo...)
			continue
		}
		todo = append(splitPath(target), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return filepath.Join(done...), nil
}

// resolveExisting resolves the links of the longest existing prefix of the
// absolute path p and appends the rest as written.
func resolveExisting(p string) string {
	p = filepath.Clean(p)
	rest := ""
	for cur := p; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within returns target relative to base when target is base or below it.
func within(base, target string) (string, bool) {
	r, err := filepath.Rel(base, filepath.Clean(target))
	if err != nil || escapes(r) {
		return "", false
	}
	return r, true
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}
