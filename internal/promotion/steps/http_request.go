package steps

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/caravan-dev/caravan/internal/expr"
)

// This file holds what the http and http-download steps share: the HTTP
// client, building requests, describing failures without secrets, and the
// response object their expressions see.

// httpHeader is one entry of headers.
type httpHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// httpQueryParam is one entry of queryParams.
type httpQueryParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// httpNameValueSchema is the schema of headers and queryParams entries.
const httpNameValueSchema = `{
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "value"],
        "properties": {
          "name": {"type": "string", "minLength": 1},
          "value": {"type": "string", "minLength": 1}
        }
      }`

// durationPattern is the schema pattern of Go durations such as 30s or 1m30s.
const durationPattern = `^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// stepHTTPClient is the HTTP client of a step.
type stepHTTPClient struct {
	base *http.Client
}

func newStepHTTPClient(c *http.Client) stepHTTPClient {
	if c == nil {
		c = defaultHTTPClient()
	}
	return stepHTTPClient{base: c}
}

// defaultHTTPClient returns a client whose connections refuse link-local
// addresses (169.254.0.0/16, fe80::/10), where cloud providers serve
// instance credentials: steps run URLs users write.
func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseLinkLocal}
	t.DialContext = d.DialContext
	return &http.Client{Transport: t}
}

func refuseLinkLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) {
		return fmt.Errorf("refusing to connect to the link-local address %s (such as a cloud metadata service)", host)
	}
	return nil
}

// forRequest returns the client for one request: the base client, or a copy
// whose transport skips TLS verification or goes through proxy. The
// returned function releases the copy's connections.
func (c stepHTTPClient) forRequest(insecure bool, proxy string) (*http.Client, func(), error) {
	if !insecure && proxy == "" {
		return c.base, func() {}, nil
	}
	var t *http.Transport
	switch bt := c.base.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = bt.Clone()
	default:
		return nil, nil, terminalf("insecureSkipTLSVerify and proxy are not available with this server's HTTP client (%T): remove them", bt)
	}
	if insecure {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.InsecureSkipVerify = true // #nosec G402 -- the user asked for it
	}
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, terminalf("proxy %q: not an http or https URL: write it like http://proxy.example.com:3128", redactURL(proxy))
		}
		t.Proxy = http.ProxyURL(u)
	}
	cc := *c.base
	cc.Transport = t
	return &cc, t.CloseIdleConnections, nil
}

// newStepRequest builds a request for rawURL with headers and query
// parameters added.
func newStepRequest(ctx context.Context, method, rawURL string, headers []httpHeader, params []httpQueryParam, body string) (*http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, terminalf("url %q: not a URL: write an absolute http or https URL", redactURL(rawURL))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, terminalf("url %q: the scheme %q is not supported: use http or https", redactURL(rawURL), u.Scheme)
	}
	if len(params) > 0 {
		q := u.Query()
		for _, p := range params {
			q.Add(p.Name, p.Value)
		}
		u.RawQuery = q.Encode()
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, terminalf("build the %s request to %s: %v", method, redactURL(rawURL), err)
	}
	for _, h := range headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	return req, nil
}

// redactURL returns raw without credentials, query or fragment, for
// messages: those are where URLs carry secrets.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i]
		}
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			raw = raw[i+1:]
		}
		return raw
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String()
}

// sendError describes a request that got no response, naming the URL
// without its secrets.
func sendError(method, rawURL string, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("send %s %s: no response within the timeout of %s: raise timeout if the server is slow", method, redactURL(rawURL), timeout)
	}
	return fmt.Errorf("send %s %s: %w", method, redactURL(rawURL), err)
}

// parseDuration parses the duration config field named field, or returns
// def when it is empty.
func parseDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, terminalf("%s %q: not a positive duration: write it like 30s, 5m or 1h30m", field, s)
	}
	return d, nil
}

// responseEnv reads resp's body (at most limit bytes) and returns the
// variables expressions over the response see: response.status,
// response.headers, response.header(name) and response.body — parsed JSON
// or YAML, a string for text/plain, an empty map for an empty body or one
// that is neither. contentType, when set, overrides the response's
// Content-Type.
func responseEnv(resp *http.Response, contentType string, limit int64) (map[string]any, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read the response body: %w", err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("the response body is larger than %d bytes", limit)
	}
	if contentType == "" {
		contentType, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	}
	body, err := parseBody(raw, contentType)
	if err != nil {
		return nil, err
	}
	header := resp.Header.Clone()
	return map[string]any{"response": map[string]any{
		"status":  resp.StatusCode,
		"headers": header,
		"header":  func(name string) string { return header.Get(name) },
		"body":    body,
	}}, nil
}

// parseBody parses a response body by its media type.
func parseBody(raw []byte, contentType string) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	switch {
	case contentType == "text/plain":
		return string(raw), nil
	case contentType == "application/yaml" || contentType == "application/x-yaml" || contentType == "text/yaml":
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("parse the %s response body: %v", contentType, err)
		}
		return jsonPlain(yamlPlain(v))
	case contentType == "application/json" || strings.HasSuffix(contentType, "+json"):
		v, err := decodeJSONDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("the %s response body: %v", contentType, err)
		}
		return v, nil
	default:
		if !json.Valid(raw) {
			return map[string]any{}, nil
		}
		return decodeJSONDocument(raw)
	}
}

// compileExpressions checks the named expressions before a request is
// sent, so that a typo fails the step at once.
func compileExpressions(named ...string) error {
	for i := 0; i+1 < len(named); i += 2 {
		if named[i+1] == "" {
			continue
		}
		if err := expr.Compile(named[i+1]); err != nil {
			return terminalf("%s: %v: write a bare expr-lang expression over response, without ${{ }}", named[i], err)
		}
	}
	return nil
}

// errorMessage evaluates errorExpression over env for a richer failure
// message; "" when it is unset or yields no text.
func errorMessage(expression string, env map[string]any) string {
	if expression == "" {
		return ""
	}
	v, err := expr.Eval(expression, env)
	if err != nil {
		return ""
	}
	if s, ok := v.(string); ok && s != "" {
		return fmt.Sprintf("%q", s)
	}
	return ""
}
