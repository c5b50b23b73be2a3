// Package git discovers commits in Git repositories for Warehouses, and
// keeps the bare mirrors that discovery and promotions share.
//
// One bare mirror per repository (per normalized URL) lives under the
// mirrors directory, in a subdirectory named by a hash of that URL. Every
// discovery checks the remote with `git ls-remote` (concurrent checks of one
// repository with the same credentials share a single command), and the
// mirror fetches only the refs a caller needs that moved since, so N
// Warehouses on one repository cost one ls-remote and at most one fetch per
// change. Fetches into one mirror are serialized; different mirrors proceed
// in parallel.
//
// All Git work runs through the git CLI with no user or system
// configuration, prompts disabled, the C locale and protocol version 2.
// Credentials never appear in URLs, arguments, a mirror's configuration,
// logs or errors: HTTP passwords reach git through a GIT_ASKPASS helper that
// reads variables set only for the one command, and SSH keys through a 0600
// file removed after it (see Remote and Mirrors.Discover for the SSH
// host-key policy).
package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/caravan-dev/caravan/internal/discovery"
)

// Options configure Mirrors. The zero value is usable.
type Options struct {
	// Logger receives debug records of the git commands run (never their
	// credentials). Defaults to a logger that discards everything.
	Logger *slog.Logger
	// GitBinary is the git program to run. Defaults to "git", looked up in
	// PATH.
	GitBinary string
	// CommandTimeout bounds each git command on top of the caller's
	// context. Defaults to 10 minutes, enough for a first fetch of a large
	// repository.
	CommandTimeout time.Duration
}

// DefaultCommandTimeout is the CommandTimeout used when Options leave it 0.
const DefaultCommandTimeout = 10 * time.Minute

// Mirrors is the set of bare repository mirrors under one directory. It is
// safe for concurrent use; one Mirrors should own its directory.
type Mirrors struct {
	dir       string
	home      string // empty HOME for every git command
	tmp       string // SSH key files while a command runs
	askpass   string // the GIT_ASKPASS helper
	gitBinary string
	timeout   time.Duration
	log       *slog.Logger

	flights     singleflight.Group // shared ls-remotes, by remote.flightKey
	listFlights singleflight.Group // shared listings, by listing key

	listingsMu sync.Mutex
	listings   map[string]*listing // see Mirrors.listed

	mu      sync.Mutex
	mirrors map[string]*mirror // by normalized URL

	stats struct {
		remoteChecks, lsRemotes, fetches, fetchedBytes, listings atomic.Int64
	}
}

// Stats are counters of the work Mirrors did since it was made, for tests
// and benchmarks.
type Stats struct {
	// RemoteChecks counts the callers (Discover, Sync) that needed the
	// remote's refs. RemoteChecks − LsRemotes of them shared another
	// caller's ls-remote.
	RemoteChecks int64
	// LsRemotes counts the `git ls-remote` commands run.
	LsRemotes int64
	// Fetches counts the `git fetch` commands run into mirrors.
	Fetches int64
	// FetchedBytes is the size of the packs those fetches added to the
	// mirrors: about what went over the network.
	FetchedBytes int64
	// Listings counts the commit and tag listings run in mirrors (`git
	// log`, `git for-each-ref`); discoveries with the same subscription
	// and the same remote state share one.
	Listings int64
}

// mirror is one bare repository. sem serializes what writes to it
// (creation, fetch, prune, repack); reading it needs no lock, as git keeps
// a repository consistent for readers while it is written.
type mirror struct {
	key  string
	path string
	sem  chan struct{}
	// Guarded by sem:
	ready bool
	head  string // the branch HEAD points at
	// refs are the mirror's branches and tags as last read or written, nil
	// when unknown. Mirrors is the only writer of refs/heads/* and
	// refs/tags/* in its mirrors, so this stays true between fetches and
	// spares a `git for-each-ref` per discovery.
	refs map[string]string
}

// NewMirrors returns the mirrors kept under dir (typically
// <data-dir>/git), creating dir if needed. Existing mirrors are reused.
func NewMirrors(dir string, opts Options) (*Mirrors, error) {
	bin := opts.GitBinary
	if bin == "" {
		bin = "git"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("find git binary %q: %w: install git (Debian: apt-get install git) "+
			"or set the path of the git binary", bin, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve mirrors directory: %w", err)
	}
	m := &Mirrors{
		dir:       abs,
		home:      filepath.Join(abs, ".home"),
		tmp:       filepath.Join(abs, ".tmp"),
		askpass:   filepath.Join(abs, ".bin", "askpass"),
		gitBinary: path,
		timeout:   opts.CommandTimeout,
		log:       opts.Logger,
		mirrors:   map[string]*mirror{},
		listings:  map[string]*listing{},
	}
	if m.timeout <= 0 {
		m.timeout = DefaultCommandTimeout
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{m.dir, m.home, m.tmp, filepath.Dir(m.askpass)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create mirrors directory: %w", err)
		}
	}
	// Left-over key files of a crash.
	if entries, err := os.ReadDir(m.tmp); err == nil {
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(m.tmp, e.Name()))
		}
	}
	if err := writeFileAtomic(m.askpass, []byte(askpassScript), 0o700); err != nil {
		return nil, fmt.Errorf("write askpass helper: %w", err)
	}
	return m, nil
}

// Stats returns the counters so far.
func (m *Mirrors) Stats() Stats {
	return Stats{
		RemoteChecks: m.stats.remoteChecks.Load(),
		LsRemotes:    m.stats.lsRemotes.Load(),
		Fetches:      m.stats.fetches.Load(),
		FetchedBytes: m.stats.fetchedBytes.Load(),
		Listings:     m.stats.listings.Load(),
	}
}

// Sync makes sure the mirror of r holds refs and returns the mirror's path,
// a bare repository that promotions may read and add worktrees to. Only
// Mirrors may change the mirror's refs/heads/* and refs/tags/*: work done
// in it must use detached worktrees or refs elsewhere, and bring remote
// changes in through Sync. Each ref
// is a full ref name (refs/heads/main, refs/tags/v1.0.0), a branch or tag
// name (branches win), or a full commit ID; with no refs, every branch and
// tag. Sync always checks the remote with r's credentials, even when the
// mirror already has everything, so a mirror never serves a repository to a
// caller who could not read it; it fetches only refs that moved.
func (m *Mirrors) Sync(ctx context.Context, r Remote, refs ...string) (string, error) {
	rem, err := prepareRemote(r)
	if err != nil {
		return "", err
	}
	rr, err := m.lsRemote(ctx, rem)
	if err != nil {
		return "", err
	}
	var named, ids []string
	if len(refs) == 0 {
		for ref := range rr.refs {
			named = append(named, ref)
		}
	}
	for _, ref := range refs {
		switch {
		case commitID.MatchString(ref):
			ids = append(ids, strings.ToLower(ref))
		case strings.HasPrefix(ref, "refs/"):
			if _, ok := rr.refs[ref]; !ok {
				return "", discovery.NewError(discovery.ErrNotFound, "%s has no ref %s", rem.url, ref)
			}
			named = append(named, ref)
		default:
			full := headsPrefix + ref
			if _, ok := rr.refs[full]; !ok {
				full = tagsPrefix + ref
			}
			if _, ok := rr.refs[full]; !ok {
				return "", discovery.NewError(discovery.ErrNotFound,
					"%s has no branch or tag named %q: check the name", rem.url, ref)
			}
			named = append(named, full)
		}
	}
	mir := m.mirror(rem.key)
	if err := m.ensure(ctx, mir, rem, rr, named, ids); err != nil {
		return "", err
	}
	return mir.path, nil
}

// commitID matches a full SHA-1 or SHA-256 object name.
var commitID = regexp.MustCompile(`^(?i:[0-9a-f]{40}|[0-9a-f]{64})$`)

// mirror returns the mirror of the repository with normalized URL key.
func (m *Mirrors) mirror(key string) *mirror {
	m.mu.Lock()
	defer m.mu.Unlock()
	mir, ok := m.mirrors[key]
	if !ok {
		mir = &mirror{
			key:  key,
			path: filepath.Join(m.dir, mirrorDirName(key)),
			sem:  make(chan struct{}, 1),
		}
		m.mirrors[key] = mir
	}
	return mir
}

// mirrorDirName names a mirror's directory after a hash of its normalized
// URL: stable, filesystem-safe, and free of anything the URL held.
func mirrorDirName(key string) string {
	return hashHex(key)[:32] + ".git"
}

// lock takes mir's write lock, or gives up when ctx ends.
func (mir *mirror) lock(ctx context.Context) error {
	select {
	case mir.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (mir *mirror) unlock() { <-mir.sem }

// ensure brings mir up to date with the remote refs rr for the refs needed
// and the commit IDs ids: it deletes local branches and tags the remote no
// longer has, and fetches the needed refs whose value differs from rr.
// Commit IDs still missing after that are fetched by ID; one the remote
// does not have is ErrNotFound.
func (m *Mirrors) ensure(ctx context.Context, mir *mirror, r *remote, rr *remoteRefs, needed, ids []string) error {
	if err := mir.lock(ctx); err != nil {
		return fmt.Errorf("wait for mirror of %s: %w", r.url, err)
	}
	defer mir.unlock()
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if err := m.initMirror(ctx, mir, r); err != nil {
		return err
	}
	if rr.head != "" && rr.head != mir.head {
		if _, err := m.command(ctx, mir.path, nil, nil, "symbolic-ref", "HEAD", headsPrefix+rr.head); err != nil {
			return fmt.Errorf("set HEAD of mirror of %s: %w", r.url, err)
		}
		mir.head = rr.head
	}
	local, err := m.refsOf(ctx, mir)
	if err != nil {
		return err
	}
	if err := m.prune(ctx, mir, local, rr); err != nil {
		return err
	}
	var refspecs []string
	for _, ref := range needed {
		if want, ok := rr.refs[ref]; ok && local[ref] != want {
			refspecs = append(refspecs, "+"+ref+":"+ref)
		}
	}
	if len(refspecs) > 0 {
		if err := m.fetch(ctx, mir, r, refspecs); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	missing, err := m.missingCommits(ctx, mir, ids)
	if err != nil || len(missing) == 0 {
		return err
	}
	// The commits are most likely on a branch or tag that moved: bring
	// them all up to date, then ask for what is still missing by ID.
	if local, err = m.refsOf(ctx, mir); err != nil {
		return err
	}
	refspecs = refspecs[:0]
	for ref, want := range rr.refs {
		if local[ref] != want {
			refspecs = append(refspecs, "+"+ref+":"+ref)
		}
	}
	sort.Strings(refspecs)
	if len(refspecs) > 0 {
		if err := m.fetch(ctx, mir, r, refspecs); err != nil {
			return err
		}
		if missing, err = m.missingCommits(ctx, mir, missing); err != nil || len(missing) == 0 {
			return err
		}
	}
	if err := m.fetch(ctx, mir, r, missing); err != nil {
		var derr *discovery.Error
		if !errors.As(err, &derr) || derr.Kind == discovery.ErrNotFound {
			return discovery.NewError(discovery.ErrNotFound,
				"commit %s not found in %s: check the commit ID; it may have been force-pushed away", missing[0], r.url)
		}
		return err
	}
	if missing, err = m.missingCommits(ctx, mir, missing); err != nil {
		return err
	}
	if len(missing) > 0 {
		return discovery.NewError(discovery.ErrNotFound, "commit %s not found in %s: check the commit ID", missing[0], r.url)
	}
	return nil
}

// initMirror creates mir's bare repository if it does not exist yet. It is
// made under a temporary name and renamed into place, so a crash never
// leaves a half-made mirror.
func (m *Mirrors) initMirror(ctx context.Context, mir *mirror, r *remote) error {
	if mir.ready {
		return nil
	}
	if _, err := os.Stat(filepath.Join(mir.path, "HEAD")); err == nil {
		mir.ready = true
		return nil
	}
	tmp, err := os.MkdirTemp(m.dir, ".new-")
	if err != nil {
		return fmt.Errorf("create mirror of %s: %w", r.url, err)
	}
	defer os.RemoveAll(tmp)
	if _, err := m.command(ctx, tmp, nil, nil, "init", "--bare", "--quiet", "--template=", "."); err != nil {
		return fmt.Errorf("create mirror of %s: %w", r.url, err)
	}
	// fetch.unpackLimit=1 keeps every fetched pack as a pack: its size is
	// what the fetch transferred (see Stats.FetchedBytes). caravan.url says
	// whose mirror this is; it holds no user information.
	config := fmt.Sprintf("[caravan]\n\turl = %s\n[fetch]\n\tunpackLimit = 1\n[core]\n\tlogAllRefUpdates = false\n",
		strconv.Quote(mir.key))
	f, err := os.OpenFile(filepath.Join(tmp, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("create mirror of %s: %w", r.url, err)
	}
	_, werr := f.WriteString(config)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("create mirror of %s: %w", r.url, err)
	}
	_ = os.RemoveAll(mir.path) // a directory without HEAD is debris
	if err := os.Rename(tmp, mir.path); err != nil {
		return fmt.Errorf("create mirror of %s: %w", r.url, err)
	}
	if err := os.Chmod(mir.path, 0o700); err != nil {
		return fmt.Errorf("create mirror of %s: %w", r.url, err)
	}
	m.log.Debug("created mirror", "repo", r.url, "path", mir.path)
	mir.ready = true
	return nil
}

// refsOf returns the mirror's branches and tags, reading them when they
// are not known. The caller holds mir's lock.
func (m *Mirrors) refsOf(ctx context.Context, mir *mirror) (map[string]string, error) {
	if mir.refs != nil {
		return mir.refs, nil
	}
	out, err := m.command(ctx, mir.path, nil, nil,
		"for-each-ref", "--format=%(objectname) %(refname)", headsPrefix, tagsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list refs of mirror: %w", err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if id, name, ok := strings.Cut(line, " "); ok {
			refs[name] = id
		}
	}
	mir.refs = refs
	return refs, nil
}

// prune deletes the mirror's branches and tags that the remote no longer
// has, as `fetch --prune` would.
func (m *Mirrors) prune(ctx context.Context, mir *mirror, local map[string]string, rr *remoteRefs) error {
	var b strings.Builder
	n := 0
	for ref, id := range local {
		if _, ok := rr.refs[ref]; !ok {
			fmt.Fprintf(&b, "delete %s %s\n", ref, id)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := m.command(ctx, mir.path, nil, []byte(b.String()), "update-ref", "--stdin"); err != nil {
		return fmt.Errorf("prune refs of mirror: %w", err)
	}
	for ref := range local {
		if _, ok := rr.refs[ref]; !ok {
			delete(local, ref)
		}
	}
	m.log.Debug("pruned mirror refs", "path", mir.path, "count", n)
	return nil
}

// maxPacks is how many packs a mirror may collect before they are combined.
const maxPacks = 16

// fetch fetches refspecs (or object IDs) from r into mir and counts the
// fetch and the bytes of the packs it added.
func (m *Mirrors) fetch(ctx context.Context, mir *mirror, r *remote, refspecs []string) error {
	packDir := filepath.Join(mir.path, "objects", "pack")
	before, _ := packSizes(packDir)
	start := time.Now()
	m.stats.fetches.Add(1)
	stdin := []byte(strings.Join(refspecs, "\n") + "\n")
	_, err := m.command(ctx, mir.path, r, stdin,
		"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc",
		"--no-recurse-submodules", "--stdin", r.url)
	after, packs := packSizes(packDir)
	mir.refs = nil // read them again when next needed
	if added := after - before; added > 0 {
		m.stats.fetchedBytes.Add(added)
	}
	if err != nil {
		return wrapRemoteErr("fetch from "+r.url, err)
	}
	m.log.Debug("git fetch", "repo", r.url, "refs", len(refspecs), "bytes", after-before, "duration", time.Since(start))
	if packs > maxPacks {
		if _, err := m.command(ctx, mir.path, nil, nil, "repack", "-d", "-q", "--geometric=2"); err != nil {
			m.log.Warn("repack mirror failed", "path", mir.path, "err", err)
		}
	}
	return nil
}

// missingCommits returns those of ids that mir does not have.
func (m *Mirrors) missingCommits(ctx context.Context, mir *mirror, ids []string) ([]string, error) {
	out, err := m.command(ctx, mir.path, nil, []byte(strings.Join(ids, "\n")+"\n"),
		"cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, fmt.Errorf("look up commits in mirror: %w", err)
	}
	var missing []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if id, what, ok := strings.Cut(line, " "); ok && what == "missing" {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// packSizes returns the total size of the packs in dir and their number.
func packSizes(dir string) (total int64, count int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pack") {
			continue
		}
		if info, err := e.Info(); err == nil {
			total += info.Size()
			count++
		}
	}
	return total, count
}

// writeFileAtomic writes data to path through a temporary file and rename.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	name := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(name, perm)); err != nil {
		_ = os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return err
	}
	return nil
}
