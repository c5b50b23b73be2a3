package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// httpDownloadSchema is the http-download step's config schema.
const httpDownloadSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "http-download config",
  "type": "object",
  "additionalProperties": false,
  "required": ["url", "outPath"],
  "$defs": {
    "nameValue": ` + httpNameValueSchema + `
  },
  "properties": {
    "url": {"type": "string", "minLength": 1, "description": "The URL to download."},
    "outPath": {"type": "string", "minLength": 1, "description": "Where to save the file, relative to the promotion's workspace; missing directories are created."},
    "allowOverwrite": {"type": "boolean", "default": false, "description": "Replace a file already at outPath with different contents."},
    "errorExpression": {"type": "string", "description": "An expr-lang expression over response giving the message when the server answers with a non-2xx status."},
    "headers": {"type": "array", "items": {"$ref": "#/$defs/nameValue"}, "description": "Request headers."},
    "queryParams": {"type": "array", "items": {"$ref": "#/$defs/nameValue"}, "description": "Query parameters, added to the URL's and encoded."},
    "insecureSkipTLSVerify": {"type": "boolean", "description": "Do not verify the server's TLS certificate (not recommended)."},
    "timeout": {"type": "string", "pattern": "` + durationPattern + `", "description": "How long the download may take. Defaults to 5m."}
  }
}`

// http-download limits, as Kargo has them.
const (
	downloadTimeout = 5 * time.Minute
	maxDownloadSize = 100 << 20
)

type httpDownloadConfig struct {
	URL                   string           `json:"url"`
	OutPath               string           `json:"outPath"`
	AllowOverwrite        bool             `json:"allowOverwrite"`
	ErrorExpression       string           `json:"errorExpression"`
	Headers               []httpHeader     `json:"headers"`
	QueryParams           []httpQueryParam `json:"queryParams"`
	InsecureSkipTLSVerify bool             `json:"insecureSkipTLSVerify"`
	Timeout               string           `json:"timeout"`
}

// httpDownloadStep is the http-download step.
type httpDownloadStep struct {
	client stepHTTPClient
}

// NewHTTPDownload returns the http-download step, which downloads with
// client (nil: a client that refuses link-local addresses). It GETs the URL
// into outPath (at most 100 MiB) through a temporary file, so a failed
// download leaves nothing behind. A file already at outPath is replaced only
// with allowOverwrite, unless it holds the very same bytes, in which case
// the step succeeds without changing it. A 4xx answer (but 408 and 429)
// fails at once; other non-2xx answers and transport errors are step
// errors, retried as the step's retry settings allow.
func NewHTTPDownload(client *http.Client) promotion.Step {
	return httpDownloadStep{client: newStepHTTPClient(client)}
}

// Name implements promotion.Step.
func (httpDownloadStep) Name() string { return "http-download" }

// Schema implements promotion.Step.
func (httpDownloadStep) Schema() []byte { return []byte(httpDownloadSchema) }

// Run implements promotion.Step.
func (s httpDownloadStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[httpDownloadConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	timeout, err := parseDuration("timeout", cfg.Timeout, downloadTimeout)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if err := compileExpressions("errorExpression", cfg.ErrorExpression); err != nil {
		return promotion.StepResult{}, err
	}
	out, err := workspacePath(sc.WorkDir, "outPath", cfg.OutPath)
	if err != nil {
		return promotion.StepResult{}, err
	}
	fi, err := os.Stat(out)
	exists := err == nil
	switch {
	case exists && !fi.Mode().IsRegular():
		return promotion.StepResult{}, terminalf("download to %s: outPath %q is not a regular file: name a file", cfg.OutPath, cfg.OutPath)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return promotion.StepResult{}, fmt.Errorf("download to %s: %w", cfg.OutPath, relativeError(sc.WorkDir, err))
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := newStepRequest(ctx, http.MethodGet, cfg.URL, cfg.Headers, cfg.QueryParams, "")
	if err != nil {
		return promotion.StepResult{}, err
	}
	client, release, err := s.client.forRequest(cfg.InsecureSkipTLSVerify, "")
	if err != nil {
		return promotion.StepResult{}, err
	}
	defer release()
	resp, err := client.Do(req)
	if err != nil {
		return promotion.StepResult{}, sendError(http.MethodGet, cfg.URL, timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return promotion.StepResult{}, rejectedDownload(resp, cfg)
	}
	if resp.ContentLength > maxDownloadSize {
		return promotion.StepResult{}, terminalf("download %s: the file is %d bytes, more than the %d a download may have", redactURL(cfg.URL), resp.ContentLength, maxDownloadSize)
	}

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return promotion.StepResult{}, fmt.Errorf("download to %s: %w", cfg.OutPath, relativeError(sc.WorkDir, err))
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".download-*")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("download to %s: %w", cfg.OutPath, relativeError(sc.WorkDir, err))
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxDownloadSize+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return promotion.StepResult{}, fmt.Errorf("download %s: not finished within the timeout of %s: raise timeout for large files", redactURL(cfg.URL), timeout)
	case err != nil:
		return promotion.StepResult{}, fmt.Errorf("download %s: %w", redactURL(cfg.URL), relativeError(sc.WorkDir, err))
	case n > maxDownloadSize:
		return promotion.StepResult{}, terminalf("download %s: the file is larger than the %d bytes a download may have", redactURL(cfg.URL), maxDownloadSize)
	}
	if exists {
		if same, _ := sameContents(tmp.Name(), out); same {
			return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
		}
		if !cfg.AllowOverwrite {
			return promotion.StepResult{}, terminalf("download to %s: a different file is already there: set allowOverwrite: true to replace it", cfg.OutPath)
		}
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return promotion.StepResult{}, fmt.Errorf("download to %s: %w", cfg.OutPath, relativeError(sc.WorkDir, err))
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return promotion.StepResult{}, fmt.Errorf("download to %s: %w", cfg.OutPath, relativeError(sc.WorkDir, err))
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
}

// rejectedDownload describes a non-2xx answer: a client error other than a
// timeout or rate limit is terminal, anything else may pass on a retry.
func rejectedDownload(resp *http.Response, cfg httpDownloadConfig) error {
	msg := fmt.Sprintf("download %s: HTTP request failed with status %d", redactURL(cfg.URL), resp.StatusCode)
	if env, err := responseEnv(resp, "", maxHTTPResponseBody); err == nil {
		if detail := errorMessage(cfg.ErrorExpression, env); detail != "" {
			msg += ": " + detail
		}
	}
	err := errors.New(msg)
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return retry.Terminal(err)
	}
	return err
}
