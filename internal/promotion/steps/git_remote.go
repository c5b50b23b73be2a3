package steps

// This file holds how the git steps reach a remote repository: checking its
// URL, wording what went wrong for users, and keeping credentials out of
// what git printed.

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/caravan-dev/caravan/internal/discovery"
)

// gitRemote is a repository as a step reaches it.
type gitRemote struct {
	url      string // what git is given: no user information for http(s)
	creds    *discovery.Credentials
	insecure bool
}

// gitSCPLike matches scp-style addresses, user@host:path.
var gitSCPLike = regexp.MustCompile(`^[\w.~-]+@[\w.-]+:.+$`)

// newGitRemote checks a repository URL and strips user information from
// http(s) URLs; a password found there is used when creds is nil.
func newGitRemote(step, raw string, creds *discovery.Credentials, insecure bool) (*gitRemote, error) {
	raw = strings.TrimSpace(raw)
	lower := strings.ToLower(raw)
	access := raw
	switch {
	case strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "http://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, gitTerminal(step, "repoURL %q is not a valid URL: write it as https://host/path", gitScrub(raw, creds))
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && creds == nil {
				creds = &discovery.Credentials{Username: u.User.Username(), Password: pw}
			}
			u.User = nil
		}
		access = u.String()
	case strings.HasPrefix(lower, "ssh://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, gitTerminal(step, "repoURL %q is not a valid URL: write it as ssh://user@host/path", gitScrub(raw, creds))
		}
	case strings.Contains(raw, "://"), !gitSCPLike.MatchString(raw):
		return nil, gitTerminal(step, "repoURL %q is not a supported Git URL: use https://host/path, http://host/path, "+
			"ssh://user@host/path or user@host:path", gitScrub(raw, creds))
	}
	return &gitRemote{url: access, creds: creds, insecure: insecure}, nil
}

// gitRemoteError words a failed network command for users.
func gitRemoteError(doing string, r *gitRemote, err error) error {
	s := strings.ToLower(gitStderr(err))
	has := func(patterns ...string) bool {
		for _, p := range patterns {
			if strings.Contains(s, p) {
				return true
			}
		}
		return false
	}
	var hint string
	switch {
	case has("authentication failed", "could not read username", "could not read password",
		"terminal prompts disabled", "permission denied", "http 401", "http 403",
		"the requested url returned error: 401", "the requested url returned error: 403",
		"invalid username or password", "access denied", "host key verification failed"):
		if r.creds == nil {
			hint = "authentication failed: the repository needs credentials: create a Secret labelled " +
				"kargo.akuity.io/cred-type: git whose repoURL matches " + r.url + ", with username and password " +
				"(or sshPrivateKey for ssh URLs)"
		} else {
			access := "read"
			if strings.Contains(doing, "push to") {
				access = "push to"
			}
			hint = "authentication failed: check that the git credentials Secret for " + r.url +
				" is valid and may " + access + " the repository"
		}
	case has("ssl certificate problem", "server certificate verification failed", "certificate verify failed",
		"self-signed certificate", "self signed certificate"):
		hint = "the TLS certificate of " + r.url + " could not be verified: make its CA trusted on the Caravan host, " +
			"or set insecureSkipTLSVerify: true on the git-clone step if you accept an unverified server"
	case has("not found", "does not appear to be a git repository", "the requested url returned error: 404",
		"repository does not exist"):
		hint = "repository " + r.url + " not found: check repoURL; a private repository may also look missing to " +
			"credentials that cannot read it"
	case has("could not resolve host", "failed to connect", "couldn't connect", "connection refused",
		"timed out", "network is unreachable", "no route to host", "connection reset", "empty reply from server"):
		hint = "cannot reach " + r.url + ": check the host name and port, and that the network lets Caravan through"
	}
	if hint == "" {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return fmt.Errorf("%s: %s: %w", doing, hint, err)
}

// gitLsRemote lists refs of the remote matching patterns and the branch
// its HEAD names ("" when it has none).
func (s *gitSpace) lsRemote(ctx context.Context, r *gitRemote, patterns ...string) (refs map[string]string, head string, err error) {
	out, err := s.run(ctx, gitExec{remote: r, args: append([]string{"ls-remote", "--symref", r.url, "HEAD"}, patterns...)})
	if err != nil {
		return nil, "", gitRemoteError("list refs of "+r.url, r, err)
	}
	refs = map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		left, name, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if target, sym := strings.CutPrefix(left, "ref: "); sym {
			if name == "HEAD" {
				head = strings.TrimPrefix(target, "refs/heads/")
			}
			continue
		}
		refs[name] = left
	}
	return refs, head, nil
}

// gitUserInfo matches the user information of URLs in free text.
var gitUserInfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'"]+@`)

// gitScrub removes credentials from text git printed.
func gitScrub(s string, creds *discovery.Credentials) string {
	s = gitUserInfo.ReplaceAllString(s, "$1")
	if creds != nil {
		for _, secret := range []string{creds.Password, creds.SSHPrivateKey} {
			if len(secret) >= 4 {
				s = strings.ReplaceAll(s, secret, "***")
			}
		}
	}
	return s
}
