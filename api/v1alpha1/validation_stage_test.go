package v1alpha1

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// seedStage is the Stage of the seed document (Kargo v1.0 era step names
// and config keys), which Caravan must accept as written.
const seedStage = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: uat-tags
  namespace: kargo-poc-tags
  annotations:
    kargo.akuity.io/color: green
spec:
  requestedFreight:
  - origin:
      kind: Warehouse
      name: kargo-poc-tags
    sources:
      stages:
        - teststable-tags
  verification:
    analysisTemplates:
    - name: kargo-poc-uat-analysis
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: https://github.com/service-cicd.git
          checkout:
          - branch: develop
            path: ./src
      - uses: git-clear
        config:
          path: ./out/stages/uat
      - uses: helm-update-image
        as: update-image
        config:
          path: ./src/chart/service/values-uat.yaml
          images:
          - image: image-registry.com/service-image
            key: image.tag
            value: Tag
      - uses: helm-template
        config:
          releaseName: service
          path: ./src/chart/techcelerate-service
          valuesFiles:
            - ./src/chart/techcelerate-service/values-uat.yaml
          outPath: ./out/stages/uat/manifests.yaml
      - uses: git-commit
        as: commit
        config:
          path: ./out/stages/uat
          messageFromSteps:
          - update-image
      - uses: git-push
        as: push
        config:
          path: ./out/stages/uat
          generateTargetBranch: true
      - uses: git-open-pr
        as: open-pr
        config:
          repoURL: https://github.com/service-cicd.git
          sourceBranchFromStep: push
          targetBranch: develop
      - uses: git-wait-for-pr
        config:
          repoURL: https://github.com/service-cicd.git
          provider: gitlab
          prNumberFromStep: open-pr
        as: wait-pr
      - uses : argocd-update
        config:
          apps:
            - name: service-uat
              namespace: argocd
              sources:
                - repoURL: https://github.com/service-cicd.git
                  desiredCommitFromStep: wait-pr
`

func TestValidateStage(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name:     "seed document's Stage",
		manifest: seedStage,
	}, {
		name: "fully specified",
		manifest: `
metadata: {name: prod, namespace: p}
spec:
  shard: east
  vars:
  - name: repo
    value: https://github.com/example/gitops.git
  requestedFreight:
  - origin: {kind: Warehouse, name: images}
    sources:
      stages: [uat]
      requiredSoakTime: 1h
      availabilityStrategy: All
      autoPromotionOptions:
        selectionPolicy: MatchUpstream
  - origin: {kind: Warehouse, name: config}
    sources:
      direct: true
      stages: [uat, qa]
      availabilityStrategy: OneOf
      autoPromotionOptions:
        selectionPolicy: NewestFreight
  promotionTemplate:
    spec:
      vars:
      - name: _branch
        value: stage/${{ ctx.stage }}
      steps:
      - task:
          name: clone-and-render
        as: render
        vars:
        - name: path
          value: ./out
      - task:
          name: shared-push
          kind: ClusterPromotionTask
      - uses: argocd-update
        as: sync
        if: ${{ success() }}
        continueOnError: true
        retry:
          timeout: 10m
          errorThreshold: 0
        config:
          apps: [{name: prod}]
  verification:
    analysisTemplates:
    - name: smoke
    - name: shared-smoke
      kind: ClusterAnalysisTemplate
    analysisRunMetadata:
      labels: {team: web}
      annotations: {example.com/owner: web}
    args:
    - name: url
      value: https://prod.example.com
  promotionWindows: {anything: goes}
  targets: {selector: {matchLabels: {a: b}}}`,
	}, {
		name: "control-flow Stage without a template",
		manifest: `
metadata: {name: gate}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {stages: [a, b]}`,
	}, {
		name: "no requested Freight",
		manifest: `
metadata: {name: s}
spec:
  requestedFreight: []`,
		want: []string{"spec.requestedFreight: Required value: a Stage must request Freight from at least one origin"},
	}, {
		name: "origin requested twice, bad origins, source missing",
		manifest: `
metadata: {name: s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {direct: true}
  - origin: {kind: Warehouse, name: w}
    sources: {}
  - origin: {kind: Stage, name: x}
    sources: {direct: true}
  - origin: {kind: Warehouse, name: ""}
    sources: {stages: ["Up_Stream"]}`,
		want: []string{
			`spec.requestedFreight[1].origin: Duplicate value: "Warehouse/w": already used at spec.requestedFreight[0].origin`,
			"spec.requestedFreight[1].sources: Required value: need direct or stages: set direct: true",
			`spec.requestedFreight[2].origin.kind: Unsupported value: "Stage": supported values: "Warehouse"`,
			"spec.requestedFreight[3].origin.name: Required value",
			"spec.requestedFreight[3].sources.stages[0]: an upstream Stage's name must be a valid object name",
		},
	}, {
		name: "MatchUpstream with direct and two upstream Stages",
		manifest: `
metadata: {name: s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources:
      direct: true
      stages: [a, b]
      autoPromotionOptions: {selectionPolicy: MatchUpstream}
  - origin: {kind: Warehouse, name: v}
    sources:
      direct: true
      autoPromotionOptions: {selectionPolicy: MatchUpstream}`,
		want: []string{
			"spec.requestedFreight[0].sources.autoPromotionOptions.selectionPolicy: MatchUpstream follows what one upstream Stage has, so it cannot take Freight directly",
			"spec.requestedFreight[0].sources.autoPromotionOptions.selectionPolicy: MatchUpstream needs exactly one upstream Stage to match, but stages lists 2",
			"spec.requestedFreight[1].sources.autoPromotionOptions.selectionPolicy: cannot take Freight directly",
			"spec.requestedFreight[1].sources.autoPromotionOptions.selectionPolicy: stages lists 0",
		},
	}, {
		name: "source enums and soak time",
		manifest: `
metadata: {name: s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources:
      stages: [a]
      requiredSoakTime: -1h
      availabilityStrategy: Any
      autoPromotionOptions: {selectionPolicy: Oldest}`,
		want: []string{
			"spec.requestedFreight[0].sources.requiredSoakTime: must not be negative",
			`spec.requestedFreight[0].sources.availabilityStrategy: Unsupported value: "Any": supported values: "All", "OneOf"`,
			`spec.requestedFreight[0].sources.autoPromotionOptions.selectionPolicy: Unsupported value: "Oldest"`,
		},
	}, {
		name: "template without steps",
		manifest: `
metadata: {name: s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps: []`,
		want: []string{"spec.promotionTemplate.spec.steps: Required value: a promotion template needs at least one step: " +
			"add a step such as {uses: git-clone, config: {...}}, or remove promotionTemplate"},
	}, {
		name: "step rules",
		manifest: `
metadata: {name: s}
spec:
  vars:
  - name: my-var
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {direct: true}
  promotionTemplate:
    spec:
      vars:
      - name: ""
      - name: 1st
      steps:
      - as: nothing
      - uses: git-clone
        task: {name: t}
      - task: {name: t, kind: Task}
        config: {a: 1}
        retry: {errorThreshold: 3}
        if: ${{ true }}
        continueOnError: true
      - task: {name: Bad_Name}
        as: step-3
      - uses: git-push
        as: task-0
      - uses: git-push
        as: push
      - uses: git-push
        as: " push "
        vars:
        - name: bad.name
      - uses: git-push
        retry: {timeout: -1s}`,
		want: []string{
			"spec.vars[0].name: Invalid value: \"my-var\": a variable name must start with a letter or '_'",
			"spec.promotionTemplate.spec.vars[0].name: Required value",
			`spec.promotionTemplate.spec.vars[1].name: Invalid value: "1st"`,
			"spec.promotionTemplate.spec.steps[0].uses: Required value: a step needs exactly one of uses (a built-in step such as git-clone) or task",
			`spec.promotionTemplate.spec.steps[1]: Forbidden: a step runs either a built-in step (uses: "git-clone") or a task (task: "t"), not both`,
			`spec.promotionTemplate.spec.steps[2].task.kind: Unsupported value: "Task": supported values: "PromotionTask", "ClusterPromotionTask"`,
			"spec.promotionTemplate.spec.steps[2].config: Forbidden: a step that references a task takes its behaviour from the task's steps: pass values to the task with vars",
			"spec.promotionTemplate.spec.steps[2].retry: Forbidden",
			"spec.promotionTemplate.spec.steps[2].if: Forbidden",
			"spec.promotionTemplate.spec.steps[2].continueOnError: Forbidden",
			"spec.promotionTemplate.spec.steps[3].task.name: the task's name must be a valid object name",
			`spec.promotionTemplate.spec.steps[3].as: Invalid value: "step-3": aliases of the form step-N and task-N are reserved`,
			`spec.promotionTemplate.spec.steps[4].as: Invalid value: "task-0": aliases of the form step-N and task-N are reserved`,
			`spec.promotionTemplate.spec.steps[6].as: Duplicate value: "push": already used at spec.promotionTemplate.spec.steps[5].as`,
			`spec.promotionTemplate.spec.steps[6].vars[0].name: Invalid value: "bad.name"`,
			"spec.promotionTemplate.spec.steps[7].retry.timeout: must not be negative",
		},
	}, {
		name: "verification rules",
		manifest: `
metadata: {name: s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {direct: true}
  verification:
    analysisTemplates:
    - name: ""
    - name: t
      kind: Template
    analysisRunMetadata:
      labels: {"bad key!": x}
      annotations: {"also bad!": "z"}
    args:
    - name: url
    - value: x`,
		want: []string{
			"spec.verification.analysisTemplates[0].name: Required value",
			`spec.verification.analysisTemplates[1].kind: Unsupported value: "Template"`,
			"spec.verification.analysisRunMetadata.labels: Invalid value: \"bad key!\"",
			"spec.verification.analysisRunMetadata.annotations: Invalid value: \"also bad!\"",
			"spec.verification.args[0].value: Required value: an argument needs a value",
			"spec.verification.args[1].name: Required value: an argument needs the name",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidateStage(decodeManifest[Stage](t, tt.manifest)), tt.want...)
		})
	}
}

func TestValidatePromotionTasks(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name: "valid",
		manifest: `
metadata: {name: render}
spec:
  vars:
  - name: path
  - name: repo
    value: https://github.com/example/gitops.git
  steps:
  - uses: git-clone
    as: clone
    config: {repoURL: "${{ vars.repo }}"}
  - uses: kustomize-build
    if: ${{ outputs.clone != nil }}
    continueOnError: true
    retry: {timeout: 5m, errorThreshold: 2}
    config: {path: "${{ vars.path }}"}`,
	}, {
		name: "no steps",
		manifest: `
metadata: {name: t}
spec:
  steps: []`,
		want: []string{"spec.steps: Required value: a TASK needs at least one step"},
	}, {
		name: "tasks do not nest, and the shared rules apply",
		manifest: `
metadata: {name: t}
spec:
  vars:
  - name: a-b
  steps:
  - task: {name: other}
  - config: {a: 1}
  - uses: x
    as: step-0
  - uses: yy
    as: dup
  - uses: z
    as: dup`,
		want: []string{
			"spec.vars[0].name: Invalid value: \"a-b\"",
			"spec.steps[0].task: Forbidden: the steps of a TASK cannot reference a task: tasks cannot be nested",
			"spec.steps[1].uses: Required value: a step needs uses, the built-in step to run",
			`spec.steps[2].as: Invalid value: "step-0": aliases of the form step-N and task-N are reserved`,
			`spec.steps[4].as: Duplicate value: "dup"`,
		},
	}}
	for _, kind := range []string{"PromotionTask", "ClusterPromotionTask"} {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				want := make([]string, len(tt.want))
				for i, w := range tt.want {
					want[i] = string(bytes.ReplaceAll([]byte(w), []byte("TASK"), []byte(kind)))
				}
				var errs field.ErrorList
				if kind == "PromotionTask" {
					errs = ValidatePromotionTask(decodeManifest[PromotionTask](t, tt.manifest))
				} else {
					errs = ValidateClusterPromotionTask(decodeManifest[ClusterPromotionTask](t, tt.manifest))
				}
				assertErrors(t, errs, want...)
			})
		}
	}
}

// TestValidateExamples checks that the example manifests shipped with
// Caravan, and the seed document's manifests kept in testdata, pass
// validation.
func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := filepath.Glob(filepath.Join("testdata", "seed-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, seeds...)
	if len(files) == 0 {
		t.Skip("no example manifests found")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---")) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s[%d]: %v", file, i, err)
			}
			if meta.APIVersion != GroupVersion.String() {
				continue
			}
			var errs field.ErrorList
			switch meta.Kind {
			case "Project":
				errs = ValidateProject(decodeManifest[Project](t, string(doc)))
			case "ProjectConfig":
				errs = ValidateProjectConfig(decodeManifest[ProjectConfig](t, string(doc)))
			case "Warehouse":
				errs = ValidateWarehouse(decodeManifest[Warehouse](t, string(doc)))
			case "Stage":
				errs = ValidateStage(decodeManifest[Stage](t, string(doc)))
			case "PromotionTask":
				errs = ValidatePromotionTask(decodeManifest[PromotionTask](t, string(doc)))
			default:
				continue
			}
			for _, err := range errs {
				t.Errorf("%s[%d] (%s): %v", file, i, meta.Kind, err)
			}
		}
	}
}
