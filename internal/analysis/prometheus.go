package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// DefaultPrometheusTimeout bounds a query whose metric sets no timeout, as in
// Argo Rollouts.
const DefaultPrometheusTimeout = 30 * time.Second

// MetadataResolvedPrometheusQuery is the metric result's metadata key that
// records the query as run (Argo Rollouts' key); secret values in it are
// masked.
const MetadataResolvedPrometheusQuery = "ResolvedPrometheusQuery"

// PrometheusProvider runs prometheus metrics: an instant PromQL query
// through Prometheus' HTTP API (GET /api/v1/query).
type PrometheusProvider struct {
	clients *httpClients
}

var _ MetadataProvider = (*PrometheusProvider)(nil)

// NewPrometheusProvider returns a prometheus provider sending its queries
// with client (nil: a client of its own). Metrics with insecure: true use a
// copy of the client's transport that skips TLS certificate verification.
func NewPrometheusProvider(client *http.Client) *PrometheusProvider {
	return &PrometheusProvider{clients: newHTTPClients(client)}
}

// MetricMetadata records the query, as Argo Rollouts does.
func (p *PrometheusProvider) MetricMetadata(metric *rolloutsapi.Metric) map[string]string {
	if pm := metric.Provider.Prometheus; pm != nil && pm.Query != "" {
		return map[string]string{MetadataResolvedPrometheusQuery: pm.Query}
	}
	return nil
}

// Measure runs the metric's query at the current time, as Argo Rollouts
// does: a vector result is the list of its sample values ([]float64, so
// conditions read result[0]; an empty vector is an empty list, on which
// result[0] is an evaluation error and len(result) == 0 holds), a scalar
// result is its number; matrix and string results are errors, as is an
// answer with status "error". The timeout (seconds) defaults to 30; 0 means
// the default too. Prometheus' warnings are recorded in the measurement's
// metadata under "warnings".
func (p *PrometheusProvider) Measure(ctx context.Context, metric *rolloutsapi.Metric) (Result, error) {
	pm := metric.Provider.Prometheus
	if pm == nil {
		return Result{}, errors.New("the metric has no prometheus provider")
	}
	if pm.RangeQuery != nil {
		return Result{}, errors.New("rangeQuery is not supported by Caravan: remove it to run an instant query, " +
			"and use a range vector selector such as [5m] in the query")
	}
	if authenticationSet(pm.Authentication) {
		return Result{}, errors.New("prometheus authentication (sigv4, oauth2) is not supported by Caravan: " +
			"send credentials in headers, with values from a Secret through args")
	}
	if pm.Address == "" {
		return Result{}, errors.New("the prometheus address is not set: set provider.prometheus.address to the server's URL, " +
			"such as http://prometheus.monitoring:9090")
	}
	base, err := url.Parse(pm.Address)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return Result{}, fmt.Errorf("the prometheus address %q is not a URL: write the server's URL, such as http://prometheus:9090", pm.Address)
	}
	if strings.TrimSpace(pm.Query) == "" {
		return Result{}, errors.New("the prometheus query is empty: set provider.prometheus.query")
	}
	timeout := DefaultPrometheusTimeout
	if pm.Timeout != nil {
		switch {
		case *pm.Timeout < 0:
			return Result{}, fmt.Errorf("the prometheus timeout is negative (%d): set a number of seconds, or remove it for 30", *pm.Timeout)
		case *pm.Timeout > 0:
			timeout = time.Duration(*pm.Timeout) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	endpoint := base.JoinPath("api", "v1", "query")
	endpoint.RawQuery = url.Values{"query": {pm.Query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint.String(), nil)
	if err != nil {
		return Result{}, fmt.Errorf("build query request to %s: %w", pm.Address, transportError(err))
	}
	for _, h := range pm.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.clients.client(pm.Insecure).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return Result{}, fmt.Errorf("query %s: no answer within %s: raise the metric's timeout, or make the query cheaper",
				pm.Address, timeout)
		}
		return Result{}, fmt.Errorf("query %s: %w", pm.Address, transportError(err))
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return Result{}, fmt.Errorf("query %s: %w", pm.Address, err)
	}
	return prometheusResult(pm.Address, resp, body)
}

// promResponse is the envelope of Prometheus' query API.
type promResponse struct {
	Status    string   `json:"status"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// promSample is [<unix time>, "<value>"].
type promSample [2]json.RawMessage

func (s promSample) value() (float64, error) {
	var text string
	if err := json.Unmarshal(s[1], &text); err != nil {
		return 0, fmt.Errorf("read sample value %s: %w", s[1], err)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("read sample value %q: not a number", text)
	}
	return f, nil
}

func prometheusResult(address string, resp *http.Response, body []byte) (Result, error) {
	var pr promResponse
	if err := json.Unmarshal(body, &pr); err != nil || pr.Status == "" {
		return Result{}, fmt.Errorf("query %s: answered %s, which is not a Prometheus query API response: "+
			"check that address is the Prometheus server's base URL", address, resp.Status)
	}
	if pr.Status != "success" {
		return Result{}, fmt.Errorf("prometheus refused the query (%s): %s", pr.ErrorType, pr.Error)
	}
	var res Result
	switch pr.Data.ResultType {
	case "vector":
		var samples []struct {
			Value promSample `json:"value"`
		}
		if err := json.Unmarshal(pr.Data.Result, &samples); err != nil {
			return Result{}, fmt.Errorf("read the vector result: %w", err)
		}
		values := make([]float64, 0, len(samples))
		texts := make([]string, 0, len(samples))
		for _, s := range samples {
			f, err := s.Value.value()
			if err != nil {
				return Result{}, err
			}
			values = append(values, f)
			texts = append(texts, formatSample(f))
		}
		res = Result{Value: values, Text: clip("[" + strings.Join(texts, ",") + "]")}
	case "scalar":
		var s promSample
		if err := json.Unmarshal(pr.Data.Result, &s); err != nil {
			return Result{}, fmt.Errorf("read the scalar result: %w", err)
		}
		f, err := s.value()
		if err != nil {
			return Result{}, err
		}
		res = Result{Value: f, Text: formatSample(f)}
	default:
		return Result{}, fmt.Errorf("the query returned a %s, but Caravan evaluates vector and scalar results: "+
			"write an instant query, without a range selector at the top level", pr.Data.ResultType)
	}
	if len(pr.Warnings) > 0 {
		quoted := make([]string, len(pr.Warnings))
		for i, w := range pr.Warnings {
			quoted[i] = strconv.Quote(w)
		}
		res.Metadata = map[string]string{"warnings": strings.Join(quoted, ", ")}
	}
	return res, nil
}

// formatSample writes a sample value as Prometheus does: 0.5, 3, NaN, +Inf.
func formatSample(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}
