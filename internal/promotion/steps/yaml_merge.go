package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// yamlMergeSchema is the yaml-merge step's config schema.
const yamlMergeSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "yaml-merge config",
  "type": "object",
  "additionalProperties": false,
  "required": ["inFiles", "outFile"],
  "properties": {
    "inFiles": {
      "type": "array",
      "minItems": 1,
      "description": "The YAML files to merge, in order: each is laid over the ones before it.",
      "items": {"type": "string", "minLength": 1}
    },
    "outFile": {
      "type": "string",
      "minLength": 1,
      "description": "The merged file to write, relative to the promotion's workspace; it is replaced if it exists."
    },
    "ignoreMissingFiles": {
      "type": "boolean",
      "default": false,
      "description": "Skip input files that do not exist instead of failing."
    }
  }
}`

type yamlMergeConfig struct {
	InFiles            []string `json:"inFiles"`
	OutFile            string   `json:"outFile"`
	IgnoreMissingFiles bool     `json:"ignoreMissingFiles"`
}

// yamlMerge is the yaml-merge step.
type yamlMerge struct{}

// NewYAMLMerge returns the yaml-merge step: it merges the first document of
// each of its input files, in order, into one output file. Mappings merge
// key by key, recursively; anything else (scalars, sequences, null) from a
// later file replaces what came before; keys found in one file only are
// kept. Comments of the first file that holds a key stay with it; anchors
// and aliases are copied as they are. Its output commitMessage describes the
// merge, for git-commit.
func NewYAMLMerge() promotion.Step { return yamlMerge{} }

// Name implements promotion.Step.
func (yamlMerge) Name() string { return "yaml-merge" }

// Schema implements promotion.Step.
func (yamlMerge) Schema() []byte { return []byte(yamlMergeSchema) }

// Run implements promotion.Step.
func (s yamlMerge) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[yamlMergeConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if len(cfg.InFiles) == 0 {
		return promotion.StepResult{}, terminalf("inFiles: none given: list the YAML files to merge")
	}
	out, err := workspacePath(sc.WorkDir, "outFile", cfg.OutFile)
	if err != nil {
		return promotion.StepResult{}, err
	}
	var merged *yaml.Node
	var used []string
	for i, in := range cfg.InFiles {
		field := fmt.Sprintf("inFiles[%d]", i)
		abs, err := workspacePath(sc.WorkDir, field, in)
		if err != nil {
			return promotion.StepResult{}, err
		}
		src, err := os.ReadFile(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist) && cfg.IgnoreMissingFiles:
			continue
		case errors.Is(err, fs.ErrNotExist):
			return promotion.StepResult{}, terminalf("merge into %s: %s %q: no such file in the promotion's workspace: check the path, or set ignoreMissingFiles: true to skip missing files", cfg.OutFile, field, in)
		case err != nil:
			return promotion.StepResult{}, fmt.Errorf("merge into %s: read %s: %w", cfg.OutFile, in, relativeError(sc.WorkDir, err))
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return promotion.StepResult{}, terminalf("merge into %s: %s %q: parse the file as YAML: %v: fix the file", cfg.OutFile, field, in, err)
		}
		used = append(used, in)
		if len(doc.Content) == 0 {
			continue // an empty file adds nothing
		}
		merged = mergeYAMLNodes(merged, doc.Content[0])
	}
	var data []byte
	if merged != nil {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(merged); err != nil {
			return promotion.StepResult{}, terminalf("merge into %s: write the merged YAML: %v", cfg.OutFile, err)
		}
		if err := enc.Close(); err != nil {
			return promotion.StepResult{}, terminalf("merge into %s: write the merged YAML: %v", cfg.OutFile, err)
		}
		data = buf.Bytes()
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return promotion.StepResult{}, terminalf("merge into %s: outFile %q is a directory: name a file", cfg.OutFile, cfg.OutFile)
	}
	if _, err := writeFileIfChanged(out, data); err != nil {
		return promotion.StepResult{}, fmt.Errorf("merge into %s: %w", cfg.OutFile, relativeError(sc.WorkDir, err))
	}
	return promotion.StepResult{
		Status: promotion.StepStatusSucceeded,
		Output: map[string]any{"commitMessage": mergeCommitMessage(cfg.OutFile, used)},
	}, nil
}

// mergeYAMLNodes lays over on base. Two mappings merge key by key; in every
// other case over replaces base.
func mergeYAMLNodes(base, over *yaml.Node) *yaml.Node {
	if base == nil || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	merged := *base
	merged.Content = make([]*yaml.Node, 0, len(base.Content)+len(over.Content))
	overIndex := make(map[string]int, len(over.Content)/2)
	for i := 0; i+1 < len(over.Content); i += 2 {
		overIndex[over.Content[i].Value] = i
	}
	seen := make(map[string]bool, len(base.Content)/2)
	for i := 0; i+1 < len(base.Content); i += 2 {
		key, value := base.Content[i], base.Content[i+1]
		seen[key.Value] = true
		if j, ok := overIndex[key.Value]; ok {
			value = mergeYAMLNodes(value, over.Content[j+1])
		}
		merged.Content = append(merged.Content, key, value)
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		if !seen[over.Content[i].Value] {
			merged.Content = append(merged.Content, over.Content[i], over.Content[i+1])
		}
	}
	return &merged
}

// mergeCommitMessage describes a merge for git-commit.
func mergeCommitMessage(out string, files []string) string {
	if len(files) == 0 {
		return fmt.Sprintf("Merged no YAML files into %s", out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Merged YAML files into %s\n", out)
	for _, f := range files {
		fmt.Fprintf(&b, "\n- %s", f)
	}
	return b.String()
}
