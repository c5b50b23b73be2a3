package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decodeYAMLFile converts a YAML manifest to JSON and decodes it strictly.
func decodeYAMLFile(t *testing.T, name string, obj any) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatalf("convert %s to JSON: %v", name, err)
	}
	if err := UnmarshalStrict(js, obj); err != nil {
		t.Fatalf("decode %s strictly: %v", name, err)
	}
	// sigs.k8s.io/yaml's own strict decoding must accept it too.
	if err := yaml.UnmarshalStrict(data, newOf(obj)); err != nil {
		t.Fatalf("yaml.UnmarshalStrict %s: %v", name, err)
	}
	return js
}

func newOf(obj any) any {
	switch obj.(type) {
	case *Warehouse:
		return &Warehouse{}
	case *Stage:
		return &Stage{}
	}
	panic("unexpected type")
}

func TestDecodeSeedWarehouse(t *testing.T) {
	var w Warehouse
	decodeYAMLFile(t, "seed-warehouse.yaml", &w)
	if w.Kind != "Warehouse" || w.Name != "kargo-poc" || w.Namespace != "kargo-poc" {
		t.Fatalf("metadata = %s %s/%s", w.Kind, w.Namespace, w.Name)
	}
	if w.Spec.Interval.Duration != 10*time.Second {
		t.Errorf("interval = %v", w.Spec.Interval)
	}
	if len(w.Spec.Subscriptions) != 2 {
		t.Fatalf("subscriptions = %d", len(w.Spec.Subscriptions))
	}
	img := w.Spec.Subscriptions[0].Image
	if img == nil || img.RepoURL != "registry.com/service-image:1.0.0" || img.DiscoveryLimit != 5 ||
		img.ImageSelectionStrategy != ImageSelectionStrategySemVer {
		t.Errorf("image subscription = %+v", img)
	}
	git := w.Spec.Subscriptions[1].Git
	if git == nil || git.RepoURL != "https://github.com/service-cicd.git" ||
		git.CommitSelectionStrategy != CommitSelectionStrategySemVer ||
		git.StrictSemvers == nil || *git.StrictSemvers {
		t.Errorf("git subscription = %+v", git)
	}
	if k := w.Spec.Subscriptions[1].Kind(); k != "git" {
		t.Errorf("Kind() = %q", k)
	}
}

func TestDecodeSeedStagePreservesStepConfig(t *testing.T) {
	var s Stage
	js := decodeYAMLFile(t, "seed-stage.yaml", &s)
	if s.Annotations[AnnotationKeyColor] != "green" {
		t.Errorf("color annotation = %q", s.Annotations[AnnotationKeyColor])
	}
	rf := s.Spec.RequestedFreight
	if len(rf) != 1 || rf[0].Origin.Kind != FreightOriginKindWarehouse || rf[0].Origin.Name != "kargo-poc-tags" ||
		rf[0].Sources.Direct || len(rf[0].Sources.Stages) != 1 || rf[0].Sources.Stages[0] != "teststable-tags" {
		t.Errorf("requestedFreight = %+v", rf)
	}
	if v := s.Spec.Verification; v == nil || len(v.AnalysisTemplates) != 1 || v.AnalysisTemplates[0].Name != "kargo-poc-uat-analysis" {
		t.Errorf("verification = %+v", v)
	}
	steps := s.Spec.PromotionTemplate.Spec.Steps
	wantUses := []string{"git-clone", "git-clear", "helm-update-image", "helm-template", "git-commit",
		"git-push", "git-open-pr", "git-wait-for-pr", "argocd-update"}
	if len(steps) != len(wantUses) {
		t.Fatalf("steps = %d, want %d", len(steps), len(wantUses))
	}
	for i, step := range steps {
		if step.Uses != wantUses[i] {
			t.Errorf("step %d uses %q, want %q", i, step.Uses, wantUses[i])
		}
	}
	if steps[7].As != "wait-pr" || steps[2].As != "update-image" {
		t.Errorf("aliases = %q, %q", steps[2].As, steps[7].As)
	}

	// The config bytes are those of the manifest, and survive re-encoding.
	var raw struct {
		Spec struct {
			PromotionTemplate struct {
				Spec struct {
					Steps []struct {
						Config json.RawMessage `json:"config"`
					} `json:"steps"`
				} `json:"spec"`
			} `json:"promotionTemplate"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range steps {
		want := raw.Spec.PromotionTemplate.Spec.Steps[i].Config
		if !bytes.Equal(step.Config.Raw, want) {
			t.Errorf("step %d config = %s, want %s", i, step.Config.Raw, want)
		}
		if !bytes.Contains(out, want) {
			t.Errorf("re-encoded Stage lacks step %d config %s", i, want)
		}
	}
	var again Stage
	if err := UnmarshalStrict(out, &again); err != nil {
		t.Fatalf("decode re-encoded Stage: %v", err)
	}
	if !bytes.Equal(again.Spec.PromotionTemplate.Spec.Steps[8].Config.Raw, steps[8].Config.Raw) {
		t.Error("config changed over a round trip")
	}
}

const misspelledGitWarehouse = `{
  "apiVersion": "kargo.akuity.io/v1alpha1",
  "kind": "Warehouse",
  "metadata": {"name": "w", "namespace": "p"},
  "spec": {
    "subscriptions": [
      {"image": {"repoURL": "nginx"}},
      {"git": {"repoURl": "https://github.com/example/repo.git", "branch": "main"}}
    ]
  }
}`

func TestStrictDecodingReportsMisspelledGitField(t *testing.T) {
	const wantPath = "spec.subscriptions[1].git.repoURl"

	var w Warehouse
	err := UnmarshalStrict([]byte(misspelledGitWarehouse), &w)
	var sde *StrictDecodingError
	if !errors.As(err, &sde) {
		t.Fatalf("UnmarshalStrict error = %v, want a *StrictDecodingError", err)
	}
	if len(sde.Errors) != 1 {
		t.Fatalf("errors = %v", sde.Errors)
	}
	var fe kjson.FieldError
	if !errors.As(sde.Errors[0], &fe) || fe.FieldPath() != wantPath {
		t.Errorf("field error = %v, want path %s", sde.Errors[0], wantPath)
	}
	if !strings.Contains(err.Error(), `unknown field "`+wantPath+`"`) {
		t.Errorf("message = %q", err.Error())
	}

	// The generic decoders report it too, with the same path.
	if _, err := kjson.UnmarshalStrict([]byte(misspelledGitWarehouse), &Warehouse{}); err == nil || !strings.Contains(err.Error(), wantPath) {
		t.Errorf("sigs.k8s.io/json UnmarshalStrict error = %v", err)
	}
	if err := yaml.UnmarshalStrict([]byte(misspelledGitWarehouse), &Warehouse{}); err == nil || !strings.Contains(err.Error(), wantPath) {
		t.Errorf("sigs.k8s.io/yaml UnmarshalStrict error = %v", err)
	}
}

func TestStrictDecodingErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		wantPaths []string
	}{
		{
			name:      "unknown spec field",
			doc:       `{"kind":"Warehouse","spec":{"intervall":"1m","subscriptions":[{"chart":{"repoURL":"oci://r.io/c"}}]}}`,
			wantPaths: []string{"spec.intervall"},
		},
		{
			name:      "unknown image and chart fields",
			doc:       `{"spec":{"subscriptions":[{"image":{"repoURL":"a","tagz":"x"}},{"chart":{"repoURL":"oci://r.io/c","nam":"x"}}]}}`,
			wantPaths: []string{"spec.subscriptions[0].image.tagz", "spec.subscriptions[1].chart.nam"},
		},
		{
			name:      "stray key next to git",
			doc:       `{"spec":{"subscriptions":[{"git":{"repoURL":"https://x.io/r"},"branch":"main"}]}}`,
			wantPaths: []string{"spec.subscriptions[0].branch"},
		},
		{
			name:      "duplicate key in a subscription",
			doc:       `{"spec":{"subscriptions":[{"git":{"repoURL":"https://x.io/r","repoURL":"https://y.io/r"}}]}}`,
			wantPaths: []string{"spec.subscriptions[0].git.repoURL"},
		},
		{
			name:      "unknown field in a step (not in its config)",
			doc:       `{"kind":"Stage","spec":{"requestedFreight":[],"promotionTemplate":{"spec":{"steps":[{"uses":"x","confg":{}}]}}}}`,
			wantPaths: []string{"spec.promotionTemplate.spec.steps[0].confg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj any = &Warehouse{}
			if strings.Contains(tt.doc, `"Stage"`) {
				obj = &Stage{}
			}
			err := UnmarshalStrict([]byte(tt.doc), obj)
			var sde *StrictDecodingError
			if !errors.As(err, &sde) {
				t.Fatalf("error = %v, want a *StrictDecodingError", err)
			}
			var got []string
			for _, e := range sde.Errors {
				var fe kjson.FieldError
				if errors.As(e, &fe) {
					got = append(got, fe.FieldPath())
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantPaths, ",") {
				t.Errorf("paths = %v, want %v", got, tt.wantPaths)
			}
		})
	}
}

func TestFreeFormFieldsAreNotChecked(t *testing.T) {
	doc := `{"spec":{"requestedFreight":[],"promotionTemplate":{"spec":{"steps":[
	  {"uses":"whatever","config":{"anything":{"nested":[1,2,{"x":null}]},"messageFromSteps":["a"]}}]}}}}`
	var s Stage
	if err := UnmarshalStrict([]byte(doc), &s); err != nil {
		t.Fatalf("step config must be free-form: %v", err)
	}
	target := `{"spec":{"params":{"cluster":{"region":"eu","zones":[1,2]},"branch":"main"}}}`
	var tg Target
	if err := UnmarshalStrict([]byte(target), &tg); err != nil {
		t.Fatalf("target params must be free-form: %v", err)
	}
	if string(tg.Spec.Params["cluster"].Raw) != `{"region":"eu","zones":[1,2]}` {
		t.Errorf("params.cluster = %s", tg.Spec.Params["cluster"].Raw)
	}
}

func TestGenericSubscriptionRoundTrip(t *testing.T) {
	doc := `{"spec":{"interval":"1m0s","freightCreationPolicy":"Automatic","subscriptions":[` +
		`{"git":{"repoURL":"https://x.io/r"},"name":"src"},` +
		`{"s3-bucket":{"name":"blobs","config":{"bucket":"b","prefix":"p/"},"discoveryLimit":7}}]}}`
	var w Warehouse
	if err := UnmarshalStrict([]byte(doc), &w); err != nil {
		t.Fatal(err)
	}
	subs := w.Spec.Subscriptions
	if subs[0].Name != "src" || subs[0].SubscriptionName() != "src" || subs[0].Git == nil {
		t.Errorf("named git subscription = %+v", subs[0])
	}
	g := subs[1].Generic
	if g == nil || g.SubscriptionType != "s3-bucket" || g.Name != "blobs" || g.DiscoveryLimit != 7 ||
		string(g.Config.Raw) != `{"bucket":"b","prefix":"p/"}` {
		t.Fatalf("generic subscription = %+v", g)
	}
	if subs[1].Kind() != "s3-bucket" || subs[1].SubscriptionName() != "blobs" {
		t.Errorf("Kind/SubscriptionName = %q/%q", subs[1].Kind(), subs[1].SubscriptionName())
	}
	out, err := json.Marshal(w.Spec.Subscriptions)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"src","git":{"repoURL":"https://x.io/r"}},` +
		`{"s3-bucket":{"name":"blobs","config":{"bucket":"b","prefix":"p/"},"discoveryLimit":7}}]`
	if string(out) != want {
		t.Errorf("marshal = %s\nwant      %s", out, want)
	}
	// The deep copy is independent of the original.
	cp := w.DeepCopy()
	cp.Spec.Subscriptions[1].Generic.Config.Raw[2] = 'X'
	if bytes.Equal(cp.Spec.Subscriptions[1].Generic.Config.Raw, g.Config.Raw) {
		t.Error("DeepCopy shares the config bytes")
	}
}

func TestGenericSubscriptionTypeMustAgree(t *testing.T) {
	doc := `{"spec":{"subscriptions":[{"s3":{"subscriptionType":"gcs","name":"x"}}]}}`
	err := UnmarshalStrict([]byte(doc), &Warehouse{})
	if err == nil || !strings.Contains(err.Error(), "spec.subscriptions[0].s3") {
		t.Errorf("error = %v", err)
	}
}

func TestJSONNullAndEmpty(t *testing.T) {
	var step PromotionStep
	if err := json.Unmarshal([]byte(`{"uses":"x","config":null}`), &step); err != nil {
		t.Fatal(err)
	}
	if !step.Config.IsEmpty() {
		t.Errorf("null config = %+v", step.Config)
	}
	out, err := json.Marshal(PromotionStep{Uses: "x"})
	if err != nil || string(out) != `{"uses":"x"}` {
		t.Errorf("marshal = %s, %v", out, err)
	}
	j, err := NewJSON(map[string]int{"a": 1})
	if err != nil || string(j.Raw) != `{"a":1}` {
		t.Fatalf("NewJSON = %s, %v", j.Raw, err)
	}
	var m map[string]int
	if err := j.Decode(&m); err != nil || m["a"] != 1 {
		t.Errorf("Decode = %v, %v", m, err)
	}
}
