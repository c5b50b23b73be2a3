package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// helmUpdateChartSchema is the config of helm-update-chart, with Kargo's
// keys.
const helmUpdateChartSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "helm-update-chart config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The umbrella chart's directory, relative to the workspace."
    },
    "charts": {
      "type": "array",
      "minItems": 1,
      "description": "Dependencies to set to a version. Leave out to only update dependencies as helm dependency update does.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["repository", "name", "version"],
        "properties": {
          "repository": {"type": "string", "minLength": 1, "description": "The dependency's repository, as Chart.yaml gives it (https://..., oci://...)."},
          "name": {"type": "string", "minLength": 1, "description": "The dependency's name, as Chart.yaml gives it."},
          "version": {"type": "string", "minLength": 1, "description": "The version to set."}
        }
      }
    }
  }
}`

// HelmUpdateChart is the helm-update-chart step: it sets the versions of
// dependencies in a chart's Chart.yaml (changing nothing else in the file),
// then does what `helm dependency update` does: resolves every dependency,
// fetches the archives into charts/ (from classic repositories and oci://,
// with the project's helm credentials) and writes Chart.lock. Its output
// commitMessage lists the dependency versions that changed in Chart.lock;
// there is none when nothing changed.
type HelmUpdateChart struct {
	deps *helmDependencies
}

var _ promotion.Step = (*HelmUpdateChart)(nil)

// NewHelmUpdateChart returns the helm-update-chart step. creds finds the
// project's helm credentials for a repository (nil: none); httpClient
// fetches from classic repositories, and its Transport talks to registries
// (nil: a default client).
func NewHelmUpdateChart(creds discovery.CredentialsLookup, httpClient *http.Client) *HelmUpdateChart {
	return &HelmUpdateChart{deps: newHelmDependencies(creds, httpClient)}
}

// Name returns "helm-update-chart".
func (*HelmUpdateChart) Name() string { return "helm-update-chart" }

// Schema returns the JSON schema of the step's config.
func (*HelmUpdateChart) Schema() []byte { return []byte(helmUpdateChartSchema) }

type helmUpdateChartConfig struct {
	Path   string `json:"path"`
	Charts []struct {
		Repository string `json:"repository"`
		Name       string `json:"name"`
		Version    string `json:"version"`
	} `json:"charts"`
}

// Run updates the chart's dependencies.
func (s *HelmUpdateChart) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	var cfg helmUpdateChartConfig
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("decode helm-update-chart config: %w", err))
	}
	chartDir, err := promotion.SecurePath(sc.WorkDir, cfg.Path)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("path: %w", err))
	}
	chartFile, err := helmChartPath(sc.WorkDir, chartDir, "Chart.yaml")
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("path: %w", err))
	}
	src, err := os.ReadFile(chartFile)
	if errors.Is(err, fs.ErrNotExist) {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("path: %s has no Chart.yaml: point path at the umbrella chart's directory "+
			"(and check that an earlier step, such as git-clone, put it there)", cfg.Path))
	}
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("read %s/Chart.yaml: %w", cfg.Path, khScrubPaths(err, sc.WorkDir))
	}
	if _, err := helmChartFile(src, cfg.Path); err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	edited, err := helmSetDependencyVersions(src, cfg)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	md, err := helmChartFile(edited, cfg.Path)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	r := &helmDepRun{d: s.deps, ctx: ctx, project: sc.Project, workDir: sc.WorkDir, chartDir: chartDir, display: cfg.Path}
	plan, err := r.update(md)
	if err != nil {
		return promotion.StepResult{}, err
	}
	// Everything is fetched: now write, Chart.yaml first.
	if !slices.Equal(edited, src) {
		if err := khWriteFile(chartFile, edited); err != nil {
			return promotion.StepResult{}, fmt.Errorf("write %s/Chart.yaml: %w", cfg.Path, khScrubPaths(err, sc.WorkDir))
		}
	}
	if _, err := r.apply(plan); err != nil {
		return promotion.StepResult{}, fmt.Errorf("update dependencies of %s: %w", cfg.Path, khScrubPaths(err, sc.WorkDir))
	}
	res := promotion.StepResult{Status: promotion.StepStatusSucceeded}
	if msg := helmCommitMessage(cfg.Path, plan.changes); msg != "" {
		res.Output = map[string]any{"commitMessage": msg}
		res.Message = fmt.Sprintf("updated %d dependencies of %s", len(plan.changes), cfg.Path)
	} else {
		res.Message = fmt.Sprintf("the dependencies of %s are up to date", cfg.Path)
	}
	return res, nil
}

// helmSetDependencyVersions sets the version of each configured chart in
// Chart.yaml's dependencies, matched by name and repository as in Kargo,
// keeping the rest of the file as it is.
func helmSetDependencyVersions(src []byte, cfg helmUpdateChartConfig) ([]byte, error) {
	if len(cfg.Charts) == 0 {
		return src, nil
	}
	e, err := khParseYAML(src)
	if err != nil {
		return nil, fmt.Errorf("%s/Chart.yaml: %w", cfg.Path, err)
	}
	deps, _ := khLookup(e.Root(), "dependencies")
	var have []string
	if deps != nil && deps.Kind == kyaml.SequenceNode {
		for _, d := range deps.Content {
			have = append(have, fmt.Sprintf("%s (%s)", khScalar(d, "name"), khScalar(d, "repository")))
		}
	}
	for i, c := range cfg.Charts {
		var item *kyaml.Node
		if deps != nil && deps.Kind == kyaml.SequenceNode {
			for _, d := range deps.Content {
				if d.Kind == kyaml.MappingNode && khScalar(d, "name") == c.Name &&
					strings.TrimSuffix(khScalar(d, "repository"), "/") == strings.TrimSuffix(c.Repository, "/") {
					item = d
					break
				}
			}
		}
		if item == nil {
			found := "it has none"
			if len(have) > 0 {
				found = "it has " + strings.Join(have, ", ")
			}
			return nil, fmt.Errorf("charts[%d]: %s/Chart.yaml has no dependency named %q from repository %q (%s): "+
				"give name and repository exactly as Chart.yaml does", i, cfg.Path, c.Name, c.Repository, found)
		}
		e.SetField(item, "version", c.Version)
	}
	return e.Bytes()
}

// helmCommitMessage describes dependency changes, in Kargo's words.
func helmCommitMessage(path string, changes map[string]string) string {
	if len(changes) == 0 {
		return ""
	}
	names := make([]string, 0, len(changes))
	for n := range changes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Updated chart dependencies for " + path + "\n")
	for _, n := range names {
		change := changes[n]
		if change == "" {
			change = "removed"
		}
		b.WriteString("\n- " + n + ": " + change)
	}
	return b.String()
}
