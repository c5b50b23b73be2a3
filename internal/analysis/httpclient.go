package analysis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxResponseBytes bounds what a provider reads from a response.
const maxResponseBytes = 10 << 20

// maxValueBytes bounds a measurement's recorded value, so that a large
// response does not bloat the run's status.
const maxValueBytes = 64 << 10

// httpClients holds the client a provider uses and its variant that skips
// TLS certificate verification (for metrics with insecure: true).
type httpClients struct {
	secure   *http.Client
	insecure *http.Client
}

// newHTTPClients derives both clients from c; nil means a client with its
// own copy of http.DefaultTransport.
func newHTTPClients(c *http.Client) *httpClients {
	if c == nil {
		c = &http.Client{Transport: defaultTransport()}
	}
	tr := defaultTransport()
	if t, ok := c.Transport.(*http.Transport); ok {
		tr = t.Clone()
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.InsecureSkipVerify = true
	insecure := *c
	insecure.Transport = tr
	return &httpClients{secure: c, insecure: &insecure}
}

func defaultTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment}
}

func (c *httpClients) client(insecure bool) *http.Client {
	if insecure {
		return c.insecure
	}
	return c.secure
}

// readBody reads at most maxResponseBytes of resp's body.
func readBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the response: %w", err)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("the response is larger than %d MiB: select less data", maxResponseBytes>>20)
	}
	return b, nil
}

// transportError says why a request got no response, without repeating
// the URL that url.Error would add (the caller names the request).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// clip bounds a recorded value.
func clip(s string) string {
	if len(s) <= maxValueBytes {
		return s
	}
	return s[:maxValueBytes] + "…"
}
