package git

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

const (
	headsPrefix = "refs/heads/"
	tagsPrefix  = "refs/tags/"
)

// remoteRefs is what one `git ls-remote` saw: the branches and tags of a
// repository and the branch its HEAD names.
type remoteRefs struct {
	// refs maps full ref names (refs/heads/…, refs/tags/…) to the object
	// they point at; for annotated tags, the tag object.
	refs map[string]string
	// peeled maps annotated tags to the commit they point at.
	peeled map[string]string
	// head is the branch (without refs/heads/) the remote HEAD points at,
	// empty when the repository has none.
	head string
}

// commit returns the commit ref points at, peeling annotated tags.
func (rr *remoteRefs) commit(ref string) string {
	if c, ok := rr.peeled[ref]; ok {
		return c
	}
	return rr.refs[ref]
}

// parseLsRemote reads `git ls-remote --symref` output.
func parseLsRemote(out []byte) (*remoteRefs, error) {
	rr := &remoteRefs{refs: map[string]string{}, peeled: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		left, name, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("parse ls-remote output: unexpected line %q", line)
		}
		if target, isSym := strings.CutPrefix(left, "ref: "); isSym {
			if name == "HEAD" {
				rr.head = strings.TrimPrefix(target, headsPrefix)
			}
			continue
		}
		switch {
		case !strings.HasPrefix(name, headsPrefix) && !strings.HasPrefix(name, tagsPrefix):
			// HEAD's own line, and refs outside branches and tags.
		case strings.HasSuffix(name, "^{}"):
			rr.peeled[strings.TrimSuffix(name, "^{}")] = left
		default:
			rr.refs[name] = left
		}
	}
	return rr, sc.Err()
}

// lsRemote returns the remote's refs. Every call checks the remote, but
// concurrent calls for the same repository with the same credentials share
// one `git ls-remote`. The shared command is not cancelled when one caller
// gives up; each caller stops waiting when its own ctx ends.
func (m *Mirrors) lsRemote(ctx context.Context, r *remote) (*remoteRefs, error) {
	m.stats.remoteChecks.Add(1)
	ch := m.flights.DoChan(r.flightKey, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.timeout)
		defer cancel()
		m.stats.lsRemotes.Add(1)
		start := time.Now()
		out, err := m.command(fctx, m.home, r, nil,
			"ls-remote", "--symref", r.url, "HEAD", headsPrefix+"*", tagsPrefix+"*")
		if err != nil {
			return nil, err
		}
		rr, err := parseLsRemote(out)
		if err != nil {
			return nil, err
		}
		m.log.Debug("git ls-remote", "repo", r.url, "refs", len(rr.refs), "duration", time.Since(start))
		return rr, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("list refs of %s: %w", r.url, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return nil, wrapRemoteErr("list refs of "+r.url, res.Err)
		}
		return res.Val.(*remoteRefs), nil
	}
}

// wrapRemoteErr returns err as it is when it is a discovery.Error (whose
// message already names the repository and the fix), else wrapped with what
// was being done.
func wrapRemoteErr(doing string, err error) error {
	if _, ok := err.(*discovery.Error); ok {
		return err
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// normalizedKey is the identity of a repository: Kargo's normalized URL.
func normalizedKey(repoURL string) string {
	return v1alpha1.NormalizeGitURL(repoURL)
}

// hashHex is the hex SHA-256 of s.
func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// credsFingerprint identifies credentials without revealing them, so that
// only callers with the same credentials share an ls-remote.
func credsFingerprint(c *discovery.Credentials, insecure bool) string {
	h := sha256.New()
	if c != nil {
		for _, s := range []string{c.Username, c.Password, c.SSHPrivateKey} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	} else {
		h.Write([]byte("none"))
	}
	if insecure {
		h.Write([]byte("insecure"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
