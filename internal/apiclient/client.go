// Package apiclient is the small typed HTTP client the caravan CLI uses to
// talk to a Caravan server's Kubernetes-shaped REST API. Objects travel as
// *unstructured.Unstructured; error responses carrying a Kubernetes Status
// become apimachinery StatusErrors, so callers see the server's own message
// and can test errors with apierrors.IsNotFound and friends.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// ApplyPath is where the server takes multi-document manifests.
const ApplyPath = "/caravan/v1/apply"

// maxErrorBody bounds how much of a non-Status error body is kept in an error.
const maxErrorBody = 4 << 10

// Config says where the server is and how to authenticate.
type Config struct {
	// Server is the base URL, e.g. "http://127.0.0.1:8080".
	Server string
	// Token is the bearer token sent with every request; empty sends none.
	Token string
	// HTTPClient is used for requests; nil means a client without timeout
	// (watches are long-lived; callers bound requests with their context).
	HTTPClient *http.Client
}

// Client talks to one Caravan server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Server, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse server URL %q: %w", cfg.Server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://HOST:PORT or https://HOST:PORT", cfg.Server)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, token: cfg.Token, http: hc}, nil
}

// Server returns the base URL the client talks to.
func (c *Client) Server() string { return c.base.String() }

// ListOptions select objects in List and Watch.
type ListOptions struct {
	// LabelSelector in Kubernetes syntax, e.g. "app=shop,tier!=db".
	LabelSelector string
	// FieldSelector in Kubernetes syntax, e.g. "spec.stage=uat".
	FieldSelector string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	return q
}

// Path returns the REST path of kind in namespace, naming name when it is not
// empty: /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME], or /api/v1/...
// for the core group. Cluster-scoped kinds ignore namespace; a namespaced kind
// with an empty namespace addresses every namespace.
func Path(info *kinds.Info, namespace, name string) string {
	var b strings.Builder
	if info.Group == "" {
		b.WriteString("/api/" + info.Version)
	} else {
		b.WriteString("/apis/" + info.Group + "/" + info.Version)
	}
	if info.Namespaced && namespace != "" {
		b.WriteString("/namespaces/" + url.PathEscape(namespace))
	}
	b.WriteString("/" + info.Resource)
	if name != "" {
		b.WriteString("/" + url.PathEscape(name))
	}
	return b.String()
}

// Get returns one object.
func (c *Client) Get(ctx context.Context, info *kinds.Info, namespace, name string) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := c.do(ctx, http.MethodGet, Path(info, namespace, name), nil, "", nil, &obj.Object); err != nil {
		return nil, err
	}
	return obj, nil
}

// List returns the objects of a kind in namespace ("" for every namespace or
// for cluster-scoped kinds).
func (c *Client) List(ctx context.Context, info *kinds.Info, namespace string, opts ListOptions) (*unstructured.UnstructuredList, error) {
	var wire struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Metadata   map[string]any   `json:"metadata"`
		Items      []map[string]any `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, Path(info, namespace, ""), opts.query(), "", nil, &wire); err != nil {
		return nil, err
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{
		"apiVersion": wire.APIVersion, "kind": wire.Kind,
	}}
	if wire.Metadata != nil {
		list.Object["metadata"] = wire.Metadata
	}
	list.Items = make([]unstructured.Unstructured, len(wire.Items))
	for i, it := range wire.Items {
		u := unstructured.Unstructured{Object: it}
		if u.GetKind() == "" {
			u.SetAPIVersion(info.APIVersion())
			u.SetKind(info.Kind)
		}
		list.Items[i] = u
	}
	return list, nil
}

// Create creates obj, whose apiVersion and kind name a known kind.
func (c *Client) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	info, err := infoOf(obj)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, http.MethodPost, Path(info, obj.GetNamespace(), ""), "application/json", obj)
}

// Update replaces obj (its metadata.resourceVersion, when set, must match).
func (c *Client) Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	info, err := infoOf(obj)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, http.MethodPut, Path(info, obj.GetNamespace(), obj.GetName()), "application/json", obj)
}

// UpdateStatus replaces obj's status through the /status subresource.
func (c *Client) UpdateStatus(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	info, err := infoOf(obj)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, http.MethodPut, Path(info, obj.GetNamespace(), obj.GetName())+"/status", "application/json", obj)
}

// Patch applies a JSON merge patch (RFC 7386) to one object.
func (c *Client) Patch(ctx context.Context, info *kinds.Info, namespace, name string, patch []byte) (*unstructured.Unstructured, error) {
	out := &unstructured.Unstructured{}
	err := c.do(ctx, http.MethodPatch, Path(info, namespace, name), nil, "application/merge-patch+json", bytes.NewReader(patch), &out.Object)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete deletes one object.
func (c *Client) Delete(ctx context.Context, info *kinds.Info, namespace, name string) error {
	return c.do(ctx, http.MethodDelete, Path(info, namespace, name), nil, "", nil, nil)
}

// ApplyResult is the outcome of one applied document.
type ApplyResult struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Action is "created", "configured" or "unchanged"; empty on failure.
	Action string `json:"action,omitempty"`
	// Status is set when the document failed.
	Status *metav1.Status `json:"status,omitempty"`
}

// Err returns the document's failure as a StatusError, or nil.
func (r ApplyResult) Err() error {
	if r.Status == nil {
		return nil
	}
	return &apierrors.StatusError{ErrStatus: *r.Status}
}

// ApplyResponse is the server's answer to an apply: one result per document.
type ApplyResponse struct {
	Results []ApplyResult `json:"results"`
}

// Apply sends multi-document YAML (or JSON) manifests to the server's apply
// endpoint. A per-document failure is reported in its result, not as err.
func (c *Client) Apply(ctx context.Context, manifests []byte) (*ApplyResponse, error) {
	resp := &ApplyResponse{}
	err := c.do(ctx, http.MethodPost, ApplyPath, nil, "application/yaml", bytes.NewReader(manifests), resp)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *Client) write(ctx context.Context, method, path, contentType string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s %q: %w", obj.GetKind(), obj.GetName(), err)
	}
	out := &unstructured.Unstructured{}
	if err := c.do(ctx, method, path, nil, contentType, bytes.NewReader(body), &out.Object); err != nil {
		return nil, err
	}
	return out, nil
}

// do sends one request and decodes a 2xx JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, q, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.errorFrom(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response of %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("reach caravan server at %s: %w (is `caravan server` running? set --server or CARAVAN_SERVER)", c.base, uerr.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// errorFrom turns a non-2xx response into an error: the Status the server
// sent as a StatusError, or a StatusError built from the code and body.
func (c *Client) errorFrom(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" && (st.Message != "" || st.Reason != "") {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		if st.Message == "" {
			st.Message = string(st.Reason)
		}
		if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
			st.Message += " (no token given: pass --token or --token-file, or set CARAVAN_TOKEN)"
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > maxErrorBody {
		msg = msg[:maxErrorBody] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     int32(resp.StatusCode),
		Reason:   reasonForCode(resp.StatusCode),
		Message:  msg,
	}}
}

func reasonForCode(code int) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusUnauthorized:
		return metav1.StatusReasonUnauthorized
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusGone:
		return metav1.StatusReasonGone
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	case http.StatusTooManyRequests:
		return metav1.StatusReasonTooManyRequests
	}
	if code >= 500 {
		return metav1.StatusReasonInternalError
	}
	return metav1.StatusReasonUnknown
}

func infoOf(obj *unstructured.Unstructured) (*kinds.Info, error) {
	info := kinds.ByKind(obj.GetKind())
	if info == nil || info.APIVersion() != obj.GetAPIVersion() {
		return nil, fmt.Errorf("unknown kind %q in apiVersion %q", obj.GetKind(), obj.GetAPIVersion())
	}
	return info, nil
}
