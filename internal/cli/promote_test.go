package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func promotionObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPromotionFailure: what `promote --wait` says when a Promotion did not
// succeed names the step that ended it, once.
func TestPromotionFailure(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"the engine's message names the step", `
metadata: {name: test.x.abc}
spec: {steps: [{uses: git-clone}, {uses: git-push, as: push}]}
status:
  phase: Failed
  message: 'step 1 "push" (git-push) failed: rejected'
  currentStep: 1
  stepExecutionMetadata: [{alias: step-0, status: Succeeded}, {alias: push, status: Failed, message: rejected}]
`, `promotion/test.x.abc Failed: step 1 "push" (git-push) failed: rejected`},
		{"a message that does not name it", `
metadata: {name: test.x.abc}
spec: {steps: [{uses: git-clone}, {uses: http}]}
status:
  phase: Aborted
  message: Promotion terminated by bob
  currentStep: 1
  stepExecutionMetadata: [{alias: step-0, status: Succeeded}, {alias: step-1, status: Aborted, message: aborted while it was waiting}]
`, `promotion/test.x.abc Aborted at step 1 "step-1" (http): Promotion terminated by bob; aborted while it was waiting`},
		{"no steps ran", `
metadata: {name: test.x.abc}
status: {phase: Errored, message: Stage "test" does not exist}
`, `promotion/test.x.abc Errored: Stage "test" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := promotionFailure(promotionObject(t, tc.doc)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPrintPromotionSteps: `get promotion NAME` lists every step, those not
// yet run included.
func TestPrintPromotionSteps(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	u := promotionObject(t, `
metadata: {name: test.x.abc}
spec: {steps: [{uses: git-clone}, {uses: http, as: gate}, {uses: git-push}]}
status:
  phase: Running
  message: ""
  currentStep: 1
  stepExecutionMetadata:
  - {alias: step-0, status: Succeeded, startedAt: "2026-03-01T12:00:00Z", finishedAt: "2026-03-01T12:00:00Z"}
  - {alias: gate, status: Running, errorCount: 2, startedAt: "2026-03-01T12:00:01Z", message: "not yet\nready"}
`)
	var b bytes.Buffer
	if err := printPromotionSteps(&b, u, start.Add(31*time.Second)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][]string{
		{"STEP", "ALIAS", "USES", "STATUS", "ERRORS", "DURATION", "MESSAGE"},
		{"0", "step-0", "git-clone", "Succeeded", "-", "<1s"},
		{"1", "gate", "http", "Running", "2", "30s", "not", "yet…"},
		{"2", "step-2", "git-push", "-", "-", "-"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: got %q, want %q", i, got, w)
		}
	}
}
