package chart

import (
	"slices"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestSelectVersions(t *testing.T) {
	tests := []struct {
		name       string
		raw        []string
		oci        bool
		constraint string
		limit      int
		want       []string
		wantValid  int
		wantNewest string
	}{
		{
			name: "classic: lenient parsing, ties ordered by text",
			raw:  []string{"1.0", "v1.0.0", "1.0.0", "bad", "0.9.0", "1.0.0-rc.1"},
			want: []string{"v1.0.0", "1.0.0", "1.0", "1.0.0-rc.1", "0.9.0"}, limit: 20, wantValid: 5, wantNewest: "v1.0.0",
		},
		{
			name: "oci: strict parsing, _ read as +, duplicates dropped",
			raw:  []string{"1.0", "v1.0.0", "1.0.0", "1.0.0_build.2", "1.0.0_build.10", "1.0.0_build.2"},
			oci:  true, limit: 20,
			want: []string{"1.0.0+build.2", "1.0.0+build.10", "1.0.0"}, wantValid: 3, wantNewest: "1.0.0+build.2",
		},
		{
			name: "constraint excludes prereleases unless it names one",
			raw:  []string{"2.0.0-rc.1", "1.5.0", "1.4.0", "2.0.0"}, constraint: "<2.0.0", limit: 20,
			want: []string{"1.5.0", "1.4.0"}, wantValid: 4, wantNewest: "2.0.0",
		},
		{
			name: "limit applies after the constraint",
			raw:  []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"}, constraint: "^1", limit: 2,
			want: []string{"1.2.0", "1.1.0"}, wantValid: 4, wantNewest: "2.0.0",
		},
		{
			name: "nothing", raw: nil, limit: 20, want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *semver.Constraints
			if tt.constraint != "" {
				var err error
				if c, err = semver.NewConstraint(tt.constraint); err != nil {
					t.Fatal(err)
				}
			}
			got := selectVersions(tt.raw, tt.oci, c, tt.limit)
			if !slices.Equal(got.versions, tt.want) || got.versions == nil {
				t.Errorf("versions = %q, want %q", got.versions, tt.want)
			}
			if got.valid != tt.wantValid || got.newest != tt.wantNewest {
				t.Errorf("valid, newest = %d, %q; want %d, %q", got.valid, got.newest, tt.wantValid, tt.wantNewest)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://charts.example.com/stable":         "https://charts.example.com/stable",
		"https://user:pass@charts.example.com/x":    "https://charts.example.com/x",
		"https://ghp_token@github.com/org/charts":   "https://github.com/org/charts",
		"oci://user:p%40ss@registry.example.com/c":  "oci://registry.example.com/c",
		"oci://registry.example.com/c":              "oci://registry.example.com/c",
		"https://us er:p ss@bad host/x":             "https://bad host/x",
		"not a url":                                 "not a url",
		"https://charts.example.com/a@b/index.yaml": "https://charts.example.com/a@b/index.yaml",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
