// Package chart discovers the versions of a Helm chart for a Warehouse's
// chart subscription, in classic (HTTP/S) chart repositories and in OCI
// registries.
//
// A classic repository (repoURL http:// or https://, with the chart's name)
// lists its charts in <repoURL>/index.yaml. The Discoverer keeps each index
// it read, with its ETag and Last-Modified, and revalidates it with a
// conditional request, so polling an unchanged repository costs one 304
// response and no parsing; concurrent discoveries of one index share one
// request.
//
// An OCI repository (repoURL oci://registry/path/chart) is the chart
// itself; its tags are the chart's versions, with build metadata's "+"
// written as "_" (tags cannot contain "+"), which is mapped back.
//
// Versions that are not semantic versions are skipped (OCI tags must be
// strict: MAJOR.MINOR.PATCH with no "v"), the rest are filtered by the
// subscription's semverConstraint and returned newest first, at most
// discoveryLimit (default 20) of them, as Kargo does.
package chart

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

// Log attribute keys.
const (
	logKeyRepo   = "repoURL"
	logKeyChart  = "chart"
	logKeyStatus = "status"
	logKeyCount  = "versions"
	logKeyBytes  = "bytes"
	logKeyCharts = "charts"
)

// Options configure a Discoverer.
type Options struct {
	// Logger receives debug records of index fetches; default
	// slog.Default(). Records never carry credentials.
	Logger *slog.Logger
	// HTTPClient fetches classic repositories' index.yaml; default a client
	// over Transport (or http.DefaultTransport). Its Timeout, if any, bounds
	// each fetch; callers also bound Discover with its context.
	HTTPClient *http.Client
	// Transport carries OCI registry requests; default HTTPClient's
	// Transport, else go-containerregistry's remote.DefaultTransport.
	Transport http.RoundTripper
}

// Discoverer discovers chart versions. It is safe for concurrent use and
// meant to be shared: its index cache serves every subscription to the
// same classic repository.
type Discoverer struct {
	log       *slog.Logger
	client    *http.Client
	transport http.RoundTripper
	indexes   *indexCache
}

// NewDiscoverer returns a Discoverer.
func NewDiscoverer(opts Options) *Discoverer {
	d := &Discoverer{log: opts.Logger, client: opts.HTTPClient, transport: opts.Transport, indexes: newIndexCache()}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.client == nil {
		t := opts.Transport
		if t == nil {
			t = http.DefaultTransport
		}
		d.client = &http.Client{Transport: t}
	}
	if d.transport == nil {
		d.transport = d.client.Transport
	}
	if d.transport == nil {
		d.transport = remote.DefaultTransport
	}
	return d
}

// Discover returns the versions of the chart sub names, newest first. creds
// may be nil (anonymous access); their username and password are sent with
// HTTP basic authentication.
//
// Errors wrap one of the discovery kinds: ErrInvalid (a subscription that
// cannot work as written: no name for a classic repository, a bad repoURL
// or semverConstraint), ErrAuth (401/403), ErrNotFound (no repository at
// repoURL, or no such chart in its index), ErrUnreachable (connection
// failures, timeouts, server errors) and ErrNoMatch (no version passes the
// constraint). With ErrNoMatch the result is returned too, with no
// versions, so that the caller can record what was searched.
func (d *Discoverer) Discover(ctx context.Context, sub *v1alpha1.ChartSubscription,
	creds *discovery.Credentials) (*v1alpha1.ChartDiscoveryResult, error) {
	if sub == nil {
		return nil, discovery.NewError(discovery.ErrInvalid, "discover chart versions: no chart subscription given")
	}
	repoURL := strings.TrimSpace(sub.RepoURL)
	var constraint *semver.Constraints
	if sub.SemverConstraint != "" {
		c, err := semver.NewConstraint(sub.SemverConstraint)
		if err != nil {
			return nil, &discovery.Error{Kind: discovery.ErrInvalid, Err: err, Msg: fmt.Sprintf(
				"semverConstraint %q of chart subscription %s is not a semantic version constraint: "+
					"write one such as ^1.2.0, ~1.2 or >=1.0.0 <2.0.0", sub.SemverConstraint, redactURL(repoURL))}
		}
		constraint = c
	}
	var (
		raw []string
		oci bool
		err error
	)
	switch {
	case strings.HasPrefix(repoURL, "http://"), strings.HasPrefix(repoURL, "https://"):
		if sub.Name == "" {
			return nil, discovery.NewError(discovery.ErrInvalid,
				"chart subscription %s names no chart: a classic (http/https) repository holds many charts; set name to the chart's name",
				redactURL(repoURL))
		}
		raw, err = d.classicVersions(ctx, repoURL, sub.Name, creds)
	case strings.HasPrefix(repoURL, "oci://"):
		if sub.Name != "" {
			return nil, discovery.NewError(discovery.ErrInvalid,
				"chart subscription %s sets name %q, but an oci:// repoURL is itself the chart: remove name, or append it to repoURL",
				redactURL(repoURL), sub.Name)
		}
		oci = true
		raw, err = d.ociVersions(ctx, repoURL, creds)
	default:
		return nil, discovery.NewError(discovery.ErrInvalid,
			"chart subscription repoURL %q is not a chart repository: use https://… (classic repository, with name) or oci://registry/path/chart",
			redactURL(repoURL))
	}
	if err != nil {
		return nil, err
	}
	sel := selectVersions(raw, oci, constraint, int(v1alpha1.EffectiveDiscoveryLimit(sub.DiscoveryLimit)))
	res := &v1alpha1.ChartDiscoveryResult{
		RepoURL:          sub.RepoURL,
		Name:             sub.Name,
		SemverConstraint: sub.SemverConstraint,
		Versions:         sel.versions,
	}
	d.log.DebugContext(ctx, "discovered chart versions", logKeyRepo, redactURL(repoURL), logKeyChart, sub.Name,
		logKeyCount, len(sel.versions))
	if len(sel.versions) > 0 {
		return res, nil
	}
	what := chartDescription(repoURL, sub.Name)
	switch {
	case sel.valid == 0 && len(raw) == 0:
		return res, discovery.NewError(discovery.ErrNoMatch, "%s has no versions: publish one", what)
	case sel.valid == 0:
		return res, discovery.NewError(discovery.ErrNoMatch,
			"none of the %d versions of %s is a semantic version (e.g. %q): publish versions such as 1.2.3%s",
			len(raw), what, raw[0], ociStrictHint(oci))
	default:
		return res, discovery.NewError(discovery.ErrNoMatch,
			"no version of %s satisfies semverConstraint %q (the newest is %s): change the constraint, or publish a matching version",
			what, sub.SemverConstraint, sel.newest)
	}
}

func ociStrictHint(oci bool) string {
	if oci {
		return " (OCI tags must be strict semantic versions: MAJOR.MINOR.PATCH, no leading v)"
	}
	return ""
}

// chartDescription names a chart for messages.
func chartDescription(repoURL, name string) string {
	if name == "" {
		return "chart " + redactURL(repoURL)
	}
	return fmt.Sprintf("chart %q in %s", name, redactURL(repoURL))
}

// selection is what selectVersions chose.
type selection struct {
	versions []string // newest first, at most the limit; never nil
	valid    int      // how many raw versions were semantic versions
	newest   string   // the newest semantic version, constraint or not
}

// selectVersions parses raw versions (OCI tags when oci: "_" read as "+",
// strict parsing), keeps those constraint allows, and returns at most limit
// of them, newest first. Equal versions written differently ("1.0" and
// "1.0.0") are ordered by their text, so the order is stable.
func selectVersions(raw []string, oci bool, constraint *semver.Constraints, limit int) selection {
	parse := semver.NewVersion
	if oci {
		parse = semver.StrictNewVersion
	}
	all := make([]*semver.Version, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, r := range raw {
		if oci {
			r = strings.ReplaceAll(r, "_", "+")
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		v, err := parse(r)
		if err != nil {
			continue
		}
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b *semver.Version) int {
		if c := b.Compare(a); c != 0 {
			return c
		}
		return strings.Compare(b.Original(), a.Original())
	})
	sel := selection{versions: []string{}, valid: len(all)}
	if len(all) > 0 {
		sel.newest = all[0].Original()
	}
	for _, v := range all {
		if len(sel.versions) == limit {
			break
		}
		if constraint == nil || constraint.Check(v) {
			sel.versions = append(sel.versions, v.Original())
		}
	}
	return sel
}

// redactURL returns u without user information (which may hold a password
// or a token), for messages and logs.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, _, _ := strings.Cut(rest, "/")
	if !strings.Contains(host, "@") {
		return u
	}
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = nil
		return p.String()
	}
	at := strings.LastIndex(host, "@")
	return scheme + "://" + rest[at+1:]
}
