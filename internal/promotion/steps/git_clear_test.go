package steps

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestGitClearValidation(t *testing.T) {
	checkValidation(t, NewGitClear(), []validationCase{
		{name: "valid", config: "path: ./out\n"},
		{name: "no path", config: "{}\n", want: "path"},
		{name: "empty path", config: "path: ''\n", want: "/path"},
		{name: "unknown field", config: "path: ./out\nrecursive: true\n", want: "recursive"},
		{name: "not a working tree", config: "path: ./out\n", files: map[string]string{"out/a": "a"},
			want: `path "./out" is not inside a Git working tree made by git-clone`},
	})
}

func TestGitClear(t *testing.T) {
	f := newGitFixture(t)
	clone := NewGitClone(f.mirrors, f.creds)
	tests := []struct {
		name   string
		sparse string
		path   string   // what git-clear is given
		left   []string // what ./out holds after it
		tree   []string // what the commit after it holds, but for new.txt
	}{
		{"whole tree", "", "./out", []string{".git"}, nil},
		{"sparse tree: also what is outside it", "\n  sparse: [base]", "./out", []string{".git"}, nil},
		{"a directory in the tree", "", "./out/env", []string{".git", "README.md", "assets/", "base/", "env/"},
			[]string{"README.md", "assets/big/blob.bin", "assets/big/nested/other.bin", "base/deployment.yaml", "base/kustomization.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			f.mustRun(t, clone, ws, fmt.Sprintf("repoURL: %s\ncheckout:\n- commit: %s\n  path: ./out%s\n", f.repo.URL, f.main, tc.sparse))
			writeFiles(t, ws, map[string]string{"out/untracked.txt": "u", "out/env/new/x.yaml": "x"})
			runTwice(t, NewGitClear(), ws, "path: "+tc.path+"\n")
			var top []string
			for _, p := range listTree(t, filepath.Join(ws, "out")) {
				if !strings.Contains(strings.TrimSuffix(p, "/"), "/") {
					top = append(top, p)
				}
			}
			if tc.path == "./out" && fmt.Sprint(top) != fmt.Sprint(tc.left) {
				t.Errorf("./out holds %v, want %v", top, tc.left)
			}
			if tc.path != "./out" && fmt.Sprint(top) != fmt.Sprint(append(tc.left[:len(tc.left):len(tc.left)], "untracked.txt")) {
				t.Errorf("./out holds %v, want %v and untracked.txt", top, tc.left)
			}
			writeFiles(t, ws, map[string]string{"out/new.txt": "new"})
			f.mustRun(t, NewGitCommit(), ws, "path: ./out\nmessage: replace\n")
			files := gitTestCmd(t, filepath.Join(ws, "out"), "ls-tree", "-r", "--name-only", "HEAD")
			want := append(append([]string(nil), tc.tree...), "new.txt")
			if tc.path != "./out" {
				want = append(want, "untracked.txt")
			}
			if got := strings.Fields(files); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("commit after git-clear holds %v, want %v", got, want)
			}
		})
	}
}
