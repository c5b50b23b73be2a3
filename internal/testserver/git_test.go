package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitClient runs the git client against a GitServer with an isolated
// configuration; it returns the output and whether git succeeded.
func gitClient(t *testing.T, env []string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "protocol.version=2", "-c", "http.sslVerify=false"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestGitServerServesCommitsAndTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts GitServerOptions
	}{
		{"http", GitServerOptions{}},
		{"https", GitServerOptions{TLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewGitServer(t, tc.opts)
			r := s.CreateRepo(t, "app")
			first := r.Commit(t, Commit{Message: "first", Files: map[string]string{"a/b.txt": "b"}})
			r.Tag(t, Tag{Name: "v1.0.0"})
			second := r.Commit(t, Commit{Branch: "dev", Message: "second", Author: "Ann <ann@example.com>",
				Date: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)})
			r.Tag(t, Tag{Name: "v2.0.0", Message: "release 2", Tagger: "Rel <rel@example.com>",
				Date: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)})
			r.Push(t)

			out, ok := gitClient(t, nil, "ls-remote", "--symref", r.URL)
			if !ok {
				t.Fatalf("ls-remote: %s", out)
			}
			for _, want := range []string{
				"ref: refs/heads/main\tHEAD",
				first + "\trefs/heads/main",
				second + "\trefs/heads/dev",
				first + "\trefs/tags/v1.0.0",
				second + "\trefs/tags/v2.0.0^{}",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("ls-remote output lacks %q:\n%s", want, out)
				}
			}
			if got := s.git(t, r.Dir, "log", "-1", "--format=%an|%aI|%s", "dev"); got != "Ann|2025-02-03T04:05:06+00:00|second" {
				t.Errorf("dev head = %q", got)
			}
			if got := s.git(t, r.Dir, "for-each-ref", "--format=%(taggername)|%(creatordate:iso-strict)", "refs/tags/v2.0.0"); got != "Rel|2025-03-01T00:00:00+00:00" {
				t.Errorf("annotated tag = %q", got)
			}
			if got := s.git(t, r.Dir, "log", "-1", "--format=%cI", "main"); got != "2024-01-01T00:00:00+00:00" {
				t.Errorf("first commit date = %q, want the repository clock's start", got)
			}
			st := s.Stats()
			if st.LsRefs != 1 || st.Fetches != 0 || st.BytesServed == 0 {
				t.Errorf("stats after one ls-remote = %+v", st)
			}

			// A clone over HTTP fetches; a push over HTTP is accepted.
			clone := filepath.Join(t.TempDir(), "c")
			if out, ok := gitClient(t, nil, "clone", "--quiet", r.URL, clone); !ok {
				t.Fatalf("clone: %s", out)
			}
			if st := s.Stats(); st.Fetches == 0 {
				t.Errorf("clone counted no fetch: %+v", st)
			}
			if out, ok := gitClient(t, nil, "-C", clone, "push", "--quiet", "origin", "HEAD:refs/heads/pushed"); !ok {
				t.Fatalf("push: %s", out)
			}
			if st := s.Stats(); st.Pushes == 0 {
				t.Errorf("push not counted: %+v", st)
			}
		})
	}
}

func TestGitServerBasicAuth(t *testing.T) {
	s := NewGitServer(t, GitServerOptions{Username: "u", Password: "s3cret"})
	r := s.CreateRepo(t, "private")
	r.Commit(t, Commit{Files: map[string]string{"x": "1"}})
	r.Push(t)

	askpass := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho \"$PW\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	u := strings.Replace(r.URL, "http://", "http://u@", 1)
	for _, tc := range []struct {
		name   string
		url    string
		env    []string
		wantOK bool
	}{
		{"no credentials", r.URL, nil, false},
		{"wrong password", u, []string{"GIT_ASKPASS=" + askpass, "PW=nope"}, false},
		{"right password", u, []string{"GIT_ASKPASS=" + askpass, "PW=s3cret"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().Unauthorized
			out, ok := gitClient(t, tc.env, "ls-remote", tc.url)
			if ok != tc.wantOK {
				t.Fatalf("ls-remote ok = %v, want %v: %s", ok, tc.wantOK, out)
			}
			if !tc.wantOK && s.Stats().Unauthorized == before {
				t.Error("refused request not counted as unauthorized")
			}
		})
	}
}

func TestGitServerHold(t *testing.T) {
	s := NewGitServer(t, GitServerOptions{})
	r := s.CreateRepo(t, "held")
	r.Commit(t, Commit{})
	r.Push(t)

	release := s.Hold()
	done := make(chan bool)
	go func() {
		_, ok := gitClient(t, nil, "ls-remote", r.URL)
		done <- ok
	}()
	deadline := time.Now().Add(20 * time.Second)
	for s.Held() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request was held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("held request finished before release")
	default:
	}
	release()
	if ok := <-done; !ok {
		t.Fatal("ls-remote failed after release")
	}
	if _, ok := gitClient(t, nil, "ls-remote", r.URL); !ok {
		t.Fatal("requests after release are still held")
	}
}

func TestCreateRepoFromSharesObjects(t *testing.T) {
	s := NewGitServer(t, GitServerOptions{})
	src := s.CreateRepo(t, "src")
	id := src.Commit(t, Commit{Files: map[string]string{"f": "x"}})
	src.Push(t)
	cp := s.CreateRepoFrom(t, "copy", src.Dir)
	if got := s.git(t, cp.Dir, "rev-parse", "main"); got != id {
		t.Fatalf("copy main = %s, want %s", got, id)
	}
	next := cp.Commit(t, Commit{Files: map[string]string{"g": "y"}})
	cp.Push(t)
	if got := s.git(t, src.Dir, "rev-parse", "main"); got != id {
		t.Errorf("pushing to the copy moved the source to %s", got)
	}
	if got := s.git(t, cp.Dir, "rev-parse", "main"); got != next {
		t.Errorf("copy main = %s, want %s", got, next)
	}
}
