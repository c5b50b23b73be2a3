package steps

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/caravan-dev/caravan/internal/promotion"
)

func TestGitCommitValidation(t *testing.T) {
	checkValidation(t, NewGitCommit(), []validationCase{
		{name: "valid", config: "path: ./out\nmessage: m\n"},
		{name: "valid with author", config: "path: ./out\nmessage: m\nauthor: {name: Bot, email: bot@example.com}\n"},
		{name: "no message", config: "path: ./out\n", want: "message"},
		{name: "empty message", config: "path: ./out\nmessage: ''\n", want: "/message"},
		{name: "no path", config: "message: m\n", want: "path"},
		{name: "author without name", config: "path: ./out\nmessage: m\nauthor: {email: bot@example.com}\n", want: "name"},
		{name: "unknown field", config: "path: ./out\nmessage: m\nmessageFromStep: x\n", want: "messageFromStep"},
		{name: "blank message", config: "path: ./out\nmessage: '  '\n", want: "message is required"},
		{name: "signing key", config: "path: ./out\nmessage: m\nauthor: {name: Bot, email: b@example.com, signingKey: k}\n",
			want: "author.signingKey: commit signing is not supported"},
		{name: "not a working tree", config: "path: ./out\nmessage: m\n", files: map[string]string{"out/a": "a"},
			want: "is not inside a Git working tree made by git-clone"},
	})
}

func TestGitCommit(t *testing.T) {
	f := newGitFixture(t)
	tests := []struct {
		name        string
		cloneAuthor string // author: of git-clone
		author      string // author: of git-commit
		sparse      string
		change      func(t *testing.T, out string)
		want        string // author of the commit; "" when nothing is committed
	}{
		{
			name:   "default author",
			change: func(t *testing.T, out string) { writeFiles(t, out, map[string]string{"app.yaml": "a\n"}) },
			want:   "Caravan <caravan@localhost>",
		},
		{
			name:        "git-clone's author",
			cloneAuthor: "author: {name: Release Bot, email: release@example.com}\n",
			change:      func(t *testing.T, out string) { writeFiles(t, out, map[string]string{"app.yaml": "a\n"}) },
			want:        "Release Bot <release@example.com>",
		},
		{
			name:        "git-commit's author overrides",
			cloneAuthor: "author: {name: Release Bot, email: release@example.com}\n",
			author:      "author: {name: Other, email: other@example.com}\n",
			change:      func(t *testing.T, out string) { writeFiles(t, out, map[string]string{"app.yaml": "a\n"}) },
			want:        "Other <other@example.com>",
		},
		{
			name: "deletions",
			change: func(t *testing.T, out string) {
				if err := os.RemoveAll(filepath.Join(out, "assets")); err != nil {
					t.Fatal(err)
				}
			},
			want: "Caravan <caravan@localhost>",
		},
		{
			name:   "outside a sparse checkout",
			sparse: "\n  sparse: [base]",
			change: func(t *testing.T, out string) {
				writeFiles(t, out, map[string]string{"env/test/patch.yaml": "p\n"})
			},
			want: "Caravan <caravan@localhost>",
		},
		{name: "nothing changed", change: func(*testing.T, string) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			f.mustRun(t, NewGitClone(f.mirrors, f.creds), ws,
				fmt.Sprintf("repoURL: %s\n%scheckout:\n- branch: main\n  path: ./out%s\n", f.repo.URL, tc.cloneAuthor, tc.sparse))
			out := filepath.Join(ws, "out")
			tc.change(t, out)
			config := "path: ./out\nmessage: |\n  update the app\n\n  by a promotion\n" + tc.author

			first := f.mustRun(t, NewGitCommit(), ws, config)
			second := f.mustRun(t, NewGitCommit(), ws, config)
			commit, _ := first.Output["commit"].(string)
			if got := second.Output["commit"]; got != commit {
				t.Errorf("second run's commit = %v, want the first's %s", got, commit)
			}
			if second.Status != promotion.StepStatusSkipped {
				t.Errorf("second run's status = %s, want Skipped (nothing changed)", second.Status)
			}
			if head := gitTestCmd(t, out, "rev-parse", "HEAD"); head != commit {
				t.Errorf("HEAD = %s, want the output commit %s", head, commit)
			}
			if tc.want == "" {
				if first.Status != promotion.StepStatusSkipped || commit != f.main {
					t.Errorf("first run = %s with commit %s, want Skipped with main's head %s", first.Status, commit, f.main)
				}
				return
			}
			if first.Status != promotion.StepStatusSucceeded {
				t.Errorf("first run's status = %s, want Succeeded", first.Status)
			}
			if n := gitTestCmd(t, out, "rev-list", "--count", f.main+"..HEAD"); n != "1" {
				t.Errorf("%s commits on top of main, want 1", n)
			}
			if got := gitTestCmd(t, out, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B"); got != tc.want+"|"+tc.want+"|update the app\n\nby a promotion" {
				t.Errorf("commit = %q", got)
			}
			if st := gitTestCmd(t, out, "status", "--porcelain"); st != "" {
				t.Errorf("changes left uncommitted:\n%s", st)
			}
		})
	}
}
