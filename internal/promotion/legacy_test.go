package promotion

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// legacySteps returns echo steps under the names the translations target,
// and a producer whose output is whatever its config says.
func legacySteps() map[string]*scriptStep {
	m := map[string]*scriptStep{}
	for _, n := range []string{stepYAMLUpdate, stepGitCommit, stepGitOpenPR, stepGitWaitForPR, stepArgoCDUpdate, "produce"} {
		m[n] = &scriptStep{name: n, do: echo}
	}
	m[stepYAMLUpdate].schema = `{"type":"object","additionalProperties":false,"required":["path","updates"],
	  "properties":{"path":{"type":"string"},"updates":{"type":"array","items":{"type":"object","required":["key","value"],
	  "properties":{"key":{"type":"string"},"value":{}}}}}}`
	return m
}

func TestLegacyForms(t *testing.T) {
	cases := []struct {
		name string
		// steps run in order; the last one is checked.
		steps []kargoapi.PromotionStep
		// check is the step whose config is compared with want.
		check string
		want  map[string]any
		// notice is a substring of the last step's message.
		notice []string
	}{
		{
			name: "helm-update-image runs as yaml-update with values from the Freight",
			steps: []kargoapi.PromotionStep{step("helm-update-image", "update-image", `{"path":"./src/values.yaml","images":[
				{"image":"ghcr.io/acme/shop","key":"image.tag","value":"Tag"},
				{"image":"ghcr.io/acme/shop","key":"image.digest","value":"Digest"},
				{"image":"ghcr.io/acme/shop","key":"a.ref","value":"ImageAndTag"},
				{"image":"${{ 'ghcr.io/acme/' + 'shop' }}","key":"b.ref","value":"ImageAndDigest","fromOrigin":{"kind":"Warehouse","name":"shop"}}]}`)},
			check: stepYAMLUpdate,
			want: map[string]any{"path": "./src/values.yaml", "updates": []any{
				map[string]any{"key": "image.tag", "value": "1.2.0"},
				map[string]any{"key": "image.digest", "value": "sha256:abc"},
				map[string]any{"key": "a.ref", "value": "ghcr.io/acme/shop:1.2.0"},
				map[string]any{"key": "b.ref", "value": "ghcr.io/acme/shop@sha256:abc"},
			}},
			notice: []string{"helm-update-image is deprecated", "ran as yaml-update",
				`{key: image.tag, value: '${{ imageFrom("ghcr.io/acme/shop").Tag }}'}`,
				`imageFrom('ghcr.io/acme/' + 'shop', warehouse("shop")).RepoURL`},
		},
		{
			name: "messageFromSteps: one step's commitMessage is the message",
			steps: []kargoapi.PromotionStep{
				step("produce", "update-image", `{"commitMessage":"42"}`),
				step("git-commit", "", `{"path":"./out","messageFromSteps":["update-image"]}`),
			},
			check:  stepGitCommit,
			want:   map[string]any{"path": "./out", "message": "42"},
			notice: []string{"messageFromSteps is deprecated: write message: ${{ outputs[\"update-image\"].commitMessage }} instead"},
		},
		{
			name: "messageFromSteps: several are listed under a heading; steps without one are left out",
			steps: []kargoapi.PromotionStep{
				step("produce", "a", `{"commitMessage":"updated a"}`),
				step("produce", "none", `{"other":1}`),
				step("produce", "b", `{"commitMessage":"updated b"}`),
				step("git-commit", "", `{"path":"./out","messageFromSteps":["a","none","b","never-ran"]}`),
			},
			check: stepGitCommit,
			want: map[string]any{"path": "./out",
				"message": "Caravan applied multiple changes\n\nIncluding:\n\n  * updated a\n  * updated b"},
		},
		{
			name:   "messageFromSteps gives way to message",
			steps:  []kargoapi.PromotionStep{step("git-commit", "", `{"path":"./out","message":"mine","messageFromSteps":["x"]}`)},
			check:  stepGitCommit,
			want:   map[string]any{"path": "./out", "message": "mine"},
			notice: []string{"messageFromSteps is deprecated and was ignored because message is set"},
		},
		{
			name: "sourceBranchFromStep, prNumberFromStep and desiredCommitFromStep read outputs",
			steps: []kargoapi.PromotionStep{
				step("produce", "push", `{"branch":"kargo/promo/123"}`),
				step("git-open-pr", "open-pr", `{"repoURL":"https://git.example.com/x.git","sourceBranchFromStep":"push","targetBranch":"develop"}`),
				step("produce", "pr", `{"pr":{"id":17}}`),
				step("git-wait-for-pr", "wait-pr", `{"repoURL":"https://git.example.com/x.git","prNumberFromStep":"pr"}`),
				step("produce", "merged", `{"commit":"deadbeef"}`),
				step("argocd-update", "", `{"apps":[{"name":"svc","sources":[{"repoURL":"https://git.example.com/x.git","desiredCommitFromStep":"merged"}]}]}`),
			},
			check: stepArgoCDUpdate,
			want: map[string]any{"apps": []any{map[string]any{"name": "svc", "sources": []any{
				map[string]any{"repoURL": "https://git.example.com/x.git", "desiredRevision": "deadbeef"}}}}},
			notice: []string{`desiredCommitFromStep is deprecated: write desiredRevision: ${{ outputs["merged"].commit }} instead`},
		},
		{
			name: "inside a task, *FromStep reads task.outputs",
			steps: []kargoapi.PromotionStep{
				step("produce", "deploy::push", `{"branch":"b1"}`),
				step("git-open-pr", "deploy::pr", `{"repoURL":"https://git.example.com/x.git","sourceBranchFromStep":"push"}`),
			},
			check:  stepGitOpenPR,
			want:   map[string]any{"repoURL": "https://git.example.com/x.git", "sourceBranch": "b1"},
			notice: []string{`task.outputs["push"].branch`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			steps := legacySteps()
			var all []Step
			for _, s := range steps {
				all = append(all, s)
			}
			h := newHarness(t, all...)
			_, st := h.run(input(t, tc.steps...))
			last := st.StepExecutionMetadata[len(st.StepExecutionMetadata)-1]
			if st.Phase != kargoapi.PromotionPhaseSucceeded {
				t.Fatalf("got %s %q", st.Phase, st.Message)
			}
			runs := steps[tc.check].runsOf()
			if len(runs) != 1 {
				t.Fatalf("%s ran %d times", tc.check, len(runs))
			}
			if !reflect.DeepEqual(runs[0].config, tc.want) {
				got, _ := json.Marshal(runs[0].config)
				want, _ := json.Marshal(tc.want)
				t.Errorf("config\n got %s\nwant %s", got, want)
			}
			for _, n := range tc.notice {
				if !strings.Contains(last.Message, n) {
					t.Errorf("message %q lacks %q", last.Message, n)
				}
			}
		})
	}
}

func TestLegacyHelmUpdateImageErrors(t *testing.T) {
	cases := []struct {
		name   string
		config string
		msg    string
	}{
		{"an image the Freight lacks", `{"path":"v.yaml","images":[{"image":"ghcr.io/acme/other","key":"k","value":"Tag"}]}`,
			`config.images[0].image: imageFrom("ghcr.io/acme/other") found nothing`},
		{"an unknown value", `{"path":"v.yaml","images":[{"image":"ghcr.io/acme/shop","key":"k","value":"Version"}]}`,
			`config.images[0].value: must be Tag, Digest, ImageAndTag or ImageAndDigest, got "Version"`},
		{"a misspelled field", `{"path":"v.yaml","imagess":[]}`, `unknown field "imagess"`},
		{"no path", `{"images":[{"image":"ghcr.io/acme/shop","key":"k","value":"Tag"}]}`, "config.path: required field missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			steps := legacySteps()
			h := newHarness(t, steps[stepYAMLUpdate])
			_, st := h.run(input(t, step("helm-update-image", "", tc.config)))
			if st.Phase != kargoapi.PromotionPhaseErrored || !strings.Contains(st.Message, tc.msg) {
				t.Errorf("got %s %q, want Errored with %q", st.Phase, st.Message, tc.msg)
			}
			if !strings.Contains(st.Message, "(helm-update-image)") || !strings.Contains(st.Message, "deprecated") {
				t.Errorf("the message should name the step as written and the deprecation: %q", st.Message)
			}
		})
	}
	t.Run("without yaml-update on the server", func(t *testing.T) {
		h := newHarness(t, &scriptStep{name: "ok"})
		_, st := h.run(input(t, step("helm-update-image", "", `{"path":"v.yaml","images":[]}`)))
		if !strings.Contains(st.Message, "helm-update-image runs as yaml-update, which this server does not have") {
			t.Errorf("message %q", st.Message)
		}
	})
}
