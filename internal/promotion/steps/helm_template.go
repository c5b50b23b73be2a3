package steps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/strvals"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// helmTemplateSchema is the config of helm-template, with Kargo's keys.
const helmTemplateSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "helm-template config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "outPath", "releaseName"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "The chart: a directory (or .tgz archive) relative to the workspace."
    },
    "outPath": {
      "type": "string",
      "minLength": 1,
      "description": "Where to write the manifests: a file when it ends in .yaml or .yml, else a directory laid out as outLayout says."
    },
    "outLayout": {
      "type": "string",
      "enum": ["helm", "flat"],
      "description": "Layout in a directory outPath: helm (default) writes <chart>/templates/... as helm template --output-dir does; flat writes one file per resource."
    },
    "releaseName": {"type": "string", "minLength": 1, "description": "The release name the chart is rendered with."},
    "useReleaseName": {
      "type": "boolean",
      "description": "With the helm layout, put the files under outPath/<releaseName>/ (as helm template --release-name)."
    },
    "namespace": {"type": "string", "description": "The release namespace; the project's name when left out."},
    "valuesFiles": {
      "type": "array",
      "description": "Values files, relative to the workspace, merged in order.",
      "items": {"type": "string", "minLength": 1}
    },
    "setValues": {
      "type": "array",
      "description": "Values set as with helm --set (or --set-literal when literal), after the values files, in order.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["key", "value"],
        "properties": {
          "key": {"type": "string", "minLength": 1, "description": "Dotted key, e.g. image.tag."},
          "value": {"type": "string"},
          "literal": {"type": "boolean", "description": "Take value as a literal string (--set-literal)."}
        }
      }
    },
    "buildDependencies": {
      "type": "boolean",
      "description": "Fetch the chart's dependencies into charts/ first, from Chart.lock (or resolving Chart.yaml when there is no Chart.lock)."
    },
    "includeCRDs": {"type": "boolean", "description": "Include the chart's CRDs (crds/) in the output."},
    "disableHooks": {"type": "boolean", "description": "Leave hooks out of the output."},
    "skipTests": {"type": "boolean", "description": "Leave test hooks out of the output."},
    "kubeVersion": {"type": "string", "description": "Kubernetes version the chart sees (.Capabilities.KubeVersion)."},
    "apiVersions": {
      "type": "array",
      "description": "Extra API versions the chart sees (.Capabilities.APIVersions).",
      "items": {"type": "string", "minLength": 1}
    }
  }
}`

// HelmTemplate is the helm-template step: it renders a chart in-process
// with the Helm 4 SDK, client-side only (no cluster), and writes the
// manifests as `helm template` would. It has no output.
type HelmTemplate struct {
	deps *helmDependencies
}

var _ promotion.Step = (*HelmTemplate)(nil)

// NewHelmTemplate returns the helm-template step. creds and httpClient are
// used only with buildDependencies, to fetch the chart's dependencies
// (helm credentials of the project; nil httpClient means a default client).
func NewHelmTemplate(creds discovery.CredentialsLookup, httpClient *http.Client) *HelmTemplate {
	return &HelmTemplate{deps: newHelmDependencies(creds, httpClient)}
}

// Name returns "helm-template".
func (*HelmTemplate) Name() string { return "helm-template" }

// Schema returns the JSON schema of the step's config.
func (*HelmTemplate) Schema() []byte { return []byte(helmTemplateSchema) }

type helmTemplateConfig struct {
	Path           string   `json:"path"`
	OutPath        string   `json:"outPath"`
	OutLayout      string   `json:"outLayout"`
	ReleaseName    string   `json:"releaseName"`
	UseReleaseName bool     `json:"useReleaseName"`
	Namespace      string   `json:"namespace"`
	ValuesFiles    []string `json:"valuesFiles"`
	SetValues      []struct {
		Key     string `json:"key"`
		Value   string `json:"value"`
		Literal bool   `json:"literal"`
	} `json:"setValues"`
	BuildDependencies bool     `json:"buildDependencies"`
	IncludeCRDs       bool     `json:"includeCRDs"`
	DisableHooks      bool     `json:"disableHooks"`
	SkipTests         bool     `json:"skipTests"`
	KubeVersion       string   `json:"kubeVersion"`
	APIVersions       []string `json:"apiVersions"`
}

// Run renders the chart and writes the manifests.
func (s *HelmTemplate) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	var cfg helmTemplateConfig
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("decode helm-template config: %w", err))
	}
	chartPath, err := promotion.SecurePath(sc.WorkDir, cfg.Path)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("path: %w", err))
	}
	if _, err := os.Stat(chartPath); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("path: chart %s does not exist in the workspace: "+
			"check path (and that an earlier step, such as git-clone, put it there)", cfg.Path))
	}
	if _, err := promotion.SecurePath(sc.WorkDir, cfg.OutPath); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("outPath: %w", err))
	}
	vals, err := helmComposeValues(sc.WorkDir, cfg)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	install, err := helmNewInstall(cfg, sc)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	if cfg.BuildDependencies {
		if err := s.deps.build(ctx, sc, chartPath, cfg.Path); err != nil {
			return promotion.StepResult{}, fmt.Errorf("build dependencies of %s: %w", cfg.Path, err)
		}
	}
	ch, err := helmLoadChart(sc.WorkDir, chartPath, cfg.Path)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		if ctx.Err() != nil {
			return promotion.StepResult{}, fmt.Errorf("render chart %s: %w", cfg.Path, ctx.Err())
		}
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("render chart %s: %w", cfg.Path, khScrubPaths(err, sc.WorkDir)))
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("render chart %s: unexpected release type %T", cfg.Path, rel))
	}
	files, single, err := helmOutputFiles(cfg, ch.Name(), r)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("lay out manifests of %s: %w", cfg.Path, err))
	}
	written, err := khWriteOutput(sc.WorkDir, cfg.OutPath, single, files)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("write manifests to %s: %w", cfg.OutPath, err)
	}
	return promotion.StepResult{
		Status: promotion.StepStatusSucceeded,
		Message: fmt.Sprintf("rendered chart %s %s as release %s in namespace %s to %s (%d file(s) changed)",
			ch.Name(), ch.Metadata.Version, install.ReleaseName, install.Namespace, cfg.OutPath, written),
	}, nil
}

// helmComposeValues merges the values files in order, then applies
// setValues in order.
func helmComposeValues(workDir string, cfg helmTemplateConfig) (map[string]any, error) {
	vals := map[string]any{}
	for i, f := range cfg.ValuesFiles {
		field := fmt.Sprintf("valuesFiles[%d]", i)
		p, err := promotion.SecurePath(workDir, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: values file %s does not exist in the workspace: check the path", field, f)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", field, f, khScrubPaths(err, workDir))
		}
		m, err := loader.LoadValues(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not a YAML mapping of values: %w", field, f, err)
		}
		vals = loader.MergeMaps(vals, m)
	}
	for i, sv := range cfg.SetValues {
		assignment := sv.Key + "=" + sv.Value
		var err error
		if sv.Literal {
			err = strvals.ParseLiteralInto(assignment, vals)
		} else {
			err = strvals.ParseInto(assignment, vals)
		}
		if err != nil {
			return nil, fmt.Errorf("setValues[%d]: cannot set key %q: %w (without literal: true, commas, dots and brackets "+
				"follow helm --set syntax)", i, sv.Key, err)
		}
	}
	return vals, nil
}

// helmNewInstall prepares a client-side dry-run install, which is what
// `helm template` runs.
func helmNewInstall(cfg helmTemplateConfig, sc *promotion.StepContext) (*action.Install, error) {
	conf := action.NewConfiguration()
	if sc.Logger != nil {
		conf.SetLogger(sc.Logger.Handler())
	} else {
		conf.SetLogger(slog.DiscardHandler)
	}
	in := action.NewInstall(conf)
	in.DryRunStrategy = action.DryRunClient
	in.Replace = true // no release history to check names against
	in.ReleaseName = cfg.ReleaseName
	in.Namespace = cfg.Namespace
	if in.Namespace == "" {
		in.Namespace = sc.Project
	}
	in.IncludeCRDs = cfg.IncludeCRDs
	in.DisableHooks = cfg.DisableHooks
	in.APIVersions = common.VersionSet(cfg.APIVersions)
	if cfg.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(cfg.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kubeVersion: %q is not a Kubernetes version such as 1.31.0: %w", cfg.KubeVersion, err)
		}
		in.KubeVersion = kv
	}
	return in, nil
}

// helmLoadChart loads the chart at abs (a directory or an archive) after
// checking that no symlink in it leads outside the workspace, and that its
// dependencies are in charts/.
func helmLoadChart(workDir, abs, display string) (*chart.Chart, error) {
	if err := helmCheckLinks(workDir, abs); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	ch, err := loader.Load(abs)
	if err != nil {
		return nil, fmt.Errorf("path: load chart %s: %w", display, khScrubPaths(err, workDir))
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if !slices.ContainsFunc(ch.Dependencies(), func(c *chart.Chart) bool { return c.Name() == d.Name }) {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("path: chart %s depends on %s, missing from its charts/ directory: set buildDependencies: true, "+
			"or run helm-update-chart (and commit charts/) before this step", display, strings.Join(missing, ", "))
	}
	return ch, nil
}

// helmCheckLinks refuses symlinks under dir that resolve outside workDir:
// Helm follows them when it loads a chart, and would put what they point at
// into the chart's files.
func helmCheckLinks(workDir, dir string) error {
	root, err := filepath.EvalSymlinks(workDir)
	if err != nil {
		return err
	}
	return helmCheckLinksIn(root, dir, 0)
}

func helmCheckLinksIn(root, dir string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("too many levels of symlinks under %s", khRel(root, dir))
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("symlink %s is broken: remove it", khRel(root, p))
		}
		if !khWithin(root, target) {
			return fmt.Errorf("symlink %s points outside the promotion's workspace: remove it", khRel(root, p))
		}
		if fi, err := os.Stat(target); err == nil && fi.IsDir() {
			return helmCheckLinksIn(root, target, depth+1)
		}
		return nil
	})
}

// khRel shows abs relative to root, for messages.
func khRel(root, abs string) string {
	if r, err := filepath.Rel(root, abs); err == nil && khWithin(root, abs) {
		return "./" + filepath.ToSlash(r)
	}
	return filepath.Base(abs)
}

// khScrubPaths replaces the workspace's absolute path in err's message by
// ".", so that messages show paths as the config names them.
func khScrubPaths(err error, workDir string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := msg
	roots := []string{workDir}
	if r, e := filepath.EvalSymlinks(workDir); e == nil && r != workDir {
		roots = append(roots, r)
	}
	for _, r := range roots {
		out = strings.ReplaceAll(out, r+string(filepath.Separator), "./")
		out = strings.ReplaceAll(out, r, ".")
	}
	if out == msg {
		return err
	}
	return &khScrubbedError{msg: out, err: err}
}

// khScrubbedError is an error with a rewritten message.
type khScrubbedError struct {
	msg string
	err error
}

func (e *khScrubbedError) Error() string { return e.msg }
func (e *khScrubbedError) Unwrap() error { return e.err }

// helmDoc is one rendered document and the template it came from.
type helmDoc struct {
	source string
	text   string // "---\n# Source: <source>\n<content>\n"
}

// helmSourceMarker starts each document in a release's manifest.
const helmSourceMarker = "---\n# Source: "

// helmSplitManifest splits a rendered manifest into its documents.
func helmSplitManifest(manifest string) []helmDoc {
	var starts []int
	for i := 0; i < len(manifest); {
		j := strings.Index(manifest[i:], helmSourceMarker)
		if j < 0 {
			break
		}
		if at := i + j; at == 0 || manifest[at-1] == '\n' {
			starts = append(starts, at)
		}
		i += j + len(helmSourceMarker)
	}
	docs := make([]helmDoc, 0, len(starts))
	for k, at := range starts {
		end := len(manifest)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		text := manifest[at:end]
		header, _, _ := strings.Cut(text[len(helmSourceMarker):], "\n")
		docs = append(docs, helmDoc{source: header, text: text})
	}
	return docs
}

// helmOutputFiles lays the release out as cfg asks: one file (key ""), the
// helm layout (template paths under outPath, or outPath/<release>), or the
// flat layout (one file per resource).
func helmOutputFiles(cfg helmTemplateConfig, chartName string, r *release.Release) (map[string][]byte, bool, error) {
	docs := helmSplitManifest(r.Manifest)
	var hooks []helmDoc
	if !cfg.DisableHooks {
		for _, h := range r.Hooks {
			if cfg.SkipTests && slices.Contains(h.Events, release.HookTest) {
				continue
			}
			hooks = append(hooks, helmDoc{source: h.Path, text: helmSourceMarker + h.Path + "\n" + h.Manifest + "\n"})
		}
	}
	if khOutPathIsFile(cfg.OutPath) {
		var b strings.Builder
		b.WriteString(strings.TrimSpace(r.Manifest) + "\n")
		for _, h := range hooks {
			b.WriteString(h.text)
		}
		return map[string][]byte{"": []byte(b.String())}, true, nil
	}
	files := map[string][]byte{}
	if cfg.OutLayout == "flat" {
		var all strings.Builder
		for _, d := range slices.Concat(docs, hooks) {
			all.WriteString(d.text)
		}
		if err := helmFlatFiles(all.String(), files); err != nil {
			return nil, false, err
		}
		return files, false, nil
	}
	for _, d := range slices.Concat(docs, hooks) {
		name := d.source
		if cfg.UseReleaseName {
			name = cfg.ReleaseName + "/" + name
		}
		if strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
			return nil, false, fmt.Errorf("template path %q of chart %s cannot be a file name", d.source, chartName)
		}
		files[name] = append(files[name], d.text...)
	}
	return files, false, nil
}

// helmFlatFiles splits manifests into YAML documents and names a file after
// each resource: [group-]kind[-namespace]-name.yaml in lowercase, dots of
// the group turned into underscores, as Kargo does.
func helmFlatFiles(manifests string, files map[string][]byte) error {
	reader := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	unnamed := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read rendered YAML: %w", err)
		}
		doc = bytes.TrimSpace(doc)
		if len(doc) == 0 || helmOnlyComments(doc) {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		_ = yaml.Unmarshal(doc, &meta) // a document that is not an object gets a numbered name
		name := ""
		if meta.Kind != "" && meta.Metadata.Name != "" {
			name = meta.Kind
			if group, _, ok := strings.Cut(meta.APIVersion, "/"); ok && strings.Contains(meta.APIVersion, "/") {
				name = strings.ReplaceAll(group, ".", "_") + "-" + name
			}
			if meta.Metadata.Namespace != "" {
				name += "-" + meta.Metadata.Namespace
			}
			name = strings.ToLower(name + "-" + meta.Metadata.Name + ".yaml")
		}
		if name == "" || strings.ContainsAny(name, `/\`) {
			name = fmt.Sprintf("resource-%d.yaml", unnamed)
			unnamed++
		}
		if _, dup := files[name]; dup {
			return fmt.Errorf("two resources would both be written to %s: the chart renders the same resource twice", name)
		}
		files[name] = append(doc, '\n')
	}
}

// helmOnlyComments reports whether a YAML document holds only comments.
func helmOnlyComments(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}
