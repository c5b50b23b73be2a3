// Package credentials finds repository credentials in the Secrets of the
// store, for the discoverers (and later the promotion steps) that need them.
// It implements discovery.CredentialsLookup with Kargo's rules:
//
//   - a credentials Secret carries the label kargo.akuity.io/cred-type with
//     the value git, image or helm, and the data keys repoURL, username,
//     password and (git over SSH) sshPrivateKey;
//   - the project's namespace is searched first, then the shared namespace
//     (kargo-shared-resources by default);
//   - within a namespace, Secrets whose repoURL equals the repository's URL
//     after normalization win over Secrets whose repoURL is a regular
//     expression (data key repoURLIsRegex: "true"); a regular expression is
//     tried against both the URL as given and its normalized form;
//   - among several matches of the same rank, the first by Secret name wins.
//
// Secret values never appear in what this package logs or returns as an
// error; only namespaces, Secret names and data key names do.
package credentials

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// Data keys of a credentials Secret, as Kargo defines them.
const (
	KeyRepoURL        = "repoURL"
	KeyRepoURLIsRegex = "repoURLIsRegex"
	KeyUsername       = "username"
	KeyPassword       = "password"
	KeySSHPrivateKey  = "sshPrivateKey"
)

// Log attribute keys.
const (
	logKeyNamespace = "namespace"
	logKeySecret    = "secret"
	logKeyKey       = "key"
)

// Options configure a Lookup.
type Options struct {
	// SharedNamespace is searched after the project's namespace; default
	// kinds.SharedResourcesNamespace.
	SharedNamespace string
	// Logger receives warnings about unusable credentials Secrets (an
	// invalid repoURL regex, data that is not base64); default
	// slog.Default(). Warnings name the Secret, never its values.
	Logger *slog.Logger
}

// Lookup finds credentials in the store's Secrets. It is safe for
// concurrent use.
type Lookup struct {
	store  store.Store
	shared string
	log    *slog.Logger

	// regexes caches compiled repoURL patterns; a nil entry records a
	// pattern that does not compile.
	mu      sync.Mutex
	regexes map[string]*regexp.Regexp
}

// maxCachedRegexes bounds the pattern cache; past it the cache starts over.
const maxCachedRegexes = 1024

// Lookup implements discovery.CredentialsLookup.
var _ discovery.CredentialsLookup = (*Lookup)(nil)

// New returns a Lookup over the Secrets of s.
func New(s store.Store, opts Options) *Lookup {
	if opts.SharedNamespace == "" {
		opts.SharedNamespace = kinds.SharedResourcesNamespace
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Lookup{store: s, shared: opts.SharedNamespace, log: opts.Logger, regexes: map[string]*regexp.Regexp{}}
}

// Lookup returns the credentials of credType for repoURL visible to project:
// from the project's namespace if any match there, else from the shared
// namespace. It returns nil and no error when no Secret matches.
func (l *Lookup) Lookup(ctx context.Context, project string, credType discovery.CredentialType,
	repoURL string) (*discovery.Credentials, error) {
	switch credType {
	case discovery.CredentialTypeGit, discovery.CredentialTypeImage, discovery.CredentialTypeHelm:
	default:
		return nil, fmt.Errorf("look up credentials: unknown credential type %q: use git, image or helm", credType)
	}
	namespaces := []string{project}
	if project == "" {
		namespaces = namespaces[:0]
	}
	if l.shared != project {
		namespaces = append(namespaces, l.shared)
	}
	want := normalize(credType, repoURL)
	for _, ns := range namespaces {
		secrets, err := l.list(ctx, ns, credType)
		if err != nil {
			return nil, err
		}
		if c := l.match(ctx, credType, secrets, repoURL, want); c != nil {
			return c, nil
		}
	}
	return nil, nil
}

// secret is the part of a credentials Secret that matching needs.
type secret struct {
	namespace, name string
	data            map[string]string
}

// list returns the decoded credentials Secrets of credType in ns, sorted by
// name.
func (l *Lookup) list(ctx context.Context, ns string, credType discovery.CredentialType) ([]secret, error) {
	sel := labels.SelectorFromSet(labels.Set{v1alpha1.LabelKeyCredentialType: string(credType)})
	list, err := l.store.List(ctx, "Secret", ns, store.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list %s credentials in namespace %s: %w", credType, ns, err)
	}
	out := make([]secret, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, l.decode(ctx, &list.Items[i]))
	}
	slices.SortFunc(out, func(a, b secret) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// wantedKeys are the data keys decoded; others stay untouched.
var wantedKeys = []string{KeyRepoURL, KeyRepoURLIsRegex, KeyUsername, KeyPassword, KeySSHPrivateKey}

// decode reads the wanted keys of u: base64 `data`, overridden by plain-text
// `stringData` (which admission normally folds into data already). A value
// that is not base64 is left out, with a warning naming the key.
func (l *Lookup) decode(ctx context.Context, u *unstructured.Unstructured) secret {
	s := secret{namespace: u.GetNamespace(), name: u.GetName(), data: make(map[string]string, len(wantedKeys))}
	data, _ := u.Object["data"].(map[string]any)
	plain, _ := u.Object["stringData"].(map[string]any)
	for _, k := range wantedKeys {
		if v, ok := plain[k].(string); ok {
			s.data[k] = v
			continue
		}
		enc, ok := data[k].(string)
		if !ok {
			continue
		}
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			l.log.WarnContext(ctx, "credentials secret ignores a value that is not base64: encode it, or set it under stringData",
				logKeyNamespace, s.namespace, logKeySecret, s.name, logKeyKey, k)
			continue
		}
		s.data[k] = string(dec)
	}
	return s
}

// match returns the credentials of the first Secret, by name, whose repoURL
// equals want, else of the first whose repoURL regex matches repoURL or
// want; nil when none does.
func (l *Lookup) match(ctx context.Context, credType discovery.CredentialType, secrets []secret,
	repoURL, want string) *discovery.Credentials {
	for _, s := range secrets {
		u := s.data[KeyRepoURL]
		if u == "" || isRegex(s) {
			continue
		}
		if normalize(credType, u) == want {
			return s.credentials()
		}
	}
	for _, s := range secrets {
		u := s.data[KeyRepoURL]
		if u == "" || !isRegex(s) {
			continue
		}
		re := l.compile(ctx, s, u)
		if re != nil && (re.MatchString(repoURL) || re.MatchString(want)) {
			return s.credentials()
		}
	}
	return nil
}

func isRegex(s secret) bool { return s.data[KeyRepoURLIsRegex] == "true" }

func (s secret) credentials() *discovery.Credentials {
	return &discovery.Credentials{
		Username:      s.data[KeyUsername],
		Password:      s.data[KeyPassword],
		SSHPrivateKey: s.data[KeySSHPrivateKey],
	}
}

// compile returns the compiled repoURL pattern of s, or nil (with a
// warning) when it does not compile.
func (l *Lookup) compile(ctx context.Context, s secret, pattern string) *regexp.Regexp {
	l.mu.Lock()
	re, ok := l.regexes[pattern]
	l.mu.Unlock()
	if ok {
		if re == nil {
			l.warnBadRegex(ctx, s)
		}
		return re
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		re = nil
		l.warnBadRegex(ctx, s)
	}
	l.mu.Lock()
	if len(l.regexes) >= maxCachedRegexes {
		clear(l.regexes)
	}
	l.regexes[pattern] = re
	l.mu.Unlock()
	return re
}

func (l *Lookup) warnBadRegex(ctx context.Context, s secret) {
	l.log.WarnContext(ctx, "credentials secret is skipped: its repoURL is not a valid regular expression; "+
		"fix the pattern, or remove repoURLIsRegex to match the URL exactly",
		logKeyNamespace, s.namespace, logKeySecret, s.name)
}

// normalize puts repoURL in the canonical form of its credential type:
// Git URLs as Freight IDs compare them; chart repositories and image
// repositories as image references ("oci://" and any tag dropped, Docker
// Hub's default registry and "library/" dropped, lowercased).
func normalize(credType discovery.CredentialType, repoURL string) string {
	if credType == discovery.CredentialTypeGit {
		return v1alpha1.NormalizeGitURL(repoURL)
	}
	return v1alpha1.NormalizeChartRepoURL(strings.TrimSpace(repoURL))
}
