package credentials_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/credentials"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

const (
	project = "demo"
	shared  = kinds.SharedResourcesNamespace
)

// credSecret describes one Secret to write.
type credSecret struct {
	ns, name string
	credType string // label value; "" for no label
	repoURL  string
	regex    bool
	// password doubles as the Secret's identity in the assertions.
	password string
	// stringData puts every value under stringData instead of data.
	stringData bool
	// extra data keys, written as given (already base64 for data).
	extra map[string]string
}

func (c credSecret) object() *unstructured.Unstructured {
	values := map[string]string{
		credentials.KeyRepoURL:  c.repoURL,
		credentials.KeyUsername: "user-" + c.name,
		credentials.KeyPassword: c.password,
	}
	if c.regex {
		values[credentials.KeyRepoURLIsRegex] = "true"
	}
	fields := map[string]any{}
	if c.stringData {
		sd := map[string]any{}
		for k, v := range values {
			sd[k] = v
		}
		fields["stringData"] = sd
	} else {
		d := map[string]any{}
		for k, v := range values {
			d[k] = base64.StdEncoding.EncodeToString([]byte(v))
		}
		for k, v := range c.extra {
			d[k] = v
		}
		fields["data"] = d
	}
	u := &unstructured.Unstructured{Object: fields}
	u.SetAPIVersion("v1")
	u.SetKind("Secret")
	u.SetNamespace(c.ns)
	u.SetName(c.name)
	if c.credType != "" {
		u.SetLabels(map[string]string{v1alpha1.LabelKeyCredentialType: c.credType})
	}
	return u
}

func openStore(t *testing.T, secrets []credSecret) store.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "caravan.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, c := range secrets {
		if _, err := s.Create(t.Context(), c.object()); err != nil {
			t.Fatalf("create secret %s/%s: %v", c.ns, c.name, err)
		}
	}
	return s
}

func TestLookup(t *testing.T) {
	const (
		gitURL   = "https://github.com/example/repo.git"
		chartURL = "oci://ghcr.io/example/charts/app"
	)
	tests := []struct {
		name     string
		secrets  []credSecret
		opts     credentials.Options
		project  string
		credType discovery.CredentialType
		repoURL  string
		want     string // password of the expected Secret; "" for none
	}{
		{
			name: "project namespace before shared namespace",
			secrets: []credSecret{
				{ns: shared, name: "a-shared", credType: "git", repoURL: gitURL, password: "shared"},
				{ns: project, name: "z-project", credType: "git", repoURL: gitURL, password: "project"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "project",
		},
		{
			name: "shared namespace when the project has none",
			secrets: []credSecret{
				{ns: shared, name: "shared", credType: "git", repoURL: gitURL, password: "shared"},
				{ns: project, name: "other", credType: "git", repoURL: "https://github.com/example/other", password: "other"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "shared",
		},
		{
			name: "a regex in the project beats an exact match in shared",
			secrets: []credSecret{
				{ns: shared, name: "exact", credType: "git", repoURL: gitURL, password: "shared-exact"},
				{ns: project, name: "regex", credType: "git", repoURL: `^https://github\.com/example/`, regex: true, password: "project-regex"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "project-regex",
		},
		{
			name: "exact match before regex match, whatever the names",
			secrets: []credSecret{
				{ns: project, name: "a-regex", credType: "git", repoURL: `.*`, regex: true, password: "regex"},
				{ns: project, name: "z-exact", credType: "git", repoURL: gitURL, password: "exact"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "exact",
		},
		{
			name: "several exact matches: first by name",
			secrets: []credSecret{
				{ns: project, name: "b", credType: "git", repoURL: gitURL, password: "b"},
				{ns: project, name: "a", credType: "git", repoURL: gitURL + "/", password: "a"},
				{ns: project, name: "c", credType: "git", repoURL: gitURL, password: "c"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "a",
		},
		{
			name: "several regex matches: first by name",
			secrets: []credSecret{
				{ns: project, name: "re-2", credType: "git", repoURL: `github\.com`, regex: true, password: "2"},
				{ns: project, name: "re-1", credType: "git", repoURL: `example`, regex: true, password: "1"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "1",
		},
		{
			name: "git URLs compare after normalization",
			secrets: []credSecret{
				{ns: project, name: "git", credType: "git", repoURL: " HTTPS://user@GitHub.com/Example/Repo.git/ ", password: "git"},
			},
			credType: discovery.CredentialTypeGit, repoURL: "https://github.com/example/repo", want: "git",
		},
		{
			name: "scp-style and ssh git URLs are the same repository",
			secrets: []credSecret{
				{ns: project, name: "ssh", credType: "git", repoURL: "git@github.com:example/repo.git", password: "ssh"},
			},
			credType: discovery.CredentialTypeGit, repoURL: "ssh://git@github.com/example/repo", want: "ssh",
		},
		{
			name: "chart URLs compare after normalization",
			secrets: []credSecret{
				{ns: project, name: "chart", credType: "helm", repoURL: "ghcr.io/Example/charts/app", password: "chart"},
			},
			credType: discovery.CredentialTypeHelm, repoURL: chartURL, want: "chart",
		},
		{
			name: "classic chart repositories compare case-insensitively",
			secrets: []credSecret{
				{ns: project, name: "classic", credType: "helm", repoURL: "https://Charts.Example.com/stable", password: "classic"},
			},
			credType: discovery.CredentialTypeHelm, repoURL: "https://charts.example.com/stable", want: "classic",
		},
		{
			name: "image URLs compare as image references",
			secrets: []credSecret{
				{ns: project, name: "hub", credType: "image", repoURL: "docker.io/library/nginx", password: "hub"},
			},
			credType: discovery.CredentialTypeImage, repoURL: "nginx", want: "hub",
		},
		{
			name: "image registry with a port is not mistaken for scp-style git",
			secrets: []credSecret{
				{ns: project, name: "local", credType: "image", repoURL: "localhost:5000/team/app:1.0", password: "local"},
			},
			credType: discovery.CredentialTypeImage, repoURL: "localhost:5000/team/app", want: "local",
		},
		{
			name: "regex matches the normalized URL too",
			secrets: []credSecret{
				{ns: project, name: "re", credType: "git", repoURL: `^https://github\.com/example/repo$`, regex: true, password: "re"},
			},
			credType: discovery.CredentialTypeGit, repoURL: "https://GitHub.com/example/repo.git", want: "re",
		},
		{
			name: "regex matches the URL as given",
			secrets: []credSecret{
				{ns: project, name: "re", credType: "helm", repoURL: `^oci://ghcr\.io/example/`, regex: true, password: "re"},
			},
			credType: discovery.CredentialTypeHelm, repoURL: chartURL, want: "re",
		},
		{
			name: "an invalid regex is skipped, the next Secret is used",
			secrets: []credSecret{
				{ns: project, name: "a-bad", credType: "git", repoURL: `(github`, regex: true, password: "bad"},
				{ns: project, name: "b-good", credType: "git", repoURL: `github`, regex: true, password: "good"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "good",
		},
		{
			name: "repoURLIsRegex other than true means exact",
			secrets: []credSecret{
				{ns: project, name: "literal", credType: "git", repoURL: `.*`, password: "literal",
					extra: map[string]string{credentials.KeyRepoURLIsRegex: base64.StdEncoding.EncodeToString([]byte("yes"))}},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "",
		},
		{
			name: "no match",
			secrets: []credSecret{
				{ns: project, name: "other", credType: "git", repoURL: "https://github.com/example/other", password: "other"},
				{ns: project, name: "re", credType: "git", repoURL: `^https://gitlab\.com/`, regex: true, password: "re"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "",
		},
		{
			name: "a Secret of another credential type is ignored",
			secrets: []credSecret{
				{ns: project, name: "helm", credType: "helm", repoURL: gitURL, password: "helm"},
				{ns: project, name: "image", credType: "image", repoURL: `.*`, regex: true, password: "image"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "",
		},
		{
			name: "a Secret without the cred-type label is ignored",
			secrets: []credSecret{
				{ns: project, name: "unlabelled", repoURL: gitURL, password: "unlabelled"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "",
		},
		{
			name: "a Secret in another project is ignored",
			secrets: []credSecret{
				{ns: "other-project", name: "git", credType: "git", repoURL: gitURL, password: "other"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "",
		},
		{
			name: "a Secret without repoURL is ignored",
			secrets: []credSecret{
				{ns: project, name: "no-url", credType: "git", password: "no-url"},
				{ns: project, name: "no-url-regex", credType: "git", regex: true, password: "no-url-regex"},
			},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "",
		},
		{
			name: "stringData is read as plain text",
			secrets: []credSecret{
				{ns: project, name: "plain", credType: "helm", repoURL: chartURL, password: "plain", stringData: true},
			},
			credType: discovery.CredentialTypeHelm, repoURL: chartURL, want: "plain",
		},
		{
			name: "a configured shared namespace",
			secrets: []credSecret{
				{ns: shared, name: "default-shared", credType: "git", repoURL: gitURL, password: "default"},
				{ns: "creds", name: "custom-shared", credType: "git", repoURL: gitURL, password: "custom"},
			},
			opts:     credentials.Options{SharedNamespace: "creds"},
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "custom",
		},
		{
			name: "no project: only the shared namespace",
			secrets: []credSecret{
				{ns: shared, name: "shared", credType: "git", repoURL: gitURL, password: "shared"},
			},
			project:  "-",
			credType: discovery.CredentialTypeGit, repoURL: gitURL, want: "shared",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, tt.secrets)
			l := credentials.New(s, tt.opts)
			p := project
			if tt.project == "-" {
				p = ""
			}
			got, err := l.Lookup(t.Context(), p, tt.credType, tt.repoURL)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if tt.want == "" {
				if got != nil {
					t.Fatalf("Lookup = credentials with password %q, want none", got.Password)
				}
				return
			}
			if got == nil {
				t.Fatalf("Lookup = nil, want the Secret with password %q", tt.want)
			}
			if got.Password != tt.want {
				t.Errorf("Lookup found the Secret with password %q, want %q", got.Password, tt.want)
			}
			var name string
			for _, c := range tt.secrets {
				if c.password == tt.want {
					name = c.name
				}
			}
			if got.Username != "user-"+name {
				t.Errorf("Lookup username = %q, want %q", got.Username, "user-"+name)
			}
		})
	}
}

func TestLookupSSHPrivateKey(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
	s := openStore(t, []credSecret{{
		ns: project, name: "ssh", credType: "git", repoURL: "git@github.com:example/repo.git",
		extra: map[string]string{credentials.KeySSHPrivateKey: base64.StdEncoding.EncodeToString([]byte(key))},
	}})
	got, err := credentials.New(s, credentials.Options{}).Lookup(t.Context(), project,
		discovery.CredentialTypeGit, "ssh://git@github.com/example/repo.git")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got == nil || got.SSHPrivateKey != key {
		t.Fatalf("Lookup = %+v, want the SSH private key", got)
	}
}

// TestLookupNeverLogsSecrets checks that the warnings about unusable Secrets
// name the Secret and the key but not the values.
func TestLookupNeverLogsSecrets(t *testing.T) {
	const password = "hunter2-very-secret"
	s := openStore(t, []credSecret{
		{ns: project, name: "bad-regex", credType: "git", repoURL: `(unclosed`, regex: true, password: password},
		{ns: project, name: "bad-base64", credType: "git", repoURL: "https://github.com/example/repo", password: password,
			extra: map[string]string{credentials.KeyUsername: "not base64 " + password}},
	})
	var logs bytes.Buffer
	l := credentials.New(s, credentials.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 2 { // the second pass hits the regex cache
		got, err := l.Lookup(t.Context(), project, discovery.CredentialTypeGit, "https://github.com/example/other")
		if err != nil || got != nil {
			t.Fatalf("Lookup = %+v, %v; want nil, nil", got, err)
		}
	}
	out := logs.String()
	for _, want := range []string{"secret=bad-regex", "secret=bad-base64", "key=username", "not a valid regular expression"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{password, "(unclosed"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the secret value %q:\n%s", secret, out)
		}
	}
}

func TestLookupUnknownType(t *testing.T) {
	s := openStore(t, nil)
	_, err := credentials.New(s, credentials.Options{}).Lookup(t.Context(), project, "generic", "https://x")
	if err == nil || !strings.Contains(err.Error(), `unknown credential type "generic"`) {
		t.Fatalf("Lookup error = %v, want an unknown credential type error", err)
	}
}
