package steps

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/caravan-dev/caravan/internal/expr"
	"github.com/caravan-dev/caravan/internal/promotion"
)

// httpSchema is the http step's config schema.
const httpSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "http config",
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "$defs": {
    "nameValue": ` + httpNameValueSchema + `
  },
  "properties": {
    "method": {
      "type": "string",
      "pattern": "^(DELETE|GET|HEAD|OPTIONS|PATCH|POST|PUT)$",
      "description": "The request method. Defaults to GET."
    },
    "url": {"type": "string", "minLength": 1, "description": "The URL to send the request to."},
    "headers": {"type": "array", "items": {"$ref": "#/$defs/nameValue"}, "description": "Request headers."},
    "queryParams": {"type": "array", "items": {"$ref": "#/$defs/nameValue"}, "description": "Query parameters, added to the URL's and encoded."},
    "body": {"type": "string", "description": "The request body; use quote() to send a JSON object."},
    "insecureSkipTLSVerify": {"type": "boolean", "description": "Do not verify the server's TLS certificate (not recommended)."},
    "proxy": {"type": "string", "pattern": "^https?://", "description": "The proxy to send the request through, instead of the environment's."},
    "timeout": {"type": "string", "pattern": "` + durationPattern + `", "description": "How long one request may take. Defaults to 10s."},
    "pollInterval": {"type": "string", "pattern": "` + durationPattern + `", "description": "How long to wait before asking again while neither expression is met. Defaults to 30s; at least 10s."},
    "responseContentType": {
      "type": "string",
      "pattern": "^(application/json|application/yaml|text/plain)$",
      "description": "How to parse the response body, overriding its Content-Type."
    },
    "successExpression": {"type": "string", "description": "An expr-lang expression over response, without ${{ }}: the step succeeds when it is true."},
    "failureExpression": {"type": "string", "description": "An expr-lang expression over response, without ${{ }}: the step fails when it is true (this wins over success)."},
    "errorExpression": {"type": "string", "description": "An expr-lang expression over response giving the message when failureExpression is met."},
    "outputs": {
      "type": "array",
      "description": "Outputs to extract from a successful response.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "fromExpression"],
        "properties": {
          "name": {"type": "string", "minLength": 1},
          "fromExpression": {"type": "string", "minLength": 1, "description": "An expr-lang expression over response, without ${{ }}."}
        }
      }
    }
  }
}`

// HTTP step defaults, as Kargo has them.
const (
	httpTimeout         = 10 * time.Second
	httpPollInterval    = 30 * time.Second
	httpMinPollInterval = 10 * time.Second
	maxHTTPResponseBody = 2 << 20
)

type httpConfig struct {
	Method                string           `json:"method"`
	URL                   string           `json:"url"`
	Headers               []httpHeader     `json:"headers"`
	QueryParams           []httpQueryParam `json:"queryParams"`
	Body                  string           `json:"body"`
	InsecureSkipTLSVerify bool             `json:"insecureSkipTLSVerify"`
	Proxy                 string           `json:"proxy"`
	Timeout               string           `json:"timeout"`
	PollInterval          string           `json:"pollInterval"`
	ResponseContentType   string           `json:"responseContentType"`
	SuccessExpression     string           `json:"successExpression"`
	FailureExpression     string           `json:"failureExpression"`
	ErrorExpression       string           `json:"errorExpression"`
	Outputs               []outputRule     `json:"outputs"`
}

// httpStep is the http step.
type httpStep struct {
	client stepHTTPClient
}

// NewHTTP returns the http step, which sends its requests with client (nil:
// a client that refuses link-local addresses such as cloud metadata
// services). The step sends one request and judges the response:
//
//   - failureExpression true: the step fails, with errorExpression's text
//     in the message when it gives one;
//   - else successExpression true: the step succeeds;
//   - neither expression set: a 2xx response succeeds, any other status is
//     a step error, retried as the step's retry settings allow;
//   - otherwise the step is Running and asks again after pollInterval.
//
// A request that gets no response is a step error. Outputs are computed
// from successful responses only. Messages never show header values, query
// parameters or URL credentials.
func NewHTTP(client *http.Client) promotion.Step { return httpStep{client: newStepHTTPClient(client)} }

// Name implements promotion.Step.
func (httpStep) Name() string { return "http" }

// Schema implements promotion.Step.
func (httpStep) Schema() []byte { return []byte(httpSchema) }

// Run implements promotion.Step.
func (s httpStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[httpConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	timeout, err := parseDuration("timeout", cfg.Timeout, httpTimeout)
	if err != nil {
		return promotion.StepResult{}, err
	}
	poll, err := parseDuration("pollInterval", cfg.PollInterval, httpPollInterval)
	if err != nil {
		return promotion.StepResult{}, err
	}
	poll = max(poll, httpMinPollInterval)
	if err := compileExpressions("successExpression", cfg.SuccessExpression, "failureExpression", cfg.FailureExpression,
		"errorExpression", cfg.ErrorExpression); err != nil {
		return promotion.StepResult{}, err
	}
	for i, o := range cfg.Outputs {
		if err := compileExpressions(fmt.Sprintf("outputs[%d].fromExpression", i), o.FromExpression); err != nil {
			return promotion.StepResult{}, err
		}
	}
	if len(cfg.Outputs) > 0 {
		if err := checkOutputRules(cfg.Outputs); err != nil {
			return promotion.StepResult{}, err
		}
	}
	method := cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := newStepRequest(ctx, method, cfg.URL, cfg.Headers, cfg.QueryParams, cfg.Body)
	if err != nil {
		return promotion.StepResult{}, err
	}
	client, release, err := s.client.forRequest(cfg.InsecureSkipTLSVerify, cfg.Proxy)
	if err != nil {
		return promotion.StepResult{}, err
	}
	defer release()
	resp, err := client.Do(req)
	if err != nil {
		return promotion.StepResult{}, sendError(method, cfg.URL, timeout, err)
	}
	defer resp.Body.Close()
	env, err := responseEnv(resp, cfg.ResponseContentType, maxHTTPResponseBody)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s %s answered %d: %w", method, redactURL(cfg.URL), resp.StatusCode, err)
	}
	success, err := evalCondition("successExpression", cfg.SuccessExpression, env)
	if err != nil {
		return promotion.StepResult{}, err
	}
	failure, err := evalCondition("failureExpression", cfg.FailureExpression, env)
	if err != nil {
		return promotion.StepResult{}, err
	}
	switch {
	case failure != nil && *failure:
		msg := fmt.Sprintf("HTTP (%d) response met failure criteria", resp.StatusCode)
		if detail := errorMessage(cfg.ErrorExpression, env); detail != "" {
			msg += ": " + detail
		}
		return promotion.StepResult{Status: promotion.StepStatusFailed, Message: msg}, nil
	case success != nil && *success, success == nil && failure == nil && resp.StatusCode/100 == 2:
		out, err := evalOutputs(cfg.Outputs, env)
		if err != nil {
			return promotion.StepResult{}, fmt.Errorf("extract outputs from the HTTP (%d) response: %w", resp.StatusCode, err)
		}
		return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: out}, nil
	case success == nil && failure == nil:
		return promotion.StepResult{}, fmt.Errorf("%s %s answered %d %s: set successExpression or failureExpression to judge such responses yourself",
			method, redactURL(cfg.URL), resp.StatusCode, http.StatusText(resp.StatusCode))
	default:
		return promotion.StepResult{
			Status:     promotion.StepStatusRunning,
			RetryAfter: poll,
			Message:    fmt.Sprintf("waiting: the HTTP (%d) response met neither the success nor the failure criteria; asking again in %s", resp.StatusCode, poll),
		}, nil
	}
}

// evalCondition evaluates a success or failure expression; nil when it is
// not set.
func evalCondition(field, expression string, env map[string]any) (*bool, error) {
	if expression == "" {
		return nil, nil
	}
	v, err := expr.Eval(expression, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	b, ok := v.(bool)
	if !ok {
		return nil, terminalf("%s %q: gives %T, not true or false: write a comparison, such as response.status == 200", field, expression, v)
	}
	return &b, nil
}
