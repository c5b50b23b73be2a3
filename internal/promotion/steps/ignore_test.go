package steps

import (
	"strings"
	"testing"
)

func TestIgnoreRules(t *testing.T) {
	rules, err := parseIgnoreRules("ignore", `
# comments and blank lines are skipped
*.tmp
!keep.tmp
build/
/top.txt
docs/**/*.md
**/cache
vendor/**
\#literal
`, defaultIgnore)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{".git", true, true},
		{"sub/.git", true, true},
		{"a.tmp", false, true},
		{"deep/dir/b.tmp", false, true},
		{"keep.tmp", false, false},
		{"deep/keep.tmp", false, false},
		{"build", true, true},
		{"build", false, false}, // a file named build: the pattern is for directories
		{"src/build", true, true},
		{"top.txt", false, true},
		{"sub/top.txt", false, false}, // anchored
		{"docs/a.md", false, true},
		{"docs/x/y/a.md", false, true},
		{"other/docs/a.md", false, false},
		{"cache", true, true},
		{"a/b/cache", false, true},
		{"vendor", true, false}, // vendor/** is what is inside
		{"vendor/x", false, true},
		{"#literal", false, true},
		{"main.go", false, false},
	}
	for _, tc := range cases {
		if got := rules.match(tc.path, tc.isDir); got != tc.want {
			t.Errorf("match(%q, dir=%v) = %v, want %v", tc.path, tc.isDir, got, tc.want)
		}
	}
	// excluded also looks at the parents of entries that come without a walk.
	for path, want := range map[string]bool{"build/out.bin": true, "vendor/a/b": true, "src/main.go": false, ".git/HEAD": true} {
		if got := rules.excluded(path, false); got != want {
			t.Errorf("excluded(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestIgnoreRulesErrors(t *testing.T) {
	for _, text := range []string{"[", "ok\na[b", "!"} {
		if _, err := parseIgnoreRules("ignore", text); err == nil || !strings.Contains(err.Error(), "ignore line") {
			t.Errorf("%q: error %v", text, err)
		}
	}
}
