package apiclient

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Defaults and environment variables of a connection.
const (
	// DefaultServer is the server URL used when neither --server nor
	// CARAVAN_SERVER is given; it is where `caravan server` listens by default.
	DefaultServer = "http://127.0.0.1:8080"
	// EnvServer names the server URL.
	EnvServer = "CARAVAN_SERVER"
	// EnvToken holds a bearer token.
	EnvToken = "CARAVAN_TOKEN"
	// AdminTokenFile is the file, in the server's data directory, holding the
	// admin token the server writes on first start.
	AdminTokenFile = "admin-token"
)

// DefaultDataDir returns the default data directory of `caravan server`:
// $XDG_DATA_HOME/caravan, else ~/.local/share/caravan.
func DefaultDataDir() (string, error) {
	return defaultDataDir(os.Getenv, os.UserHomeDir)
}

func defaultDataDir(getenv func(string) string, home func() (string, error)) (string, error) {
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "caravan"), nil
	}
	h, err := home()
	if err != nil {
		return "", fmt.Errorf("find the default data directory: %w (set XDG_DATA_HOME or pass --data-dir)", err)
	}
	return filepath.Join(h, ".local", "share", "caravan"), nil
}

// ConnectionFlags are the global connection flags of the CLI. Flags beat
// environment variables, which beat the defaults.
type ConnectionFlags struct {
	// Server is --server.
	Server string
	// Token is --token.
	Token string
	// TokenFile is --token-file.
	TokenFile string
}

// Resolve turns flags, the environment and the defaults into a Config:
//   - server: --server, else $CARAVAN_SERVER, else DefaultServer;
//   - token: --token, else the contents of --token-file, else $CARAVAN_TOKEN,
//     else the admin-token file of the default data directory if it is
//     readable, else none.
func (f ConnectionFlags) Resolve() (Config, error) {
	return f.resolve(os.Getenv, os.UserHomeDir)
}

func (f ConnectionFlags) resolve(getenv func(string) string, home func() (string, error)) (Config, error) {
	var cfg Config
	switch {
	case f.Server != "":
		cfg.Server = f.Server
	case getenv(EnvServer) != "":
		cfg.Server = getenv(EnvServer)
	default:
		cfg.Server = DefaultServer
	}
	if f.Token != "" && f.TokenFile != "" {
		return Config{}, errors.New("both --token and --token-file given: use one")
	}
	switch {
	case f.Token != "":
		cfg.Token = strings.TrimSpace(f.Token)
	case f.TokenFile != "":
		tok, err := readToken(f.TokenFile)
		if err != nil {
			return Config{}, err
		}
		cfg.Token = tok
	case getenv(EnvToken) != "":
		cfg.Token = strings.TrimSpace(getenv(EnvToken))
	default:
		dir, err := defaultDataDir(getenv, home)
		if err != nil {
			return cfg, nil // no default token; the server will answer 401
		}
		tok, err := readToken(filepath.Join(dir, AdminTokenFile))
		if err == nil {
			cfg.Token = tok
		}
	}
	return cfg, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("read token file %s: it does not exist", path)
		}
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read token file %s: it is empty", path)
	}
	return tok, nil
}
