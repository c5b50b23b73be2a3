package chart

// OCI chart repositories: the chart's versions are its repository's tags.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/caravan-dev/caravan/internal/discovery"
)

// ociBackoff retries transient registry failures (HTTP 429 and 5xx) briefly:
// the reconciler retries the whole discovery with its own backoff.
var ociBackoff = remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}

// ociVersions lists the tags of the oci:// repository repoURL.
func (d *Discoverer) ociVersions(ctx context.Context, repoURL string, creds *discovery.Credentials) ([]string, error) {
	display := redactURL(repoURL)
	ref := strings.TrimPrefix(repoURL, "oci://")
	repo, err := name.NewRepository(ref)
	if err != nil || strings.ContainsAny(ref, "@") {
		return nil, discovery.NewError(discovery.ErrInvalid,
			"chart repository URL %s is not an OCI repository: write it as oci://registry/path/chart, in lowercase, without a tag or digest",
			display)
	}
	auth := authn.Anonymous
	if hasCreds(creds) {
		auth = &authn.Basic{Username: creds.Username, Password: creds.Password}
	}
	tags, err := remote.List(repo,
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithTransport(d.transport),
		remote.WithUserAgent(userAgent),
		remote.WithRetryBackoff(ociBackoff),
	)
	if err != nil {
		return nil, registryError(ctx, err, display, hasCreds(creds))
	}
	return tags, nil
}

// registryError classifies a failed registry request.
func registryError(ctx context.Context, err error, repo string, hadCreds bool) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("list tags of chart repository %s: %w", repo, ctx.Err())
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		code := terr.StatusCode
		for _, diag := range terr.Errors {
			switch diag.Code {
			case transport.NameUnknownErrorCode:
				code = http.StatusNotFound
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				if code != http.StatusForbidden {
					code = http.StatusUnauthorized
				}
			}
		}
		switch {
		case (code == http.StatusUnauthorized || code == http.StatusForbidden) && !hadCreds:
			return &discovery.Error{Kind: discovery.ErrAuth, Err: err, Msg: fmt.Sprintf(
				"chart repository %s requires authentication (HTTP %d): create a Secret labelled "+
					"kargo.akuity.io/cred-type: helm with repoURL, username and password in the project", repo, code)}
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return &discovery.Error{Kind: discovery.ErrAuth, Err: err, Msg: fmt.Sprintf(
				"chart repository %s refused the credentials (HTTP %d): check the username and password of the "+
					"helm credentials Secret that matches it", repo, code)}
		case code == http.StatusNotFound:
			return &discovery.Error{Kind: discovery.ErrNotFound, Err: err, Msg: fmt.Sprintf(
				"chart repository %s does not exist: check repoURL (oci://registry/path/chart) and that the chart was pushed", repo)}
		}
		return &discovery.Error{Kind: discovery.ErrUnreachable, Err: err,
			Msg: fmt.Sprintf("registry of chart repository %s answered HTTP %d", repo, code)}
	}
	var nerr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return &discovery.Error{Kind: discovery.ErrUnreachable, Err: err,
			Msg: fmt.Sprintf("registry of chart repository %s timed out", repo)}
	}
	return &discovery.Error{Kind: discovery.ErrUnreachable, Err: err,
		Msg: fmt.Sprintf("cannot reach the registry of chart repository %s: check repoURL and that the registry is up", repo)}
}
