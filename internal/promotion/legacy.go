package promotion

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/expr"
)

// Kargo v1.0–v1.2 forms that Caravan still runs (DESIGN.md §1). The stored
// Promotion keeps them as written; the engine translates each step when it
// runs it, the same way every time, and says so in the step's message.

// Names of the steps the translations involve.
const (
	stepHelmUpdateImage = "helm-update-image"
	stepYAMLUpdate      = "yaml-update"
	stepGitCommit       = "git-commit"
	stepGitOpenPR       = "git-open-pr"
	stepGitWaitForPR    = "git-wait-for-pr"
	stepArgoCDUpdate    = "argocd-update"
)

// plannedStep is a step as the engine runs it, after legacy translation.
type plannedStep struct {
	// alias is the step's alias (its own or step-N).
	alias string
	// uses is the step to run; config its config, as written or translated.
	uses   string
	config []byte
	// notice is the deprecation notice of a translated step.
	notice string
	// convert, if set, turns the evaluated config into the config of uses
	// (helm-update-image into yaml-update).
	convert func(sc *scope, cfg []byte) ([]byte, error)
	// err is a translation error, reported when the step runs.
	err error
}

// planStep returns how step i runs.
func planStep(step *kargoapi.PromotionStep, i int) plannedStep {
	p := plannedStep{alias: StepAlias(step, i), uses: strings.TrimSpace(step.Uses), config: []byte("{}")}
	if !step.Config.IsEmpty() {
		p.config = step.Config.Raw
	}
	switch p.uses {
	case stepHelmUpdateImage:
		p.uses = stepYAMLUpdate
		p.convert = convertHelmUpdateImage
		p.notice = helmUpdateImageNotice(p.config)
	case stepGitCommit, stepGitOpenPR, stepGitWaitForPR, stepArgoCDUpdate:
		if bytes.Contains(p.config, []byte("FromStep")) {
			p.config, p.notice, p.err = rewriteFromStep(p.uses, p.alias, p.config)
		}
	}
	return p
}

// outputsRef is the expression that reads the outputs of the step with
// alias target, as seen from the step with alias from: task.outputs inside
// an inflated task, outputs elsewhere.
func outputsRef(from, target string) string {
	if ns, _ := expr.SplitAlias(from); ns != "" && !strings.Contains(target, expr.AliasSeparator) {
		return "task.outputs[" + strconv.Quote(target) + "]"
	}
	return "outputs[" + strconv.Quote(target) + "]"
}

// rewriteFromStep replaces the *FromStep keys of a step's config with the
// expressions over outputs they stand for.
func rewriteFromStep(uses, alias string, raw []byte) ([]byte, string, error) {
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg == nil {
		return raw, "", nil // not an object: the schema will say so
	}
	var notices []string
	fromStep := func(m map[string]any, legacyKey, key, field string, quote bool) error {
		v, ok := m[legacyKey]
		if !ok {
			return nil
		}
		delete(m, legacyKey)
		target, ok := v.(string)
		if !ok || target == "" {
			return fmt.Errorf("config.%s must name the alias of an earlier step, got %v", legacyKey, v)
		}
		e := outputsRef(alias, target) + "." + field
		if quote {
			e = "quote(" + e + ")"
		}
		replacement := "${{ " + e + " }}"
		if cur, set := m[key]; set && cur != "" {
			notices = append(notices, fmt.Sprintf("%s is deprecated and was ignored because %s is set: remove it", legacyKey, key))
			return nil
		}
		m[key] = replacement
		notices = append(notices, fmt.Sprintf("%s is deprecated: write %s: ${{ %s.%s }} instead", legacyKey, key, outputsRef(alias, target), field))
		return nil
	}
	var err error
	switch uses {
	case stepGitCommit:
		err = rewriteMessageFromSteps(cfg, alias, &notices)
	case stepGitOpenPR:
		err = fromStep(cfg, "sourceBranchFromStep", "sourceBranch", "branch", true)
	case stepGitWaitForPR:
		err = fromStep(cfg, "prNumberFromStep", "prNumber", "pr.id", false)
	case stepArgoCDUpdate:
		apps, _ := cfg["apps"].([]any)
		for _, a := range apps {
			app, _ := a.(map[string]any)
			sources, _ := app["sources"].([]any)
			for _, s := range sources {
				if src, ok := s.(map[string]any); ok && err == nil {
					err = fromStep(src, "desiredCommitFromStep", "desiredRevision", "commit", true)
				}
			}
		}
	}
	if err != nil {
		return raw, "", err
	}
	if len(notices) == 0 {
		return raw, "", nil
	}
	out, merr := json.Marshal(cfg)
	if merr != nil {
		return raw, "", fmt.Errorf("encode translated config: %w", merr)
	}
	return out, strings.Join(dedupe(notices), "; "), nil
}

// rewriteMessageFromSteps replaces git-commit's messageFromSteps with a
// message built the way Kargo built it: the commitMessage outputs of those
// steps that left one, one alone as it is, several under a heading.
func rewriteMessageFromSteps(cfg map[string]any, alias string, notices *[]string) error {
	v, ok := cfg["messageFromSteps"]
	if !ok {
		return nil
	}
	delete(cfg, "messageFromSteps")
	list, _ := v.([]any)
	if len(list) == 0 {
		return fmt.Errorf("config.messageFromSteps must list the aliases of earlier steps")
	}
	if m, set := cfg["message"]; set && m != "" {
		*notices = append(*notices, "messageFromSteps is deprecated and was ignored because message is set: remove it")
		return nil
	}
	parts := make([]string, len(list))
	for i, a := range list {
		s, ok := a.(string)
		if !ok || s == "" {
			return fmt.Errorf("config.messageFromSteps[%d] must be the alias of an earlier step, got %v", i, a)
		}
		parts[i] = outputsRef(alias, s) + "?.commitMessage"
	}
	cfg["message"] = "${{ let parts = filter([" + strings.Join(parts, ", ") + `], # != nil && # != ""); ` +
		`quote(len(parts) == 0 ? "Caravan made some changes" : len(parts) == 1 ? parts[0] : ` +
		`"Caravan applied multiple changes\n\nIncluding:\n" + join(map(parts, "\n  * " + #), "")) }}`
	example := strings.TrimSuffix(parts[0], "?.commitMessage") + ".commitMessage"
	*notices = append(*notices, fmt.Sprintf("messageFromSteps is deprecated: write message: ${{ %s }} instead", example))
	return nil
}

// helmUpdateImageConfig is the config of Kargo's v1.0 helm-update-image.
type helmUpdateImageConfig struct {
	Path   string `json:"path"`
	Images []struct {
		Image      string                  `json:"image"`
		FromOrigin *kargoapi.FreightOrigin `json:"fromOrigin,omitempty"`
		Key        string                  `json:"key"`
		Value      string                  `json:"value"`
	} `json:"images"`
}

// convertHelmUpdateImage turns an evaluated helm-update-image config into
// the yaml-update config that does the same: each image's key gets the
// image's tag, digest, or reference from the Freight, found with imageFrom.
func convertHelmUpdateImage(sc *scope, raw []byte) ([]byte, error) {
	var cfg helmUpdateImageConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("config: %v: helm-update-image takes path and images[] of {image, key, value, fromOrigin}", err)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("config.path: required field missing: set it to the values file to update")
	}
	if len(cfg.Images) == 0 {
		return nil, fmt.Errorf("config.images: list at least one image to update")
	}
	var imageFrom expr.Function
	for _, f := range sc.fns {
		if f.Name == "imageFrom" {
			imageFrom = f
		}
	}
	type update struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	updates := make([]update, 0, len(cfg.Images))
	for i, im := range cfg.Images {
		at := fmt.Sprintf("config.images[%d]", i)
		if im.Image == "" || im.Key == "" {
			return nil, fmt.Errorf("%s: image and key are required: set both", at)
		}
		args := []any{im.Image}
		if im.FromOrigin != nil {
			args = append(args, *im.FromOrigin)
		}
		found, err := imageFrom.Call(args...)
		if err != nil {
			return nil, fmt.Errorf("%s.image: %w", at, err)
		}
		img, ok := found.(kargoapi.Image)
		if !ok {
			msg := fmt.Sprintf("the Freight being promoted has no image from %s", im.Image)
			if imageFrom.Missing != nil {
				msg = imageFrom.Missing(args...)
			}
			return nil, fmt.Errorf("%s.image: %s", at, msg)
		}
		var v string
		switch im.Value {
		case "Tag":
			v = img.Tag
		case "Digest":
			v = img.Digest
		case "ImageAndTag":
			v = img.RepoURL + ":" + img.Tag
		case "ImageAndDigest":
			v = img.RepoURL + "@" + img.Digest
		default:
			return nil, fmt.Errorf("%s.value: must be Tag, Digest, ImageAndTag or ImageAndDigest, got %q", at, im.Value)
		}
		updates = append(updates, update{Key: im.Key, Value: v})
	}
	return json.Marshal(map[string]any{"path": cfg.Path, "updates": updates})
}

// helmUpdateImageNotice is the deprecation notice of helm-update-image,
// with the yaml-update config to write instead, from the config as written.
func helmUpdateImageNotice(raw []byte) string {
	const head = "helm-update-image is deprecated (Kargo removed it in v1.3) and ran as yaml-update"
	var cfg helmUpdateImageConfig
	if err := json.Unmarshal(raw, &cfg); err != nil || len(cfg.Images) == 0 {
		return head + ": write uses: yaml-update with updates of {key, value: ${{ imageFrom(\"<image>\").Tag }}} instead"
	}
	ups := make([]string, len(cfg.Images))
	for i, im := range cfg.Images {
		call := "imageFrom(" + exprArg(im.Image)
		if im.FromOrigin != nil {
			call += ", warehouse(" + strconv.Quote(im.FromOrigin.Name) + ")"
		}
		call += ")"
		var v string
		switch im.Value {
		case "Digest":
			v = "${{ " + call + ".Digest }}"
		case "ImageAndTag":
			v = "${{ " + call + ".RepoURL }}:${{ " + call + ".Tag }}"
		case "ImageAndDigest":
			v = "${{ " + call + ".RepoURL }}@${{ " + call + ".Digest }}"
		default:
			v = "${{ " + call + ".Tag }}"
		}
		ups[i] = fmt.Sprintf("{key: %s, value: '%s'}", im.Key, v)
	}
	return fmt.Sprintf("%s: write uses: yaml-update, config: {path: %s, updates: [%s]} instead",
		head, cfg.Path, strings.Join(ups, ", "))
}

// exprArg writes a config value as an expression argument: a literal as a
// quoted string, a value that is a single ${{ x }} as x.
func exprArg(v string) string {
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, "${{") && strings.HasSuffix(t, "}}") && strings.Count(t, "${{") == 1 {
		return strings.TrimSpace(t[3 : len(t)-2])
	}
	return strconv.Quote(v)
}

func dedupe(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
