// Package testserver starts real servers for tests — an OCI registry, Git
// over smart HTTP, Helm chart repositories — and fills them with fixtures.
// Tests of several packages import it; nothing in it is for production code.
//
// A server whose program is missing makes the test fail in CI (CI=true) and
// skip elsewhere, with the reason and the command that installs it.
package testserver

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"
)

// RegistryBinary is where Debian's docker-registry package installs the
// registry; hack/install-test-deps.sh installs it.
const RegistryBinary = "/usr/bin/docker-registry"

// registryStartTimeout bounds how long NewRegistry waits for GET /v2/.
const registryStartTimeout = 15 * time.Second

// RegistryOptions configure NewRegistry.
type RegistryOptions struct {
	// Username and Password, when Username is set, make the registry require
	// HTTP basic authentication (an htpasswd file with a bcrypt line). The
	// push helpers authenticate with them.
	Username string
	Password string
}

// Registry is a running docker-registry (distribution 2.8) serving plain HTTP
// on 127.0.0.1, with its storage in a temporary directory. It is stopped when
// the test ends. Its methods push fixtures with go-containerregistry.
type Registry struct {
	host string
	opts RegistryOptions

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	stderr  *registryLog
	stopped sync.Once

	pusher *remote.Pusher
	puller *remote.Puller
}

// NewRegistry starts a registry for the test and waits until it answers
// GET /v2/ (200, or 401 when it requires authentication). When the
// docker-registry program is missing the test is skipped, or failed in CI.
func NewRegistry(tb testing.TB, opts RegistryOptions) *Registry {
	tb.Helper()
	registryRequireBinary(tb)
	dir := tb.TempDir()
	var lastErr error
	// The free port is found by listening and closing, so another process
	// may take it first: try a few ports before giving up.
	for range 3 {
		r, err := startRegistry(dir, opts)
		if err == nil {
			tb.Cleanup(r.Stop)
			return r
		}
		lastErr = err
	}
	tb.Fatalf("start docker-registry: %v", lastErr)
	return nil
}

func registryRequireBinary(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(RegistryBinary); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is missing: run hack/install-test-deps.sh (it installs Debian's docker-registry package)", RegistryBinary)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func startRegistry(dir string, opts RegistryOptions) (*Registry, error) {
	port, err := registryFreePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, fmt.Errorf("create registry storage: %w", err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 0.1\n")
	fmt.Fprintf(&cfg, "log:\n  level: error\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&cfg, "storage:\n  filesystem:\n    rootdirectory: %q\n  delete:\n    enabled: true\n", storage)
	fmt.Fprintf(&cfg, "http:\n  addr: %q\n", host)
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("hash registry password: %w", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		line := opts.Username + ":" + string(hash) + "\n"
		if err := os.WriteFile(htpasswd, []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("write htpasswd: %w", err)
		}
		fmt.Fprintf(&cfg, "auth:\n  htpasswd:\n    realm: caravan-test\n    path: %q\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write registry config: %w", err)
	}

	r := &Registry{host: host, opts: opts, exited: make(chan struct{}), stderr: &registryLog{}}
	r.cmd = exec.Command(RegistryBinary, "serve", cfgPath)
	r.cmd.Stdout = r.stderr
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", RegistryBinary, err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	if err := r.waitReady(); err != nil {
		r.Stop()
		return nil, err
	}
	remoteOpts := []remote.Option{remote.WithAuth(r.authenticator())}
	if r.pusher, err = remote.NewPusher(remoteOpts...); err != nil {
		r.Stop()
		return nil, fmt.Errorf("create pusher: %w", err)
	}
	if r.puller, err = remote.NewPuller(remoteOpts...); err != nil {
		r.Stop()
		return nil, fmt.Errorf("create puller: %w", err)
	}
	return r, nil
}

func registryFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls GET /v2/ until the registry answers, it exits, or the
// start timeout passes.
func (r *Registry) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(registryStartTimeout)
	for {
		resp, err := client.Get(r.URL() + "/v2/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-r.exited:
			return fmt.Errorf("docker-registry exited before it was ready: %s", r.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("docker-registry did not answer GET %s/v2/ within %s (last error: %v): %s",
				r.URL(), registryStartTimeout, err, r.stderr.String())
		}
	}
}

// Stop stops the registry; the test's cleanup calls it too. Afterwards its
// address refuses connections, which tests of unreachable registries use.
func (r *Registry) Stop() {
	r.stopped.Do(func() {
		if r.cmd.Process == nil {
			return
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
}

// Host is the registry's address, "127.0.0.1:PORT". go-containerregistry
// (and so Caravan) uses plain HTTP for it without further settings.
func (r *Registry) Host() string { return r.host }

// URL is the registry's base URL, "http://127.0.0.1:PORT".
func (r *Registry) URL() string { return "http://" + r.host }

// Repo returns the repository URL of path in this registry, e.g.
// Repo("demo/app") is "127.0.0.1:PORT/demo/app".
func (r *Registry) Repo(path string) string { return r.host + "/" + path }

// Log returns what the registry wrote to stdout and stderr so far.
func (r *Registry) Log() string { return r.stderr.String() }

func (r *Registry) authenticator() authn.Authenticator {
	if r.opts.Username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.opts.Username, Password: r.opts.Password}
}

// ImageSpec describes an image to push. Every image gets one layer of
// random bytes, so two pushes never share a digest.
type ImageSpec struct {
	// Created is the config's created date; zero leaves it unset.
	Created time.Time
	// Annotations are the manifest's annotations.
	Annotations map[string]string
	// Labels are the config's labels.
	Labels map[string]string
	// Platform ("os/arch[/variant]") is written to the config; empty means
	// linux/amd64.
	Platform string
	// LayerSize is the random layer's size in bytes; 0 means 64.
	LayerSize int64
}

// PlatformImage is one entry of an index.
type PlatformImage struct {
	// Platform is "os/arch" or "os/arch/variant".
	Platform string
	// Image is the platform's image; its Platform is set from the entry's.
	Image ImageSpec
	// Annotations are the index descriptor's annotations for this entry.
	Annotations map[string]string
}

// IndexSpec describes a multi-platform OCI image index to push.
type IndexSpec struct {
	// Annotations are the index manifest's annotations.
	Annotations map[string]string
	// Manifests are the platform images.
	Manifests []PlatformImage
}

// PushedIndex is what PushIndex pushed.
type PushedIndex struct {
	// Digest is the index's digest.
	Digest string
	// Manifests maps each platform string to its image manifest's digest.
	Manifests map[string]string
}

// BuildImage returns the OCI image spec describes, without pushing it.
func BuildImage(spec ImageSpec) (v1.Image, error) {
	size := spec.LayerSize
	if size <= 0 {
		size = 64
	}
	var seed [8]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seed random layer: %w", err)
	}
	src := mrand.NewSource(int64(binary.LittleEndian.Uint64(seed[:])))
	layer, err := random.Layer(size, types.OCILayer, random.WithSource(src))
	if err != nil {
		return nil, fmt.Errorf("build random layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	plat, err := registryParsePlatform(spec.Platform)
	if err != nil {
		return nil, err
	}
	cfg.OS, cfg.Architecture, cfg.Variant = plat.OS, plat.Architecture, plat.Variant
	cfg.Created = v1.Time{Time: spec.Created}
	cfg.Config.Labels = spec.Labels
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	if len(spec.Annotations) > 0 {
		img = mutate.Annotations(img, spec.Annotations).(v1.Image)
	}
	return img, nil
}

func registryParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return v1.Platform{}, fmt.Errorf("parse platform %q: want os/arch or os/arch/variant", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// PushImage pushes a new image built from spec to repo (a path such as
// "demo/app") under tag and returns its digest.
func (r *Registry) PushImage(tb testing.TB, repo, tag string, spec ImageSpec) string {
	tb.Helper()
	img, err := BuildImage(spec)
	if err != nil {
		tb.Fatalf("build image: %v", err)
	}
	ref := r.tagRef(tb, repo, tag)
	if err := r.pusher.Push(context.Background(), ref, img); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatalf("digest of %s: %v", ref, err)
	}
	return d.String()
}

// PushIndex pushes a multi-platform OCI index, with a new image per
// platform, to repo under tag.
func (r *Registry) PushIndex(tb testing.TB, repo, tag string, spec IndexSpec) PushedIndex {
	tb.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	out := PushedIndex{Manifests: map[string]string{}}
	for _, m := range spec.Manifests {
		plat, err := registryParsePlatform(m.Platform)
		if err != nil {
			tb.Fatal(err)
		}
		is := m.Image
		is.Platform = m.Platform
		img, err := BuildImage(is)
		if err != nil {
			tb.Fatalf("build image for %s: %v", m.Platform, err)
		}
		d, err := img.Digest()
		if err != nil {
			tb.Fatalf("digest: %v", err)
		}
		out.Manifests[m.Platform] = d.String()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &plat, Annotations: m.Annotations},
		})
	}
	if len(spec.Annotations) > 0 {
		idx = mutate.Annotations(idx, spec.Annotations).(v1.ImageIndex)
	}
	ref := r.tagRef(tb, repo, tag)
	if err := r.pusher.Push(context.Background(), ref, idx); err != nil {
		tb.Fatalf("push index %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		tb.Fatalf("digest of index %s: %v", ref, err)
	}
	out.Digest = d.String()
	return out
}

// Tag points each of tags in repo at src, an existing tag or digest
// ("sha256:…") of the same repository. Tags are written concurrently, so
// hundreds take well under a second.
func (r *Registry) Tag(tb testing.TB, repo, src string, tags ...string) {
	tb.Helper()
	ctx := context.Background()
	var srcRef name.Reference
	var err error
	if strings.Contains(src, ":") {
		srcRef, err = name.NewDigest(r.Repo(repo) + "@" + src)
	} else {
		srcRef, err = name.NewTag(r.Repo(repo) + ":" + src)
	}
	if err != nil {
		tb.Fatalf("parse %s: %v", src, err)
	}
	desc, err := r.puller.Get(ctx, srcRef)
	if err != nil {
		tb.Fatalf("get %s: %v", srcRef, err)
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, tag := range tags {
		ref := r.tagRef(tb, repo, tag)
		g.Go(func() error {
			if err := r.pusher.Put(ctx, ref, desc); err != nil {
				return fmt.Errorf("tag %s: %w", ref, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
}

// Digest returns the digest tag points at in repo.
func (r *Registry) Digest(tb testing.TB, repo, tag string) string {
	tb.Helper()
	ref := r.tagRef(tb, repo, tag)
	desc, err := r.puller.Head(context.Background(), ref)
	if err != nil {
		tb.Fatalf("head %s: %v", ref, err)
	}
	return desc.Digest.String()
}

// DeleteTag removes the manifest tag points at (and so every tag pointing
// at the same digest) from repo.
func (r *Registry) DeleteTag(tb testing.TB, repo, tag string) {
	tb.Helper()
	d := r.Digest(tb, repo, tag)
	ref, err := name.NewDigest(r.Repo(repo) + "@" + d)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.pusher.Delete(context.Background(), ref); err != nil {
		tb.Fatalf("delete %s: %v", ref, err)
	}
}

func (r *Registry) tagRef(tb testing.TB, repo, tag string) name.Tag {
	tb.Helper()
	ref, err := name.NewTag(r.Repo(repo) + ":" + tag)
	if err != nil {
		tb.Fatalf("parse %s:%s: %v", repo, tag, err)
	}
	return ref
}

// registryLog collects the registry's output, keeping the last 64 KiB.
type registryLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *registryLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if over := l.buf.Len() - 64<<10; over > 0 {
		l.buf.Next(over)
	}
	return len(p), nil
}

func (l *registryLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.buf.String())
}
