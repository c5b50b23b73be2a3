package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	kustypes "sigs.k8s.io/kustomize/api/types"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// kustomizeBuildSchema is the config of kustomize-build, with Kargo's keys.
const kustomizeBuildSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "kustomize-build config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path", "outPath"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "Directory holding the kustomization.yaml to build, relative to the workspace."
    },
    "outPath": {
      "type": "string",
      "minLength": 1,
      "description": "Where to write the manifests: a file when it ends in .yaml or .yml, else a directory with one file per resource."
    },
    "outputFormat": {
      "type": "string",
      "enum": ["kargo", "kustomize"],
      "description": "File names in a directory outPath: kargo (default) [namespace-]kind-name.yaml; kustomize as kustomize build -o: [namespace_]group_version_kind_name.yaml."
    },
    "plugin": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "helm": {
          "type": "object",
          "additionalProperties": false,
          "description": "Settings for kustomize's helmCharts inflation (which runs the helm command).",
          "properties": {
            "apiVersions": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "kubeVersion": {"type": "string"}
          }
        }
      }
    }
  }
}`

// kustomizeBuildMu runs one build at a time: kustomize keeps the OpenAPI
// schema of a build in a package variable, so concurrent builds can
// corrupt each other (kubernetes-sigs/kustomize#3659).
var kustomizeBuildMu sync.Mutex

// KustomizeBuild is the kustomize-build step: it renders a kustomization
// in-process (kustomize's krusty API, no kustomize binary) and writes the
// manifests to a file, or to a directory with one file per resource. Every
// file a build reads must lie inside the promotion's workspace. It has no
// output.
type KustomizeBuild struct{}

var _ promotion.Step = (*KustomizeBuild)(nil)

// NewKustomizeBuild returns the kustomize-build step.
func NewKustomizeBuild() *KustomizeBuild { return &KustomizeBuild{} }

// Name returns "kustomize-build".
func (*KustomizeBuild) Name() string { return "kustomize-build" }

// Schema returns the JSON schema of the step's config.
func (*KustomizeBuild) Schema() []byte { return []byte(kustomizeBuildSchema) }

type kustomizeBuildConfig struct {
	Path         string `json:"path"`
	OutPath      string `json:"outPath"`
	OutputFormat string `json:"outputFormat"`
	Plugin       struct {
		Helm struct {
			APIVersions []string `json:"apiVersions"`
			KubeVersion string   `json:"kubeVersion"`
		} `json:"helm"`
	} `json:"plugin"`
}

// Run builds the kustomization and writes the manifests.
func (s *KustomizeBuild) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	var cfg kustomizeBuildConfig
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("decode kustomize-build config: %w", err))
	}
	dir, err := promotion.SecurePath(sc.WorkDir, cfg.Path)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("path: %w", err))
	}
	if _, err := promotion.SecurePath(sc.WorkDir, cfg.OutPath); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("outPath: %w", err))
	}
	if _, err := kustomizeFindFile(sc.WorkDir, cfg.Path); err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	rm, err := kustomizeRun(sc.WorkDir, dir, cfg)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("build %s: %w", cfg.Path, err))
	}
	files, err := kustomizeOutputFiles(rm, khOutPathIsFile(cfg.OutPath), cfg.OutputFormat)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("build %s: %w", cfg.Path, err))
	}
	written, err := khWriteOutput(sc.WorkDir, cfg.OutPath, khOutPathIsFile(cfg.OutPath), files)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("write manifests to %s: %w", cfg.OutPath, err)
	}
	return promotion.StepResult{
		Status:  promotion.StepStatusSucceeded,
		Message: fmt.Sprintf("rendered %d resource(s) to %s (%d file(s) changed)", rm.Size(), cfg.OutPath, written),
	}, nil
}

// kustomizeRun builds the kustomization in dir on the workspace-confined
// filesystem.
func kustomizeRun(workDir, dir string, cfg kustomizeBuildConfig) (rm resmap.ResMap, err error) {
	fsys, err := newKustomizeFS(workDir)
	if err != nil {
		return nil, err
	}
	plugins := kustypes.DisabledPluginConfig()
	plugins.HelmConfig.Enabled = true
	plugins.HelmConfig.Command = "helm"
	plugins.HelmConfig.ApiVersions = cfg.Plugin.Helm.APIVersions
	plugins.HelmConfig.KubeVersion = cfg.Plugin.Helm.KubeVersion
	k := krusty.MakeKustomizer(&krusty.Options{
		// The filesystem confines every read to the workspace, so a
		// kustomization may use files from anywhere inside it.
		LoadRestrictions: kustypes.LoadRestrictionsNone,
		PluginConfig:     plugins,
	})

	kustomizeBuildMu.Lock()
	defer kustomizeBuildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			rm, err = nil, fmt.Errorf("kustomize failed on this input: %v", r)
		}
	}()
	rm, err = k.Run(fsys, dir)
	if v := fsys.Violation(); v != nil {
		return nil, v
	}
	if err != nil {
		var execErr *exec.Error
		if errors.As(err, &execErr) || strings.Contains(err.Error(), `exec: "helm"`) {
			return nil, fmt.Errorf("%w: the kustomization inflates Helm charts (helmCharts), which needs the helm command on the server's PATH; "+
				"or render the chart with a helm-template step instead", err)
		}
		return nil, khScrubPaths(err, workDir)
	}
	return rm, nil
}

// khOutPathIsFile reports whether outPath names a file (it ends in .yaml
// or .yml) rather than a directory, as Kargo decides.
func khOutPathIsFile(outPath string) bool {
	ext := filepath.Ext(outPath)
	return ext == ".yaml" || ext == ".yml"
}

// kustomizeOutputFiles lays the built resources out: one file ("") holding
// all of them, or one file per resource named as format says.
func kustomizeOutputFiles(rm resmap.ResMap, single bool, format string) (map[string][]byte, error) {
	if single {
		b, err := rm.AsYaml()
		if err != nil {
			return nil, fmt.Errorf("serialize manifests: %w", err)
		}
		return map[string][]byte{"": b}, nil
	}
	multiNS := len(rm.GroupedByCurrentNamespace()) > 1
	files := map[string][]byte{}
	owner := map[string]string{}
	for _, res := range rm.Resources() {
		name, err := kustomizeFileName(res, format, multiNS)
		if err != nil {
			return nil, err
		}
		id := res.CurId().String()
		if prev, dup := owner[name]; dup {
			return nil, fmt.Errorf("resources %s and %s would both be written to %s: set outputFormat: kustomize "+
				"(its file names include the API group and version), or write to a single .yaml file", prev, id, name)
		}
		owner[name] = id
		b, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("serialize %s: %w", id, err)
		}
		files[name] = b
	}
	return files, nil
}

// kustomizeFileName names the file of one resource: Kargo's
// [namespace-]kind-name.yaml, or kustomize build -o's
// [namespace_]group_version_kind_name.yaml (namespace only when the
// resources span several), all in lowercase.
func kustomizeFileName(res *resource.Resource, format string, multiNS bool) (string, error) {
	name, ns := res.GetName(), res.GetNamespace()
	for _, part := range []string{name, ns, res.GetKind()} {
		if strings.ContainsAny(part, `/\`) || part == ".." {
			return "", fmt.Errorf("resource %s has a name, namespace or kind (%q) that cannot be a file name: "+
				"write to a single .yaml file instead", res.CurId(), part)
		}
	}
	var file string
	if format == "kustomize" {
		file = res.GetGvk().StringWoEmptyField() + "_" + name + ".yaml"
		if multiNS && ns != "" {
			file = ns + "_" + file
		}
	} else {
		file = res.GetKind() + "-" + name + ".yaml"
		if ns != "" {
			file = ns + "-" + file
		}
	}
	return strings.ToLower(file), nil
}

// khWriteOutput writes rendered manifests: files[""] to outPath when
// single, else each file into the directory outPath. Paths are relative to
// the workspace and confined to it. A file whose content is already there is
// left alone. It returns the number of files written.
func khWriteOutput(workDir, outPath string, single bool, files map[string][]byte) (int, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	written := 0
	for _, n := range names {
		rel := outPath
		if !single {
			rel = filepath.Join(outPath, filepath.FromSlash(n))
			if !khWithin(filepath.Clean(outPath), rel) {
				return written, fmt.Errorf("file name %q leads outside %s", n, outPath)
			}
		}
		p, err := promotion.SecurePath(workDir, rel)
		if err != nil {
			return written, err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		w, err := khWriteIfChanged(p, files[n])
		if err != nil {
			return written, err
		}
		written += w
	}
	if !single && len(files) == 0 {
		p, err := promotion.SecurePath(workDir, outPath)
		if err != nil {
			return 0, err
		}
		return 0, os.MkdirAll(p, 0o755)
	}
	return written, nil
}

// khWriteIfChanged writes data to path unless path already holds exactly
// data; it returns 1 when it wrote.
func khWriteIfChanged(path string, data []byte) (int, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return 0, nil
	}
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s exists and is not a regular file: remove it first (for example with git-clear)", filepath.Base(path))
	}
	if err := khWriteFile(path, data); err != nil {
		return 0, err
	}
	return 1, nil
}
