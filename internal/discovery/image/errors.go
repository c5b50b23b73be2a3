package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/caravan-dev/caravan/internal/discovery"
)

// classify wraps err, a failure talking to the registry of s, in a
// discovery.Error of the right kind with a message that says what to do.
// Errors that already carry a kind, and cancellations, pass through.
func classify(err error, s *selector, withCreds bool) error {
	if err == nil {
		return nil
	}
	var de *discovery.Error
	if errors.As(err, &de) || errors.Is(err, context.Canceled) {
		return err
	}
	host := s.repo.RegistryStr()
	repo := s.repoURL
	kindErr := func(kind error, format string, args ...any) error {
		return &discovery.Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
	}

	var rw *rateWaitError
	if errors.As(err, &rw) {
		return kindErr(discovery.ErrUnreachable,
			"discovery of %s ran out of time waiting for the rate limit of registry %s: more subscriptions poll this registry "+
				"than its request rate allows in time; raise the rate limit or poll less often; discovery will retry", repo, host)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch code := te.StatusCode; {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			if withCreds {
				return kindErr(discovery.ErrAuth,
					"authentication to registry %s failed: check the username and password of the image credentials Secret for this repository (%s)",
					host, repo)
			}
			return kindErr(discovery.ErrAuth,
				"registry %s refused anonymous access to %s: if the repository is private, add a Secret labelled "+
					"kargo.akuity.io/cred-type: image whose repoURL matches it, with username and password; otherwise check that the repository exists",
				host, repo)
		case code == http.StatusNotFound:
			return kindErr(discovery.ErrNotFound,
				"repository %s not found in registry %s: check repoURL, or push an image to it first", repo, host)
		case code == http.StatusTooManyRequests:
			return kindErr(discovery.ErrUnreachable,
				"registry %s is rate limiting requests (HTTP 429): lower the discovery rate limit or the number of subscriptions polling it; discovery will retry",
				host)
		case code >= 500:
			return kindErr(discovery.ErrUnreachable,
				"registry %s answered HTTP %d: it is failing or overloaded; discovery will retry", host, code)
		}
		return kindErr(discovery.ErrUnreachable, "registry %s answered HTTP %d for %s", host, te.StatusCode, repo)
	}

	var unknownAuthority x509.UnknownAuthorityError
	var certInvalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &certInvalid), errors.As(err, &hostname), errors.As(err, &verify):
		return kindErr(discovery.ErrUnreachable,
			"the TLS certificate of registry %s is not trusted: give the registry a certificate from a trusted CA, "+
				"or (for a test registry only) set insecureSkipTLSVerify: true on the subscription", host)
	case errors.As(err, &header):
		return kindErr(discovery.ErrUnreachable,
			"registry %s does not speak TLS: for a plain-HTTP registry set insecureSkipTLSVerify: true on the subscription", host)
	}

	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return kindErr(discovery.ErrUnreachable,
			"cannot resolve registry host %s: check the host name in repoURL %s", host, repo)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return kindErr(discovery.ErrUnreachable,
			"registry %s did not answer in time: check that it is up and reachable from Caravan; discovery will retry", host)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.As(err, &opErr):
		return kindErr(discovery.ErrUnreachable,
			"cannot connect to registry %s: check the host and port in repoURL %s and that the registry is up; discovery will retry",
			host, repo)
	}
	return fmt.Errorf("discover images in %s: %w", repo, err)
}

// isNotFound reports whether err is a registry's 404.
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
