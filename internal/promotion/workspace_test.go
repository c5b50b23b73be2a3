package promotion

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurePath builds a real workspace with links in and out of it and
// resolves paths against it, both directly and through a link to the
// workspace (as when it sits under a /tmp that is itself a link).
func TestSecurePath(t *testing.T) {
	base := t.TempDir()
	ws := filepath.Join(base, "ws")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{ws, outside, filepath.Join(ws, "src", "base"), filepath.Join(ws, "out")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A link to the workspace stands for a workDir behind a symlink.
	alias := filepath.Join(base, "alias")
	links := map[string]string{
		filepath.Join(ws, "cur"):          "src/base",                  // relative, inside
		filepath.Join(ws, "src", "up"):    "../out",                    // relative, inside
		filepath.Join(ws, "abs-in"):       filepath.Join(ws, "out"),    // absolute, inside
		filepath.Join(ws, "abs-via"):      filepath.Join(alias, "out"), // absolute through the link to the workspace
		filepath.Join(ws, "escape"):       "../outside",                // relative, outside
		filepath.Join(ws, "src", "deep"):  "../../outside/x",           // relative, outside, missing target
		filepath.Join(ws, "abs-out"):      outside,                     // absolute, outside
		filepath.Join(ws, "etc"):          "/etc",                      // absolute, outside
		filepath.Join(ws, "loop-a"):       "loop-b",                    // a loop
		filepath.Join(ws, "loop-b"):       "loop-a",                    //
		filepath.Join(ws, "dangling"):     "not-yet/created",           // inside, missing target
		alias:                             ws,                          // the workspace behind a link
		filepath.Join(ws, "src", "chain"): "../cur/..",                 // resolves to ws/src
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		p    string
		want string // relative to the workspace
		err  string
	}{
		{p: "out", want: "out"},
		{p: "./out/manifests.yaml", want: "out/manifests.yaml"},
		{p: ".", want: "."},
		{p: "src/../out/new/file.yaml", want: "out/new/file.yaml"},
		{p: "cur/kustomization.yaml", want: "src/base/kustomization.yaml"},
		{p: "src/up/x", want: "out/x"},
		{p: "abs-in/x", want: "out/x"},
		{p: "abs-via/x", want: "out/x"},
		{p: "dangling/file", want: "not-yet/created/file"},
		{p: "src/chain/base", want: "src/base"},
		{p: "", err: "the path is empty"},
		{p: "../x", err: `its ".." leads outside`},
		{p: "out/../../x", err: `its ".." leads outside`},
		{p: "/etc/passwd", err: "an absolute path leads outside"},
		{p: "escape/file", err: "a symlink in it leads outside"},
		{p: "src/deep", err: "a symlink in it leads outside"},
		{p: "abs-out/file", err: "points to " + outside + ", outside the promotion's workspace"},
		{p: "etc/passwd", err: "points to /etc, outside"},
		{p: "loop-a/x", err: "too many levels of symbolic links"},
	}
	for _, workDir := range []string{ws, alias} {
		for _, tc := range cases {
			t.Run(filepath.Base(workDir)+":"+tc.p, func(t *testing.T) {
				got, err := SecurePath(workDir, tc.p)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("SecurePath(%q) = %q, %v; want an error with %q", tc.p, got, err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := filepath.Join(workDir, tc.want); got != want {
					t.Errorf("SecurePath(%q) = %q, want %q", tc.p, got, want)
				}
			})
		}
	}
}

func TestSecurePathWorkspaceNotCreatedYet(t *testing.T) {
	ws := filepath.Join(t.TempDir(), "later")
	got, err := SecurePath(ws, "./out/a.yaml")
	if err != nil || got != filepath.Join(ws, "out", "a.yaml") {
		t.Errorf("got %q, %v", got, err)
	}
	sc := &StepContext{WorkDir: ws}
	if _, err := sc.Path("../x"); err == nil {
		t.Error("StepContext.Path should refuse ../x")
	}
}
