package v1alpha1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// decodeManifest decodes a YAML manifest strictly into a new T and applies
// the defaults, as admission does before validation.
func decodeManifest[T any](t *testing.T, manifest string) *T {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("convert manifest to JSON: %v", err)
	}
	obj := new(T)
	if err := UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	SetDefaults(obj)
	return obj
}

// assertErrors checks that errs holds exactly one error per want entry, in
// any order. An entry is "<field path>: <text>", matched against the error's
// field and its full message; the empty list means no errors.
func assertErrors(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	used := make([]bool, len(errs))
	for _, w := range want {
		path, text, _ := strings.Cut(w, ": ")
		found := false
		for i, err := range errs {
			if !used[i] && err.Field == path && strings.Contains(err.Error(), text) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing error %q", w)
		}
	}
	for i, err := range errs {
		if !used[i] {
			t.Errorf("unexpected error: %v", err)
		}
	}
}

func TestValidateProject(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid",
		manifest: `
metadata:
  name: kargo-demo`,
	}, {
		name: "name is not a DNS label",
		manifest: `
metadata:
  name: Kargo.Demo`,
		want: []string{"metadata.name: a Project's name must be a DNS-1123 label"},
	}, {
		name: "legacy promotion policies are checked",
		manifest: `
metadata:
  name: demo
spec:
  promotionPolicies:
  - stage: test
    stageSelector:
      name: test`,
		want: []string{"spec.promotionPolicies[0]: exactly one of stage and stageSelector"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidateProject(decodeManifest[Project](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidateProjectConfig(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid",
		manifest: `
metadata:
  name: demo
  namespace: demo
spec:
  promotionPolicies:
  - stageSelector:
      name: test
    autoPromotionEnabled: true
  - stage: uat
  - stageSelector:
      name: glob:prod-*
  - stageSelector:
      name: regex:^qa-[0-9]+$
  - stageSelector:
      name: regexp:^qa-[0-9]+$
  - stageSelector:
      matchLabels:
        tier: edge
  - stageSelector:
      name: qa
      matchLabels:
        tier: edge
  webhookReceivers:
  - name: gh
    github:
      secretRef:
        name: gh-secret
  - name: generic
    generic:
      secretRef:
        name: generic-secret
      actions:
      - action: Refresh
        whenExpression: ${{ request.header('X-Event') == 'push' }}
        targetSelectionCriteria:
        - kind: Warehouse
          name: ${{ request.body.repository }}
        - kind: Warehouse
          indexSelector:
            matchIndices:
            - key: subscribedURLs
              operator: Equals
              value: ${{ normalizeGit(request.body.url) }}`,
	}, {
		name: "named differently from the project",
		manifest: `
metadata:
  name: other
  namespace: demo`,
		want: []string{`metadata.name: must be named after its Project: rename it to "demo"`},
	}, {
		name: "policy with both stage and stageSelector",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  promotionPolicies:
  - stage: test
    stageSelector:
      name: test`,
		want: []string{"spec.promotionPolicies[0]: must set exactly one of stage and stageSelector"},
	}, {
		name: "policy with neither",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  promotionPolicies:
  - autoPromotionEnabled: true`,
		want: []string{"spec.promotionPolicies[0].stageSelector: Required value: a promotion policy must set exactly one"},
	}, {
		name: "stage named twice, by either field",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  promotionPolicies:
  - stageSelector: {name: test}
  - stage: test
  - stageSelector: {name: test, matchLabels: {tier: edge}}
  - stageSelector: {name: "glob:test"}
  - stageSelector: {name: "glob:test"}`,
		want: []string{
			`spec.promotionPolicies[1]: Stage "test" already has a promotion policy at spec.promotionPolicies[0]`,
			`spec.promotionPolicies[2]: Stage "test" already has a promotion policy at spec.promotionPolicies[0]`,
		},
	}, {
		name: "bad patterns and names",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  promotionPolicies:
  - stageSelector: {name: "regex:^(foo"}
  - stageSelector: {name: "regexp:[z-a]"}
  - stageSelector: {name: "glob:prod-[a"}
  - stageSelector: {name: "glob:{a,b"}
  - stageSelector: {name: "wildcard:prod-*"}
  - stageSelector: {name: Prod}
  - stage: Prod_1`,
		want: []string{
			"spec.promotionPolicies[0].stageSelector.name: must be a valid regular expression after the prefix: error parsing regexp: missing closing )",
			"spec.promotionPolicies[1].stageSelector.name: must be a valid regular expression after the prefix",
			"spec.promotionPolicies[2].stageSelector.name: must be a valid glob",
			"spec.promotionPolicies[3].stageSelector.name: '{' without a matching '}'",
			`spec.promotionPolicies[4].stageSelector.name: unknown pattern prefix "wildcard:": use "glob:", "regex:" or "regexp:"`,
			"spec.promotionPolicies[5].stageSelector.name: an exact Stage name must be a valid object name",
			"spec.promotionPolicies[6].stage: a Stage name must be a valid object name",
		},
	}, {
		name: "bad label selector",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  promotionPolicies:
  - stageSelector:
      matchExpressions:
      - key: tier
        operator: Maybe
        values: [edge]`,
		want: []string{`spec.promotionPolicies[0].stageSelector.matchExpressions[0].operator: Invalid value: "Maybe": not a valid selector operator`},
	}, {
		name: "receivers: no provider, two providers, duplicate name, missing secret",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  webhookReceivers:
  - name: none
  - name: two
    github: {secretRef: {name: s}}
    gitlab: {secretRef: {name: s}}
  - name: dup
    quay: {secretRef: {name: s}}
  - name: dup
    harbor: {secretRef: {name: s}}
  - name: nosecret
    dockerhub: {secretRef: {}}
  - name: Bad_Name
    gitea: {secretRef: {name: s}}`,
		want: []string{
			"spec.webhookReceivers[0]: Required value: a webhook receiver needs exactly one provider: add one of artifactory",
			"spec.webhookReceivers[1]: Forbidden: a webhook receiver must configure exactly one provider but this one sets github, gitlab",
			`spec.webhookReceivers[3].name: Duplicate value: "dup": already used at spec.webhookReceivers[2].name`,
			"spec.webhookReceivers[4].dockerhub.secretRef.name: Required value",
			"spec.webhookReceivers[5].name: a webhook receiver's name must be a valid object name",
		},
	}, {
		name: "generic receiver rules",
		manifest: `
metadata: {name: demo, namespace: demo}
spec:
  webhookReceivers:
  - name: empty
    generic:
      secretRef: {name: s}
  - name: bad
    generic:
      secretRef: {name: s}
      actions:
      - action: Delete
        targetSelectionCriteria:
        - kind: Stage
          name: x
        - kind: Warehouse
        - kind: Warehouse
          indexSelector:
            matchIndices:
            - key: repoURL
              operator: Like
      - action: Refresh`,
		want: []string{
			"spec.webhookReceivers[0].generic.actions: Required value: a generic webhook receiver needs at least one action",
			`spec.webhookReceivers[1].generic.actions[0].action: Unsupported value: "Delete"`,
			`spec.webhookReceivers[1].generic.actions[0].targetSelectionCriteria[0].kind: Unsupported value: "Stage"`,
			"spec.webhookReceivers[1].generic.actions[0].targetSelectionCriteria[1]: Required value: a target must be selected somehow",
			`spec.webhookReceivers[1].generic.actions[0].targetSelectionCriteria[2].indexSelector.matchIndices[0].key: Unsupported value: "repoURL"`,
			`spec.webhookReceivers[1].generic.actions[0].targetSelectionCriteria[2].indexSelector.matchIndices[0].operator: Unsupported value: "Like"`,
			"spec.webhookReceivers[1].generic.actions[0].targetSelectionCriteria[2].indexSelector.matchIndices[0].value: Required value",
			"spec.webhookReceivers[1].generic.actions[1].targetSelectionCriteria: Required value: an action needs at least one target",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidateProjectConfig(decodeManifest[ProjectConfig](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidateClusterConfig(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid",
		manifest: `
metadata: {name: cluster}
spec:
  webhookReceivers:
  - name: gh
    github: {secretRef: {name: gh}}`,
	}, {
		name: "wrong name and a receiver without provider",
		manifest: `
metadata: {name: default}
spec:
  webhookReceivers:
  - name: gh`,
		want: []string{
			`metadata.name: there is one ClusterConfig and it must be named "cluster"`,
			"spec.webhookReceivers[0]: Required value: a webhook receiver needs exactly one provider",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidateClusterConfig(decodeManifest[ClusterConfig](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidateGlob(t *testing.T) {
	for _, ok := range []string{"*.yaml", "**/x", "{a,b}/c", `a\{b`, "[a-z]*", ""} {
		if err := validateGlob(ok); err != nil {
			t.Errorf("validateGlob(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"[a-", `x\`, "{a,b", "a}", "[]"} {
		if err := validateGlob(bad); err == nil {
			t.Errorf("validateGlob(%q) = nil, want an error", bad)
		}
	}
}

func TestIsReservedStepAlias(t *testing.T) {
	for alias, want := range map[string]bool{
		"step-0": true, "task-12": true, " step-3 ": true,
		"step-": false, "step-a": false, "my-step-1": false, "commit": false,
	} {
		if got := IsReservedStepAlias(alias); got != want {
			t.Errorf("IsReservedStepAlias(%q) = %v, want %v", alias, got, want)
		}
	}
}
