package git

import (
	"errors"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/discovery"
)

func TestPathSelectors(t *testing.T) {
	cases := []struct {
		selector string
		match    []string
		noMatch  []string
	}{
		{"base", []string{"base", "base/a.yaml", "base/x/y"}, []string{"base2/a", "other/base/a", "bas"}},
		{"base/", []string{"base/a.yaml"}, []string{"based"}},
		{"./env/prod", []string{"env/prod/v.yaml"}, []string{"env/production/v.yaml"}},
		{".", []string{"anything", "a/b"}, nil},
		{"glob:*.yaml", []string{"a.yaml"}, []string{"dir/a.yaml", "a.yml"}},
		{"glob:**/*.yaml", []string{"a.yaml", "dir/a.yaml", "a/b/c.yaml"}, []string{"a.yml"}},
		{"glob:env/**/values.yaml", []string{"env/values.yaml", "env/prod/values.yaml", "env/a/b/values.yaml"}, []string{"envx/values.yaml"}},
		{"glob:env/**", []string{"env", "env/a", "env/a/b"}, []string{"envy/a"}},
		{"glob:**", []string{"a", "a/b/c"}, nil},
		{"glob:a?c/{x,y}.txt", []string{"abc/x.txt", "a-c/y.txt"}, []string{"a/c/x.txt", "abc/z.txt"}},
		{"glob:[a-c]*.md", []string{"a.md", "car.md"}, []string{"d.md", "x/a.md"}},
		{"glob:[!a]*.md", []string{"b.md"}, []string{"a.md"}},
		{`glob:a\*b`, []string{"a*b"}, []string{"axb"}},
		{"glob:a**b", []string{"axxb"}, []string{"a/b"}},
		{"regex:^docs/", []string{"docs/a"}, []string{"a/docs/b"}},
		{"regexp:\\.md$", []string{"a/b.md"}, []string{"a.mdx"}},
	}
	for _, tc := range cases {
		t.Run(tc.selector, func(t *testing.T) {
			m, err := compilePathSelector(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.match {
				if !m(p) {
					t.Errorf("%q does not match %q", tc.selector, p)
				}
			}
			for _, p := range tc.noMatch {
				if m(p) {
					t.Errorf("%q matches %q", tc.selector, p)
				}
			}
		})
	}
	for _, bad := range []string{"glob:[ab", "glob:{a,b", "glob:a}", `glob:a\`, "regex:(", ""} {
		if _, err := compilePathSelector(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}

func TestParseSemver(t *testing.T) {
	cases := []struct {
		tag             string
		strict, lenient bool
	}{
		{"1.2.3", true, true},
		{"v1.2.3", true, true},
		{"v1.2.3-rc.1+build.5", true, true},
		{"1.2", false, true},
		{"v1", false, true},
		{"release-1", false, false},
		{"1.2.3.4", false, false},
	}
	for _, tc := range cases {
		if got := parseSemver(tc.tag, true) != nil; got != tc.strict {
			t.Errorf("strict %q = %v, want %v", tc.tag, got, tc.strict)
		}
		if got := parseSemver(tc.tag, false) != nil; got != tc.lenient {
			t.Errorf("lenient %q = %v, want %v", tc.tag, got, tc.lenient)
		}
	}
}

func TestShortenSubject(t *testing.T) {
	cases := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 80), strings.Repeat("a", 80)},
		{strings.Repeat("a", 81), strings.Repeat("a", 77) + "..."},
		{"é" + strings.Repeat("a", 79), "é" + strings.Repeat("a", 75) + "..."},
		{strings.Repeat("a", 77) + "éé", strings.Repeat("a", 77) + "..."},
		{strings.Repeat("a", 76) + "ééb", strings.Repeat("a", 76) + "..."},
	}
	for _, tc := range cases {
		if got := shortenSubject(tc.in); got != tc.want {
			t.Errorf("shortenSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseLsRemote(t *testing.T) {
	out := "ref: refs/heads/trunk\tHEAD\n" +
		"aaaa\tHEAD\n" +
		"aaaa\trefs/heads/trunk\n" +
		"bbbb\trefs/tags/v1\n" +
		"cccc\trefs/tags/v1^{}\n" +
		"dddd\trefs/pull/1/head\n"
	rr, err := parseLsRemote([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if rr.head != "trunk" || len(rr.refs) != 2 || rr.refs["refs/tags/v1"] != "bbbb" || rr.commit("refs/tags/v1") != "cccc" ||
		rr.commit("refs/heads/trunk") != "aaaa" {
		t.Errorf("parsed %+v", rr)
	}
	if _, err := parseLsRemote([]byte("garbage\n")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestScrubText(t *testing.T) {
	creds := &discovery.Credentials{Username: "me", Password: "hunter22"}
	in := "fatal: unable to access 'https://me:hunter22@host/r.git/': bad; token hunter22; ssh://git@host/x"
	got := scrubText(in, creds)
	if strings.Contains(got, "hunter22") || strings.Contains(got, "me:") {
		t.Errorf("scrubbed = %q", got)
	}
	if !strings.Contains(got, "https://host/r.git/") {
		t.Errorf("scrubbed lost the URL: %q", got)
	}
}

func TestPrepareRemote(t *testing.T) {
	cases := []struct {
		url, wantURL string
		wantCreds    bool
		wantErr      bool
	}{
		{"https://host/org/repo.git", "https://host/org/repo.git", false, false},
		{" https://user:pw@host/repo ", "https://host/repo", true, false},
		{"https://user@host/repo", "https://host/repo", false, false},
		{"ssh://git:pw@host:22/repo.git", "ssh://git@host:22/repo.git", false, false},
		{"git@github.com:org/repo.git", "git@github.com:org/repo.git", false, false},
		{"/srv/git/repo.git", "", false, true},
		{"file:///srv/git/repo.git", "", false, true},
		{"ext::sh -c touch% /tmp/x", "", false, true},
		{"https://", "", false, true},
	}
	for _, tc := range cases {
		r, err := prepareRemote(Remote{URL: tc.url})
		if tc.wantErr {
			if !errors.Is(err, discovery.ErrInvalid) {
				t.Errorf("%q: err = %v, want ErrInvalid", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.url, err)
			continue
		}
		if r.url != tc.wantURL || (r.creds != nil) != tc.wantCreds {
			t.Errorf("%q: url %q creds %v, want %q %v", tc.url, r.url, r.creds != nil, tc.wantURL, tc.wantCreds)
		}
	}
	a, _ := prepareRemote(Remote{URL: "https://Host/Repo.git", Credentials: &discovery.Credentials{Password: "x"}})
	b, _ := prepareRemote(Remote{URL: "https://host/repo", Credentials: &discovery.Credentials{Password: "y"}})
	if a.key != b.key || a.flightKey == b.flightKey {
		t.Error("spellings of one URL must share a mirror but not, with other credentials, an ls-remote")
	}
}

func TestClassify(t *testing.T) {
	r := &remote{url: "https://host/repo"}
	cases := []struct {
		stderr string
		kind   error
	}{
		{"fatal: Authentication failed for 'https://host/repo/'", discovery.ErrAuth},
		{"fatal: could not read Username for 'https://host': terminal prompts disabled", discovery.ErrAuth},
		{"git@host: Permission denied (publickey).\nfatal: Could not read from remote repository.", discovery.ErrAuth},
		{"remote: Repository not found.\nfatal: repository 'https://host/repo/' not found", discovery.ErrNotFound},
		{"fatal: unable to access 'https://host/repo/': Could not resolve host: host", discovery.ErrUnreachable},
		{"fatal: unable to access 'https://host/repo/': SSL certificate problem: self-signed certificate", discovery.ErrUnreachable},
		{"ssh: connect to host h port 22: Connection refused", discovery.ErrUnreachable},
		{"fatal: something else", nil},
	}
	for _, tc := range cases {
		kind, msg := classify(tc.stderr, r)
		if kind != tc.kind {
			t.Errorf("%q: kind %v, want %v", tc.stderr, kind, tc.kind)
		}
		if kind != nil && !strings.Contains(msg, r.url) {
			t.Errorf("%q: message %q does not name the repository", tc.stderr, msg)
		}
	}
}
