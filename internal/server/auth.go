package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/caravan-dev/caravan/internal/identity"
)

// AdminTokenFile is the name of the file, in the data directory, holding the
// admin bearer token.
const AdminTokenFile = "admin-token"

// Authenticator decides who sent a request. It returns ok=false when the
// request carries no credentials it accepts. Later issues add users and
// session cookies by providing other implementations.
type Authenticator interface {
	Authenticate(r *http.Request) (actor identity.Actor, ok bool)
}

// TokenAuthenticator accepts bearer tokens, each naming an actor. Tokens are
// compared in constant time.
type TokenAuthenticator struct {
	tokens []tokenEntry
}

type tokenEntry struct {
	sum   [sha256.Size]byte
	actor identity.Actor
}

// NewTokenAuthenticator returns an authenticator accepting the given tokens.
func NewTokenAuthenticator(tokens map[string]identity.Actor) *TokenAuthenticator {
	a := &TokenAuthenticator{}
	for t, actor := range tokens {
		a.tokens = append(a.tokens, tokenEntry{sum: sha256.Sum256([]byte(t)), actor: actor})
	}
	return a
}

// Authenticate implements Authenticator for "Authorization: Bearer <token>".
func (a *TokenAuthenticator) Authenticate(r *http.Request) (identity.Actor, bool) {
	token, ok := bearerToken(r)
	if !ok {
		return identity.Actor{}, false
	}
	sum := sha256.Sum256([]byte(token))
	var found identity.Actor
	match := 0
	for _, e := range a.tokens { // no early exit: the time taken says nothing
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found, match = e.actor, 1
		}
	}
	return found, match == 1
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// LoadOrCreateAdminToken returns the admin token kept in dataDir, creating
// dataDir (mode 0700) and a new random token file (mode 0600) when there is
// none. created reports whether it wrote a new token.
func LoadOrCreateAdminToken(dataDir string) (token string, created bool, err error) {
	path := filepath.Join(dataDir, AdminTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, false, nil
		}
		// An empty file (say, a crash between create and write): replace it.
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("create data dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, fmt.Errorf("generate admin token: %w", err)
	}
	token = hex.EncodeToString(raw)
	tmp, err := os.CreateTemp(dataDir, AdminTokenFile+".*")
	if err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return token, true, nil
}

// AdminActor is the actor of the admin token.
var AdminActor = identity.Actor{Name: "admin", Admin: true}
