package steps

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestGitTagValidation(t *testing.T) {
	checkValidation(t, NewGitTag(), []validationCase{
		{name: "valid", config: "path: ./out\ntag: v1.0.0\nmessage: release\n"},
		{name: "valid without message", config: "path: ./out\ntag: v1.0.0\n"},
		{name: "no tag", config: "path: ./out\n", want: "tag"},
		{name: "empty tag", config: "path: ./out\ntag: ''\n", want: "/tag"},
		{name: "no path", config: "tag: v1\n", want: "path"},
		{name: "unknown field", config: "path: ./out\ntag: v1\ntagger: {}\n", want: "tagger"},
		{name: "bad tag name", config: "path: ./out\ntag: 'v1 final'\n", want: `tag "v1 final" is not a valid tag name`},
		{name: "option-like tag name", config: "path: ./out\ntag: --delete\n", want: "start with '-'"},
	})
}

func TestGitTag(t *testing.T) {
	f := newGitFixture(t)
	ws := t.TempDir()
	f.mustRun(t, NewGitClone(f.mirrors, f.creds), ws,
		fmt.Sprintf("repoURL: %s\nauthor: {name: Release Bot, email: release@example.com}\ncheckout:\n- branch: main\n  path: ./out\n", f.repo.URL))
	out := filepath.Join(ws, "out")

	tests := []struct {
		name, config string
	}{
		{"with a message", "path: ./out\ntag: v2.0.0\nmessage: release two\n"},
		{"without a message", "path: ./out\ntag: v2.0.1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runTwice(t, NewGitTag(), ws, tc.config)
			if got := res.Output["commit"]; got != f.main {
				t.Errorf("commit = %v, want HEAD %s", got, f.main)
			}
		})
	}
	got := gitTestCmd(t, out, "for-each-ref", "--format=%(refname:short) %(objecttype) %(*objectname) %(taggername) %(taggeremail) %(contents:subject)", "refs/tags/v2.*")
	want := fmt.Sprintf("v2.0.0 tag %s Release Bot <release@example.com> release two\nv2.0.1 tag %s Release Bot <release@example.com> v2.0.1", f.main, f.main)
	if got != want {
		t.Errorf("tags:\n%s\nwant\n%s", got, want)
	}

	// A tag of that name elsewhere is not moved.
	writeFiles(t, out, map[string]string{"new.txt": "n"})
	f.mustRun(t, NewGitCommit(), ws, "path: ./out\nmessage: more\n")
	_, err := runStep(t, NewGitTag(), ws, "path: ./out\ntag: v2.0.0\n")
	gitWantTerminal(t, err, `tag "v2.0.0" already exists on commit `+f.main)
	if got := gitTestCmd(t, out, "rev-parse", "v2.0.0^{commit}"); got != f.main {
		t.Errorf("tag v2.0.0 moved to %s", got)
	}
}
