package apiclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	home := t.TempDir()
	xdg := t.TempDir()
	writeToken := func(dir, tok string) string {
		t.Helper()
		p := filepath.Join(dir, AdminTokenFile)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeToken(filepath.Join(xdg, "caravan"), "xdg-token")
	writeToken(filepath.Join(home, ".local", "share", "caravan"), "home-token")
	flagFile := writeToken(filepath.Join(t.TempDir(), "f"), "file-token")

	homeFn := func() (string, error) { return home, nil }
	tests := []struct {
		name       string
		flags      ConnectionFlags
		env        map[string]string
		wantServer string
		wantToken  string
		wantErr    string
	}{
		{name: "defaults use the XDG data dir", env: map[string]string{"XDG_DATA_HOME": xdg},
			wantServer: DefaultServer, wantToken: "xdg-token"},
		{name: "defaults fall back to ~/.local/share", wantServer: DefaultServer, wantToken: "home-token"},
		{name: "env beats defaults", env: map[string]string{EnvServer: "http://env:1", EnvToken: "env-token"},
			wantServer: "http://env:1", wantToken: "env-token"},
		{name: "flags beat env", flags: ConnectionFlags{Server: "http://flag:2", Token: "flag-token"},
			env:        map[string]string{EnvServer: "http://env:1", EnvToken: "env-token"},
			wantServer: "http://flag:2", wantToken: "flag-token"},
		{name: "token file flag beats env", flags: ConnectionFlags{TokenFile: flagFile},
			env:        map[string]string{EnvToken: "env-token"},
			wantServer: DefaultServer, wantToken: "file-token"},
		{name: "both token flags", flags: ConnectionFlags{Token: "a", TokenFile: flagFile}, wantErr: "use one"},
		{name: "missing token file", flags: ConnectionFlags{TokenFile: filepath.Join(home, "nope")}, wantErr: "does not exist"},
		{name: "unreadable default token is no token", env: map[string]string{"XDG_DATA_HOME": t.TempDir()},
			wantServer: DefaultServer, wantToken: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			cfg, err := tt.flags.resolve(getenv, homeFn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server != tt.wantServer || cfg.Token != tt.wantToken {
				t.Errorf("got server %q token %q, want %q %q", cfg.Server, cfg.Token, tt.wantServer, tt.wantToken)
			}
		})
	}
}

func TestDefaultDataDir(t *testing.T) {
	noHome := func() (string, error) { return "", errors.New("no home") }
	if d, err := defaultDataDir(func(string) string { return "/x" }, noHome); err != nil || d != "/x/caravan" {
		t.Errorf("XDG: got %q, %v", d, err)
	}
	// A relative XDG_DATA_HOME is ignored, as the XDG spec says.
	if _, err := defaultDataDir(func(string) string { return "rel" }, noHome); err == nil {
		t.Error("relative XDG_DATA_HOME and no home: want an error")
	}
}
