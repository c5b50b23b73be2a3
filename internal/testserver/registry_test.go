package testserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestRegistryPushTagAndIndex(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{})
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	d1 := reg.PushImage(t, "demo/app", "1.0.0", ImageSpec{
		Created:     created,
		Annotations: map[string]string{"org.opencontainers.image.source": "https://example.com/app"},
		Labels:      map[string]string{"team": "a"},
	})
	d2 := reg.PushImage(t, "demo/app", "1.0.1", ImageSpec{Created: created})
	if d1 == d2 {
		t.Fatalf("two pushes share digest %s; every image should get its own random layer", d1)
	}
	reg.Tag(t, "demo/app", "1.0.0", "latest", "stable")
	reg.Tag(t, "demo/app", d2, "next")
	idx := reg.PushIndex(t, "demo/app", "multi", IndexSpec{Manifests: []PlatformImage{
		{Platform: "linux/amd64", Image: ImageSpec{Created: created}},
		{Platform: "linux/arm64/v8", Image: ImageSpec{Created: created}},
	}})

	for tag, want := range map[string]string{"latest": d1, "stable": d1, "next": d2, "multi": idx.Digest} {
		if got := reg.Digest(t, "demo/app", tag); got != want {
			t.Errorf("tag %s points at %s, want %s", tag, got, want)
		}
	}
	if len(idx.Manifests) != 2 || idx.Manifests["linux/arm64/v8"] == "" {
		t.Errorf("PushIndex manifests = %v, want both platforms", idx.Manifests)
	}

	repo, err := name.NewRepository(reg.Repo("demo/app"))
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatalf("list tags: %v", err)
	}
	slices.Sort(tags)
	want := []string{"1.0.0", "1.0.1", "latest", "multi", "next", "stable"}
	if !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}

	// The config carries the chosen created date and labels.
	ref, _ := name.NewTag(reg.Repo("demo/app") + ":1.0.0")
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Equal(created) || cfg.Config.Labels["team"] != "a" {
		t.Errorf("config created=%v labels=%v, want %v and team=a", cfg.Created, cfg.Config.Labels, created)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Annotations["org.opencontainers.image.source"] == "" {
		t.Errorf("manifest annotations = %v, want the pushed ones", m.Annotations)
	}

	reg.DeleteTag(t, "demo/app", "next")
	if _, err := remote.Head(mustTag(t, reg.Repo("demo/app")+":next")); err == nil {
		t.Errorf("tag next still resolves after DeleteTag")
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{Username: "alice", Password: "s3cret"})
	reg.PushImage(t, "private/app", "1.0.0", ImageSpec{})

	repo, err := name.NewRepository(reg.Repo("private/app"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		auth     authn.Authenticator
		wantCode int
	}{
		{"right password", &authn.Basic{Username: "alice", Password: "s3cret"}, 0},
		{"wrong password", &authn.Basic{Username: "alice", Password: "nope"}, http.StatusUnauthorized},
		{"anonymous", authn.Anonymous, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := remote.List(repo, remote.WithAuth(tc.auth))
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("list with the right password: %v", err)
				}
				return
			}
			var te *transport.Error
			if !errors.As(err, &te) || te.StatusCode != tc.wantCode {
				t.Fatalf("list error = %v, want HTTP %d", err, tc.wantCode)
			}
		})
	}
}

func TestRegistryStop(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{})
	reg.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, reg.URL()+"/v2/", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("registry still answers after Stop")
	}
	reg.Stop() // idempotent
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	ref, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
