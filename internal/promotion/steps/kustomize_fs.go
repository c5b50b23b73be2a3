package steps

// The filesystem kustomize-build hands to kustomize: the disk, confined to
// the promotion's workspace (and to the temporary clones kustomize makes of
// remote bases), so that neither "../" in a kustomization nor a symlink can
// make a build read files outside it.

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// kustomizeCloneDirPrefix starts the names of the temporary directories
// kustomize clones remote bases into.
const kustomizeCloneDirPrefix = "kustomize-"

// kustomizeFS is a filesys.FileSystem on disk that refuses paths outside
// root and outside kustomize's own clones of remote bases. The first
// refusal is kept, because kustomize often reports a later, vaguer error.
type kustomizeFS struct {
	disk    filesys.FileSystem
	root    string // the workspace, symlinks resolved
	tmpRoot string // the temporary directory, symlinks resolved

	mu        sync.Mutex
	violation error
}

var _ filesys.FileSystem = (*kustomizeFS)(nil)

func newKustomizeFS(workDir string) (*kustomizeFS, error) {
	root, err := filepath.EvalSymlinks(workDir)
	if err != nil {
		return nil, fmt.Errorf("resolve workspace: %w", err)
	}
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = filepath.Clean(os.TempDir())
	}
	return &kustomizeFS{disk: filesys.MakeFsOnDisk(), root: root, tmpRoot: tmp}, nil
}

// Violation returns the first path that was refused, as an error for users.
func (f *kustomizeFS) Violation() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.violation
}

func (f *kustomizeFS) refuse(err error) error {
	f.mu.Lock()
	if f.violation == nil {
		f.violation = err
	}
	f.mu.Unlock()
	return err
}

// resolve returns the path to use on disk for p, or an error when p lies
// outside what a build may touch.
func (f *kustomizeFS) resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	base := f.root
	if !khWithin(f.root, abs) {
		base = f.cloneDir(abs)
		if base == "" {
			return "", f.refuse(fmt.Errorf("the kustomization refers to %s, which is outside the promotion's workspace: "+
				"keep every resource, base and patch inside the workspace", f.display(abs)))
		}
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", f.display(abs), err)
	}
	resolved, err := promotion.SecurePath(base, rel)
	if err != nil {
		return "", f.refuse(fmt.Errorf("the kustomization refers to %s: %w", f.display(abs), err))
	}
	return resolved, nil
}

// cloneDir returns the kustomize clone directory holding abs, or "".
func (f *kustomizeFS) cloneDir(abs string) string {
	rel, err := filepath.Rel(f.tmpRoot, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	if !strings.HasPrefix(first, kustomizeCloneDirPrefix) {
		return ""
	}
	return filepath.Join(f.tmpRoot, first)
}

// display shows a path relative to the workspace when it is inside it.
func (f *kustomizeFS) display(abs string) string {
	if rel, err := filepath.Rel(f.root, abs); err == nil && khWithin(f.root, abs) {
		return "./" + filepath.ToSlash(rel)
	}
	return abs
}

// khWithin reports whether abs is root or lies below it, lexically.
func khWithin(root, abs string) bool {
	rel, err := filepath.Rel(root, abs)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (f *kustomizeFS) Create(p string) (filesys.File, error) {
	r, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	return f.disk.Create(r)
}

func (f *kustomizeFS) Mkdir(p string) error {
	r, err := f.resolve(p)
	if err != nil {
		return err
	}
	return f.disk.Mkdir(r)
}

func (f *kustomizeFS) MkdirAll(p string) error {
	r, err := f.resolve(p)
	if err != nil {
		return err
	}
	return f.disk.MkdirAll(r)
}

func (f *kustomizeFS) RemoveAll(p string) error {
	r, err := f.resolve(p)
	if err != nil {
		return err
	}
	return f.disk.RemoveAll(r)
}

func (f *kustomizeFS) Open(p string) (filesys.File, error) {
	r, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	return f.disk.Open(r)
}

func (f *kustomizeFS) IsDir(p string) bool {
	r, err := f.resolve(p)
	return err == nil && f.disk.IsDir(r)
}

func (f *kustomizeFS) ReadDir(p string) ([]string, error) {
	r, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	return f.disk.ReadDir(r)
}

// CleanedAbs resolves p as the disk does, after checking it.
func (f *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	r, err := f.resolve(p)
	if err != nil {
		return "", "", err
	}
	if _, err := os.Lstat(r); err != nil {
		return "", "", fmt.Errorf("%s does not exist: %w", f.display(r), os.ErrNotExist)
	}
	return f.disk.CleanedAbs(r)
}

func (f *kustomizeFS) Exists(p string) bool {
	r, err := f.resolve(p)
	return err == nil && f.disk.Exists(r)
}

// Glob matches pattern on disk and keeps only matches a build may read.
func (f *kustomizeFS) Glob(pattern string) ([]string, error) {
	matches, err := f.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(matches, func(m string) bool {
		_, err := f.resolve(m)
		return err != nil
	}), nil
}

// ReadFile reads p; a kustomization file is checked for remote references
// whose git ref git would take for an option.
func (f *kustomizeFS) ReadFile(p string) ([]byte, error) {
	r, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	b, err := f.disk.ReadFile(r)
	if err != nil {
		return nil, err
	}
	if slices.Contains(konfig.RecognizedKustomizationFileNames(), filepath.Base(r)) {
		if err := kustomizeCheckRemoteRefs(b); err != nil {
			return nil, f.refuse(fmt.Errorf("%s: %w", f.display(r), err))
		}
	}
	return b, nil
}

func (f *kustomizeFS) WriteFile(p string, data []byte) error {
	r, err := f.resolve(p)
	if err != nil {
		return err
	}
	return f.disk.WriteFile(r, data)
}

// Walk walks p on disk; every path it reports is checked before walkFn sees
// it.
func (f *kustomizeFS) Walk(p string, walkFn filepath.WalkFunc) error {
	r, err := f.resolve(p)
	if err != nil {
		return err
	}
	return f.disk.Walk(r, func(path string, info os.FileInfo, err error) error {
		if _, rerr := f.resolve(path); rerr != nil {
			return rerr
		}
		return walkFn(path, info, err)
	})
}

// kustomizeCheckRemoteRefs refuses resources, bases and components whose
// ?ref= or ?version= starts with "-": kustomize passes the ref to git, which
// would read it as an option.
func kustomizeCheckRemoteRefs(kustomization []byte) error {
	var k struct {
		Resources  []string `yaml:"resources"`
		Bases      []string `yaml:"bases"`
		Components []string `yaml:"components"`
	}
	if err := kyaml.Unmarshal(kustomization, &k); err != nil {
		return nil //nolint:nilerr // kustomize reports a malformed file itself
	}
	for _, entry := range slices.Concat(k.Resources, k.Bases, k.Components) {
		if strings.HasPrefix(entry, "-") {
			return fmt.Errorf("entry %q starts with '-': remove the dash", entry)
		}
		_, query, ok := strings.Cut(entry, "?")
		if !ok {
			continue
		}
		values, err := url.ParseQuery(query)
		if err != nil {
			continue
		}
		for _, key := range []string{"ref", "version"} {
			for _, v := range values[key] {
				if strings.HasPrefix(v, "-") {
					return fmt.Errorf("remote entry %q has %s=%q, which git would read as an option: use a branch, tag or commit name", entry, key, v)
				}
			}
		}
	}
	return nil
}
