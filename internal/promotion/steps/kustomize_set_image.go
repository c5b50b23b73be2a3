package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/expr"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// kustomizeSetImageSchema is the config of kustomize-set-image, with
// Kargo's keys. As in Kargo, an image gives a tag or a digest (not both),
// and leaving out images sets every image of the Freight. Kargo v1.0–v1.2
// resolved an image with neither tag nor digest from the Freight (with
// useDigest and fromOrigin); Caravan still does, with a deprecation notice.
const kustomizeSetImageSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "kustomize-set-image config",
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {
      "type": "string",
      "minLength": 1,
      "description": "Directory holding the kustomization.yaml to update, relative to the workspace."
    },
    "images": {
      "type": "array",
      "description": "Images to set. When left out, every image of the Freight being promoted is set.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["image"],
        "properties": {
          "image": {
            "type": "string",
            "minLength": 1,
            "description": "The image repository, as the Warehouse subscribes to it."
          },
          "name": {
            "type": "string",
            "description": "The image's name in the kustomization file, when it differs from image."
          },
          "tag": {
            "type": "string",
            "description": "Tag to set. Mutually exclusive with digest."
          },
          "digest": {
            "type": "string",
            "description": "Digest to set. Mutually exclusive with tag."
          },
          "newName": {
            "type": "string",
            "description": "Replacement for the image's name in the manifests."
          },
          "useDigest": {
            "type": "boolean",
            "description": "Deprecated (Kargo v1.0-v1.2): with neither tag nor digest, set the Freight's digest instead of its tag."
          },
          "fromOrigin": {
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "name"],
            "description": "Deprecated (Kargo v1.0-v1.2): the Warehouse whose Freight provides the image when neither tag nor digest is set.",
            "properties": {
              "kind": {"type": "string", "enum": ["Warehouse"]},
              "name": {"type": "string", "minLength": 1}
            }
          }
        }
      }
    }
  }
}`

// kustomizePreserve as a newName, tag or digest keeps the value the
// kustomization file already has, as in Kargo.
const kustomizePreserve = "*"

// KustomizeSetImage is the kustomize-set-image step: it sets images in a
// kustomization file as `kustomize edit set image` does, changing nothing
// else in the file (comments, blank lines and layout stay). Its output
// commitMessage describes the change, for git-commit.
type KustomizeSetImage struct{}

var _ promotion.Step = (*KustomizeSetImage)(nil)

// NewKustomizeSetImage returns the kustomize-set-image step.
func NewKustomizeSetImage() *KustomizeSetImage { return &KustomizeSetImage{} }

// Name returns "kustomize-set-image".
func (*KustomizeSetImage) Name() string { return "kustomize-set-image" }

// Schema returns the JSON schema of the step's config.
func (*KustomizeSetImage) Schema() []byte { return []byte(kustomizeSetImageSchema) }

type kustomizeSetImageConfig struct {
	Path   string                `json:"path"`
	Images []kustomizeImageEntry `json:"images"`
}

type kustomizeImageEntry struct {
	Image      string                  `json:"image"`
	Name       string                  `json:"name"`
	Tag        string                  `json:"tag"`
	Digest     string                  `json:"digest"`
	NewName    string                  `json:"newName"`
	UseDigest  bool                    `json:"useDigest"`
	FromOrigin *kargoapi.FreightOrigin `json:"fromOrigin"`
}

// kustomizeImage is what one entry of a kustomization's images becomes.
type kustomizeImage struct {
	Name, NewName, NewTag, Digest string
}

// Run sets the images.
func (s *KustomizeSetImage) Run(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	var cfg kustomizeSetImageConfig
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("decode kustomize-set-image config: %w", err))
	}
	targets, notes, err := kustomizeTargetImages(cfg, sc.Freight)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	file, err := kustomizeFindFile(sc.WorkDir, cfg.Path)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(err)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("read kustomization file in %s: %w", cfg.Path, err)
	}
	out, final, err := kustomizeApplyImages(src, targets)
	if err != nil {
		return promotion.StepResult{}, retry.Terminal(fmt.Errorf("update kustomization file in %s: %w", cfg.Path, err))
	}
	changed := !slices.Equal(out, src)
	if changed {
		if err := khWriteFile(file, out); err != nil {
			return promotion.StepResult{}, fmt.Errorf("write kustomization file in %s: %w", cfg.Path, err)
		}
	}
	res := promotion.StepResult{Status: promotion.StepStatusSucceeded}
	if msg := kustomizeCommitMessage(cfg.Path, final); msg != "" {
		res.Output = map[string]any{"commitMessage": msg}
	}
	switch {
	case len(final) == 0:
		res.Message = "no images to set: the Freight being promoted has none"
	case changed:
		res.Message = fmt.Sprintf("set %d image(s) in %s", len(final), filepath.ToSlash(filepath.Join(cfg.Path, filepath.Base(file))))
	default:
		res.Message = fmt.Sprintf("%s already sets these images", filepath.ToSlash(filepath.Join(cfg.Path, filepath.Base(file))))
	}
	if len(notes) > 0 {
		res.Message += "; " + strings.Join(notes, "; ")
	}
	return res, nil
}

// kustomizeTargetImages works out the images to set, by name in the
// kustomization file, and deprecation notices for legacy config.
func kustomizeTargetImages(cfg kustomizeSetImageConfig, freight kargoapi.FreightCollection) ([]kustomizeImage, []string, error) {
	if len(cfg.Images) == 0 {
		imgs, err := kustomizeImagesFromFreight(freight)
		return imgs, nil, err
	}
	var (
		notes   []string
		lookups []expr.Function
		byName  = map[string]int{}
		targets []kustomizeImage
	)
	for i, img := range cfg.Images {
		field := fmt.Sprintf("images[%d]", i)
		if img.Tag != "" && img.Digest != "" {
			return nil, nil, fmt.Errorf("%s: tag and digest are both set: set only one of them (a digest pins the image exactly)", field)
		}
		t := kustomizeImage{Name: img.Image, NewName: img.NewName, NewTag: img.Tag, Digest: img.Digest}
		if img.Name != "" {
			t.Name = img.Name
		}
		if img.Tag == "" && img.Digest == "" {
			if lookups == nil {
				lookups = expr.FreightFunctions(kustomizeOrigins(freight)...)
			}
			found, err := kustomizeImageFromFreight(lookups, img)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: neither tag nor digest is set, and the image cannot be taken from the Freight: %w; "+
					"set tag (for example tag: ${{ imageFrom(%q).Tag }})", field, err, img.Image)
			}
			if img.UseDigest {
				t.Digest = found.Digest
			} else {
				t.NewTag = found.Tag
			}
			if t.Digest == "" && t.NewTag == "" {
				what := "tag"
				if img.UseDigest {
					what = "digest"
				}
				return nil, nil, fmt.Errorf("%s: the Freight's image %s has no %s: set tag or digest explicitly", field, img.Image, what)
			}
			notes = append(notes, fmt.Sprintf("%s: taking the version from the Freight when neither tag nor digest is set is "+
				"deprecated (Kargo v1.3 removed it): set tag: ${{ imageFrom(%q).Tag }} instead", field, img.Image))
		} else if img.UseDigest || img.FromOrigin != nil {
			notes = append(notes, fmt.Sprintf("%s: useDigest and fromOrigin are deprecated and ignored when tag or digest is set: remove them", field))
		}
		if j, dup := byName[t.Name]; dup {
			// As in Kargo, a later entry for the same name wins.
			targets[j] = t
			continue
		}
		byName[t.Name] = len(targets)
		targets = append(targets, t)
	}
	return targets, notes, nil
}

// kustomizeOrigins turns the Freight of a promotion into lookup origins.
func kustomizeOrigins(freight kargoapi.FreightCollection) []expr.Origin {
	keys := make([]string, 0, len(freight.Freight))
	for k := range freight.Freight {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	origins := make([]expr.Origin, 0, len(keys))
	for _, k := range keys {
		ref := freight.Freight[k]
		origins = append(origins, expr.Origin{Origin: ref.Origin, Freight: expr.ReferenceArtifacts(ref)})
	}
	return origins
}

// kustomizeImageFromFreight finds img in the Freight as imageFrom does.
func kustomizeImageFromFreight(lookups []expr.Function, img kustomizeImageEntry) (kargoapi.Image, error) {
	args := []any{img.Image}
	if img.FromOrigin != nil {
		args = append(args, *img.FromOrigin)
	}
	for _, f := range lookups {
		if f.Name != "imageFrom" {
			continue
		}
		v, err := f.Call(args...)
		if err != nil {
			return kargoapi.Image{}, err
		}
		found, ok := v.(kargoapi.Image)
		if !ok {
			return kargoapi.Image{}, fmt.Errorf("the Freight being promoted has no image %s", img.Image)
		}
		return found, nil
	}
	return kargoapi.Image{}, errors.New("imageFrom is not available")
}

// kustomizeImagesFromFreight lists every image of the Freight, as Kargo does
// when images is left out: name the repository URL, set its tag and digest.
func kustomizeImagesFromFreight(freight kargoapi.FreightCollection) ([]kustomizeImage, error) {
	from := map[string]string{} // repository → origin that provided it
	var out []kustomizeImage
	for _, o := range kustomizeOrigins(freight) {
		for _, img := range o.Freight.Images() {
			if prev, dup := from[img.RepoURL]; dup {
				return nil, fmt.Errorf("images is left out, so every image of the Freight would be set, but image %s comes from both "+
					"%s and %s %s: list images explicitly, e.g. tag: ${{ imageFrom(%q, warehouse(%q)).Tag }}",
					img.RepoURL, prev, o.Origin.Kind, o.Origin.Name, img.RepoURL, o.Origin.Name)
			}
			from[img.RepoURL] = string(o.Origin.Kind) + " " + o.Origin.Name
			out = append(out, kustomizeImage{Name: img.RepoURL, NewTag: img.Tag, Digest: img.Digest})
		}
	}
	return out, nil
}

// kustomizeFindFile returns the kustomization file in dir (relative to the
// workspace): exactly one of kustomize's recognized names must exist.
func kustomizeFindFile(workDir, dir string) (string, error) {
	abs, err := promotion.SecurePath(workDir, dir)
	if err != nil {
		return "", fmt.Errorf("path: %w", err)
	}
	var found []string
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p, err := promotion.SecurePath(workDir, filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("path: %w", err)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("path: directory %s does not exist in the workspace: check path (and that an earlier step, such as git-clone, put it there)", dir)
		}
		return "", fmt.Errorf("path: %s has no kustomization.yaml: point path at the directory that holds it", dir)
	}
	return "", fmt.Errorf("path: %s holds several kustomization files (%s): keep only one", dir, strings.Join(khBaseNames(found), ", "))
}

func khBaseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// kustomizeApplyImages sets targets in the images of a kustomization file
// and returns the new content and the images as set (with "*" resolved),
// sorted by name. An existing entry for a name is updated in place, keeping
// its position, and its newName, newTag, digest and tagSuffix become exactly
// the target's, as in Kargo; new entries are appended, sorted by name.
func kustomizeApplyImages(src []byte, targets []kustomizeImage) ([]byte, []kustomizeImage, error) {
	e, err := khParseYAML(src)
	if err != nil {
		return nil, nil, err
	}
	root := e.Root()
	seq, _ := khLookup(root, "images")
	if seq != nil && seq.Kind != kyaml.SequenceNode && seq.Tag != "!!null" {
		return nil, nil, errors.New("its images field is not a list: make it a list of {name, newName, newTag, digest}")
	}
	existing := map[string]*kyaml.Node{}
	if seq != nil && seq.Kind == kyaml.SequenceNode {
		for _, item := range seq.Content {
			if item.Kind != kyaml.MappingNode {
				return nil, nil, errors.New("an entry of its images is not a mapping: each entry needs a name and newName, newTag or digest")
			}
			if name := khScalar(item, "name"); name != "" {
				if _, dup := existing[name]; !dup {
					existing[name] = item
				}
			}
		}
	}
	final := make([]kustomizeImage, 0, len(targets))
	var added [][]khField
	for _, t := range targets {
		item := existing[t.Name]
		t = kustomizeResolvePreserved(t, item)
		final = append(final, t)
		fields := []khField{{"newName", t.NewName}, {"newTag", t.NewTag}, {"digest", t.Digest}}
		if item == nil {
			add := []khField{{"name", t.Name}}
			for _, f := range fields {
				if f.Value != "" {
					add = append(add, f)
				}
			}
			added = append(added, add)
			continue
		}
		e.DeleteField(item, "tagSuffix")
		for _, f := range fields {
			if f.Value == "" {
				e.DeleteField(item, f.Key)
			} else {
				e.SetField(item, f.Key, f.Value)
			}
		}
	}
	sort.SliceStable(added, func(i, j int) bool { return added[i][0].Value < added[j][0].Value })
	switch {
	case len(added) == 0:
	case seq == nil || seq.Kind != kyaml.SequenceNode || len(seq.Content) == 0:
		e.SetSequence(root, "images", added)
	default:
		for _, a := range added {
			e.AppendItem(seq, a)
		}
	}
	out, err := e.Bytes()
	if err != nil {
		return nil, nil, err
	}
	if len(targets) == 0 {
		out = src
	}
	sort.SliceStable(final, func(i, j int) bool { return final[i].Name < final[j].Name })
	return out, final, nil
}

// kustomizeResolvePreserved replaces "*" in t with the existing entry's
// value (or nothing when there is none).
func kustomizeResolvePreserved(t kustomizeImage, item *kyaml.Node) kustomizeImage {
	keep := func(v, key string) string {
		if v != kustomizePreserve {
			return v
		}
		return khScalar(item, key)
	}
	t.NewName = keep(t.NewName, "newName")
	t.NewTag = keep(t.NewTag, "newTag")
	t.Digest = keep(t.Digest, "digest")
	return t
}

// kustomizeCommitMessage describes the images set, in Kargo's words.
func kustomizeCommitMessage(path string, images []kustomizeImage) string {
	if len(images) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Updated " + path + " to use new image")
	if len(images) > 1 {
		b.WriteString("s")
	}
	b.WriteString("\n")
	for _, img := range images {
		ref := img.Name
		if img.NewName != "" {
			ref = img.NewName
		}
		if img.NewTag != "" {
			ref += ":" + img.NewTag
		}
		if img.Digest != "" {
			ref += "@" + img.Digest
		}
		b.WriteString("\n- " + ref)
	}
	return b.String()
}

// khWriteFile replaces the content of path, keeping its permissions, through
// a temporary file and a rename so that a reader never sees half a file.
func khWriteFile(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close() //nolint:errcheck,gosec // the write error matters
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close() //nolint:errcheck,gosec // the chmod error matters
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
