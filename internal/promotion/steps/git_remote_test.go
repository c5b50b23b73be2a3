package steps

import (
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/discovery"
)

func TestGitRemoteURLs(t *testing.T) {
	secretCreds := &discovery.Credentials{Username: "u", Password: "hunter2-secret"}
	tests := []struct {
		name      string
		url       string
		creds     *discovery.Credentials
		wantURL   string
		wantCreds string // password expected; "" for none
		wantErr   string
	}{
		{"https", "https://example.com/org/repo.git", nil, "https://example.com/org/repo.git", "", ""},
		{"user info is stripped and used", "https://bob:hunter2-secret@example.com/r.git", nil,
			"https://example.com/r.git", "hunter2-secret", ""},
		{"configured credentials win over user info", "https://bob:other@example.com/r.git", secretCreds,
			"https://example.com/r.git", "hunter2-secret", ""},
		{"ssh", "ssh://git@example.com/org/repo.git", nil, "ssh://git@example.com/org/repo.git", "", ""},
		{"scp-like", "git@example.com:org/repo.git", nil, "git@example.com:org/repo.git", "", ""},
		{"local path refused", "/srv/git/repo.git", nil, "", "", "not a supported Git URL"},
		{"file URL refused", "file:///srv/git/repo.git", nil, "", "", "not a supported Git URL"},
		{"ext transport refused", "ext::sh -c touch% /tmp/pwned", nil, "", "", "not a supported Git URL"},
		{"bad https", "https://", nil, "", "", "not a valid URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newGitRemote("git-clone", tc.url, tc.creds, false)
			if tc.wantErr != "" {
				gitWantTerminal(t, err, tc.wantErr)
				if strings.Contains(err.Error(), "hunter2-secret") {
					t.Errorf("the password is in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.url != tc.wantURL {
				t.Errorf("url = %q, want %q", r.url, tc.wantURL)
			}
			got := ""
			if r.creds != nil {
				got = r.creds.Password
			}
			if got != tc.wantCreds {
				t.Errorf("password = %q, want %q", got, tc.wantCreds)
			}
		})
	}
}

func TestGitScrub(t *testing.T) {
	creds := &discovery.Credentials{Password: "tok-123456", SSHPrivateKey: "-----KEY-----"}
	in := "fatal: unable to access 'https://bob:tok-123456@host/r.git/': denied tok-123456 -----KEY-----"
	got := gitScrub(in, creds)
	for _, s := range []string{"tok-123456", "-----KEY-----", "bob:"} {
		if strings.Contains(got, s) {
			t.Errorf("scrubbed text still holds %q: %s", s, got)
		}
	}
}
