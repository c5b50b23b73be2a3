package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// WebProvider runs web metrics: an HTTP request whose JSON response holds
// the result.
type WebProvider struct {
	clients *httpClients
}

var _ Provider = (*WebProvider)(nil)

// NewWebProvider returns a web provider sending its requests with client
// (nil: a client of its own). Metrics with insecure: true use a copy of the
// client's transport that skips TLS certificate verification.
func NewWebProvider(client *http.Client) *WebProvider {
	return &WebProvider{clients: newHTTPClients(client)}
}

// Measure calls the metric's URL, as Argo Rollouts does:
//
//   - method GET unless set; body or jsonBody (sent with Content-Type:
//     application/json) only with POST or PUT; headers as given;
//   - at most timeoutSeconds (default 10) for the whole exchange;
//   - a status outside 2xx is an error;
//   - the result is the value jsonPath (Kubernetes JSONPath, {$.p99})
//     selects from the JSON response, the whole response without jsonPath;
//     a response that is not JSON is the result as a string when no
//     jsonPath is set (Argo Rollouts records it as Successful without
//     evaluating the conditions; Caravan evaluates them over the string).
func (p *WebProvider) Measure(ctx context.Context, metric *rolloutsapi.Metric) (Result, error) {
	w := metric.Provider.Web
	if w == nil {
		return Result{}, errors.New("the metric has no web provider")
	}
	if w.Authentication != nil && authenticationSet(*w.Authentication) {
		return Result{}, errors.New("web authentication (sigv4, oauth2) is not supported by Caravan: " +
			"send credentials in headers, with values from a Secret through args")
	}
	method := string(w.Method)
	if method == "" {
		method = http.MethodGet
	}
	hasJSONBody := w.JSONBody != nil && len(w.JSONBody.Raw) > 0
	var body io.Reader
	switch {
	case w.Body != "" && hasJSONBody:
		return Result{}, errors.New("body and jsonBody are both set: keep one")
	case (w.Body != "" || hasJSONBody) && method == http.MethodGet:
		return Result{}, errors.New("a request body is sent only with POST or PUT: set method, or remove the body")
	case w.Body != "":
		body = strings.NewReader(w.Body)
	case hasJSONBody:
		body = bytes.NewReader(w.JSONBody.Raw)
	}
	timeout := time.Duration(w.TimeoutSeconds) * time.Second
	if w.TimeoutSeconds <= 0 {
		timeout = rolloutsapi.DefaultWebTimeoutSeconds * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, method, w.URL, body)
	if err != nil {
		return Result{}, fmt.Errorf("build request %s %s: %w", method, w.URL, transportError(err))
	}
	for _, h := range w.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	if hasJSONBody {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.clients.client(w.Insecure).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return Result{}, fmt.Errorf("%s %s: no response within %s: raise timeoutSeconds, or check the endpoint",
				method, w.URL, timeout)
		}
		return Result{}, fmt.Errorf("%s %s: %w", method, w.URL, transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return Result{}, fmt.Errorf("%s %s answered %s: the endpoint must answer with a 2xx status", method, w.URL, resp.Status)
	}
	data, err := readBody(resp)
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", method, w.URL, err)
	}
	return webResult(data, w.JSONPath)
}

// webResult selects the result from a response body.
func webResult(data []byte, path string) (Result, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		if path != "" {
			return Result{}, fmt.Errorf("the response is not JSON (%v), so jsonPath %s cannot select from it: "+
				"call an endpoint that answers JSON, or remove jsonPath", err, path)
		}
		return Result{Value: string(data), Text: clip(string(data))}, nil
	}
	if path == "" {
		path = "{$}"
	}
	jp := jsonpath.New("metric")
	if err := jp.Parse(path); err != nil {
		return Result{}, fmt.Errorf("parse jsonPath %s: %w: write it in Kubernetes JSONPath form, such as {$.data.p99}", path, err)
	}
	found, err := jp.FindResults(doc)
	if err != nil {
		return Result{}, fmt.Errorf("jsonPath %s in the response: %w: check the path against the response", path, err)
	}
	for _, values := range found {
		for _, v := range values {
			var val any
			if v.IsValid() && v.CanInterface() {
				val = v.Interface()
			}
			text, err := json.Marshal(val)
			if err != nil {
				return Result{}, fmt.Errorf("encode the value jsonPath %s selected: %w", path, err)
			}
			return Result{Value: val, Text: clip(string(text))}, nil
		}
	}
	return Result{}, fmt.Errorf("jsonPath %s selected nothing in the response: check the path against the response", path)
}

// authenticationSet reports whether a provider's authentication asks for
// something.
func authenticationSet(a rolloutsapi.Authentication) bool {
	return a.Sigv4 != (rolloutsapi.Sigv4Config{}) || a.OAuth2.TokenURL != "" || a.OAuth2.ClientID != "" ||
		a.OAuth2.ClientSecret != "" || len(a.OAuth2.Scopes) > 0
}
