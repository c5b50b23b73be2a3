package v1alpha1

import (
	"strings"
	"testing"
)

func TestFreightGenerateIDGolden(t *testing.T) {
	digest1 := "sha256:" + strings.Repeat("0", 63) + "1"
	digest2 := "sha256:" + strings.Repeat("0", 63) + "2"
	shopImage := Image{RepoURL: "registry.example.com/team/shop", Tag: "1.2.0", Digest: digest1}
	warehouse := func(name string) FreightOrigin {
		return FreightOrigin{Kind: FreightOriginKindWarehouse, Name: name}
	}
	tests := []struct {
		name    string
		freight Freight
		want    string
	}{
		{
			name:    "one image",
			freight: Freight{Origin: warehouse("shop"), Images: []Image{shopImage}},
			want:    "654b709cc65ce1ab45cb6409ff551c110a354d97",
		},
		{
			name: "image and commit of an https URL with user, case and .git/",
			freight: Freight{
				Origin: warehouse("shop"),
				Images: []Image{shopImage},
				Commits: []GitCommit{{
					RepoURL: "https://user@Git.Example.com/Team/Config.git/",
					ID:      "1111111111111111111111111111111111111111",
				}},
			},
			want: "9e4b1ab499071561f88575d5da882968452134dc",
		},
		{
			name: "tagged commit of an scp-style URL with a subscription name",
			freight: Freight{
				Origin: warehouse("cfg"),
				Commits: []GitCommit{{
					RepoURL:          "git@github.com:team/config.git",
					ID:               "2222222222222222222222222222222222222222",
					Tag:              "v1.0.0",
					SubscriptionName: "config",
				}},
			},
			want: "f47430a233459d6bab4d5eaec1b4e1dcab2ea87f",
		},
		{
			name: "chart from an https repository",
			freight: Freight{
				Origin: warehouse("charts"),
				Charts: []Chart{{RepoURL: "https://charts.example.com", Name: "nginx", Version: "1.2.3"}},
			},
			want: "dd3c7ace28d3ab3dd7eb8ce754ffb2c40a8353bc",
		},
		{
			name: "OCI chart and a Docker Hub image",
			freight: Freight{
				Origin: warehouse("mix"),
				Charts: []Chart{{RepoURL: "oci://Registry.Example.com/charts/nginx", Version: "4.5.6"}},
				Images: []Image{{RepoURL: "nginx", Tag: "1.27.0", Digest: digest2}},
			},
			want: "58dd6229c101fe8013ca9382b771d04626250006",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.freight.GenerateID(); got != tt.want {
				t.Errorf("GenerateID() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFreightGenerateIDIgnoresOrderAndNonIdentifyingFields(t *testing.T) {
	a := Freight{
		Origin: FreightOrigin{Kind: FreightOriginKindWarehouse, Name: "w"},
		Images: []Image{{RepoURL: "a", Tag: "1"}, {RepoURL: "b", Tag: "2"}},
	}
	b := Freight{
		Origin: a.Origin,
		Alias:  "other",
		Images: []Image{{RepoURL: "b", Tag: "2"}, {RepoURL: "a", Tag: "1", Annotations: map[string]string{"x": "y"}}},
	}
	if a.GenerateID() != b.GenerateID() {
		t.Errorf("IDs differ: %s vs %s", a.GenerateID(), b.GenerateID())
	}
	c := a
	c.Origin.Name = "other"
	if a.GenerateID() == c.GenerateID() {
		t.Error("the origin must change the ID")
	}
	d := Freight{Origin: a.Origin, Artifacts: []ArtifactReference{{ArtifactType: "t", SubscriptionName: "s", Version: "1"}}}
	if want := sha1Hex("Warehouse/w:t:s:1"); d.GenerateID() != want {
		t.Errorf("generic artifact ID = %s, want %s", d.GenerateID(), want)
	}
}

func TestFreightCollectionIDGolden(t *testing.T) {
	names := []string{"bbb", "aaa"}
	if got, want := FreightCollectionID(names), "b0696a9485397a32e74fc7d20eb458c2420b2ddc"; got != want {
		t.Errorf("FreightCollectionID = %s, want %s", got, want)
	}
	if names[0] != "bbb" {
		t.Error("FreightCollectionID modified its input")
	}
	var c FreightCollection
	c.UpdateOrPush(
		FreightReference{Name: "bbb", Origin: FreightOrigin{Kind: FreightOriginKindWarehouse, Name: "x"}},
		FreightReference{Name: "aaa", Origin: FreightOrigin{Kind: FreightOriginKindWarehouse, Name: "y"}},
	)
	if c.ID != "b0696a9485397a32e74fc7d20eb458c2420b2ddc" {
		t.Errorf("UpdateOrPush ID = %s", c.ID)
	}
}

func TestNormalizeGitURL(t *testing.T) {
	tests := map[string]string{
		"https://user@Git.Example.com/Team/Config.git/":  "https://git.example.com/team/config",
		"https://user:pass@github.com/org/repo.git":      "https://github.com/org/repo",
		"http://github.com/org/repo/":                    "http://github.com/org/repo",
		"  https://github.com/org/repo\n":                "https://github.com/org/repo",
		"https://github.com/org/re\x00po":                "https://github.com/org/repo",
		"https://github.com/org/repo.git?ref=Main":       "https://github.com/org/repo.git?ref=main",
		"ssh://git@github.com/Org/Repo.git/":             "ssh://git@github.com/org/repo",
		"ssh://git@github.com:2222/org/repo.git":         "ssh://git@github.com:2222/org/repo",
		"git@github.com:team/config.git":                 "ssh://git@github.com/team/config",
		"git@GitHub.com:Team/Config.git/":                "ssh://git@github.com/team/config",
		"github.com:team/config":                         "ssh://github.com/team/config",
		"not a url":                                      "not a url",
		"https://dev.azure.com/org/proj/_git/repo":       "https://dev.azure.com/org/proj/_git/repo",
		"HTTPS://Example.com/A/B.GIT":                    "https://example.com/a/b",
		"file:///tmp/repo.git":                           "file:///tmp/repo.git",
		"https://gitlab.example.com/group/sub/proj.git/": "https://gitlab.example.com/group/sub/proj",
	}
	for in, want := range tests {
		if got := NormalizeGitURL(in); got != want {
			t.Errorf("NormalizeGitURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeChartRepoURL(t *testing.T) {
	tests := map[string]string{
		"oci://Registry.Example.com/charts/nginx":      "registry.example.com/charts/nginx",
		"oci://registry.example.com:5000/charts/nginx": "registry.example.com:5000/charts/nginx",
		"oci://docker.io/library/nginx":                "nginx",
		"oci://index.docker.io/bitnamicharts/redis":    "bitnamicharts/redis",
		"oci://ghcr.io/org/chart:1.0.0":                "ghcr.io/org/chart",
		"https://charts.example.com":                   "https://charts.example.com",
		"https://Charts.Example.com/stable/":           "https://charts.example.com/stable/",
		"http://localhost:8080":                        "http://localhost:8080",
	}
	for in, want := range tests {
		if got := NormalizeChartRepoURL(in); got != want {
			t.Errorf("NormalizeChartRepoURL(%q) = %q, want %q", in, got, want)
		}
	}
}
