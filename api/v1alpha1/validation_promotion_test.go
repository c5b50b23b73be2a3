package v1alpha1

import "testing"

func TestValidatePromotion(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "minimal manifest, before the Stage's steps are copied in",
		manifest: `
metadata: {name: p, namespace: demo}
spec:
  stage: uat
  freight: 9e4b1ab499071561f88575d5da882968452134dc`,
	}, {
		name: "with copied vars and steps",
		manifest: `
metadata: {name: p}
spec:
  stage: uat
  freight: abc
  vars:
  - name: repo
    value: x
  steps:
  - uses: git-clone
    as: clone
  - uses: git-push
    retry: {timeout: 1m}`,
	}, {
		name: "no freight",
		manifest: `
metadata: {name: p}
spec:
  stage: uat`,
		want: []string{"spec.freight: Required value: a Promotion needs the Freight to promote: set freight"},
	}, {
		name: "by origin alone: not supported yet",
		manifest: `
metadata: {name: p}
spec:
  stage: uat
  origin: {kind: Warehouse, name: w}`,
		want: []string{`spec.origin: Invalid value: "Warehouse/w": promoting the newest Freight of an origin is not supported yet: name the Freight to promote in spec.freight instead`},
	}, {
		name: "freight and origin together",
		manifest: `
metadata: {name: p}
spec:
  stage: uat
  freight: abc
  origin: {kind: Warehouse, name: w}`,
		want: []string{"spec.origin: Forbidden: a Promotion names its Freight either with freight or with origin, not both"},
	}, {
		name: "target refused, names checked",
		manifest: `
metadata: {name: p}
spec:
  stage: UAT
  freight: "not a name"
  target: {name: cluster-a}`,
		want: []string{
			`spec.stage: Invalid value: "UAT": the Stage to promote into must be a valid object name`,
			`spec.freight: Invalid value: "not a name": the Freight's name must be a valid object name`,
			"spec.target: Forbidden: promoting to a Target is not supported: remove target",
		},
	}, {
		name: "steps: no tasks, shared rules",
		manifest: `
metadata: {name: p}
spec:
  stage: uat
  freight: abc
  vars:
  - name: "9"
  steps:
  - task: {name: t}
  - uses: a
    as: x
  - uses: b
    as: x`,
		want: []string{
			`spec.vars[0].name: Invalid value: "9"`,
			"spec.steps[0].task: Forbidden: the steps of a Promotion cannot reference a task: tasks are inlined when a Promotion is created from its Stage",
			`spec.steps[2].as: Duplicate value: "x": already used at spec.steps[1].as`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidatePromotion(decodeManifest[Promotion](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidateFreight(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid",
		manifest: `
metadata: {name: 9e4b1ab499071561f88575d5da882968452134dc, namespace: demo}
alias: wonky-wombat
origin: {kind: Warehouse, name: shop}
commits:
- repoURL: https://github.com/example/config.git
  id: "1111111111111111111111111111111111111111"
images:
- repoURL: registry.example.com/team/shop
  tag: 1.2.0
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
charts:
- repoURL: https://charts.example.com
  name: nginx
  version: 1.2.3
artifacts:
- artifactType: application/vnd.example
  subscriptionName: releases
  version: v7`,
	}, {
		name: "no artifacts and no origin",
		manifest: `
metadata: {name: f}`,
		want: []string{
			"commits: Required value: Freight must contain at least one artifact: add commits, images, charts or artifacts",
			"origin.kind: Required value: set kind to Warehouse",
			"origin.name: Required value",
		},
	}, {
		name: "artifacts without versions, bad alias, bad origin kind",
		manifest: `
metadata: {name: f}
alias: "Not a label value!"
origin: {kind: Stage, name: s}
commits:
- repoURL: https://github.com/example/a
- id: abc
images:
- repoURL: ghcr.io/example/a
charts:
- repoURL: oci://r.example.com/c
artifacts:
- artifactType: x`,
		want: []string{
			"alias: the alias is copied into the kargo.akuity.io/alias label and must be a valid label value",
			`origin.kind: Unsupported value: "Stage"`,
			"commits[0].id: Required value: a commit needs its ID",
			"commits[1].repoURL: Required value",
			"images[0].digest: Required value: an image needs a tag or a digest",
			"charts[0].version: Required value",
			"artifacts[0].subscriptionName: Required value",
			"artifacts[0].version: Required value",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidateFreight(decodeManifest[Freight](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidatePromotionRequest(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid",
		manifest: `
metadata: {name: r}
spec:
  stage: prod
  freight: abc
  targets: [{name: east}, {name: west}]`,
	}, {
		name: "empty targets is valid",
		manifest: `
metadata: {name: r}
spec: {stage: prod, freight: abc, targets: []}`,
	}, {
		name: "missing names and duplicate targets",
		manifest: `
metadata: {name: r}
spec:
  targets: [{name: east}, {name: east}, {name: ""}]`,
		want: []string{
			"spec.stage: Required value",
			"spec.freight: Required value",
			`spec.targets[1].name: Duplicate value: "east": already used at spec.targets[0].name`,
			"spec.targets[2].name: Required value",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidatePromotionRequest(decodeManifest[PromotionRequest](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidateTarget(t *testing.T) {
	target := decodeManifest[Target](t, `
metadata: {name: east}
spec:
  params:
    cluster: {region: us-east-1, replicas: [1, 2]}
    branch: main`)
	assertErrors(t, ValidateTarget(target))
}
