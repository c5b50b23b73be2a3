package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pipelineManifests is a project whose Warehouse subscribes to a Git
// repository nobody serves (the Freight is applied by hand), with Stages
// test (direct) → gate (control flow), uat → prod, whose steps write one
// file in their workspace, and one Freight.
var pipelineManifests = `apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: shop}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: shop, namespace: shop}
spec:
  interval: 1h
  subscriptions:
  - git: {repoURL: "http://127.0.0.1:9/app.git", branch: main}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: x, namespace: shop}
alias: lucky-cat
origin: {kind: Warehouse, name: shop}
commits:
- {repoURL: "http://127.0.0.1:9/app.git", id: "1111111111111111111111111111111111111111"}
` + stageDocs

var stageDocs = pipelineStage("test", "direct: true", true) +
	pipelineStage("gate", "stages: [test]", false) +
	pipelineStage("uat", "stages: [test]", true) +
	pipelineStage("prod", "stages: [uat]", true)

func pipelineStage(name, sources string, steps bool) string {
	doc := fmt.Sprintf(`---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: %s, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {%s}
`, name, sources)
	if steps {
		doc += "  promotionTemplate:\n    spec:\n      steps:\n      - uses: file-write\n        config: {path: done.txt, contents: ok}\n"
	}
	return doc
}

// freightJSON is the part of a Freight the tests read.
type freightJSON struct {
	Metadata struct{ Name string }
	Status   struct {
		VerifiedIn  map[string]any
		ApprovedFor map[string]any
	}
}

// TestApproveAndPromoteDownstream drives approvals and promotions along a
// pipeline through the real binary.
func TestApproveAndPromoteDownstream(t *testing.T) {
	e := newEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := e.startServer(t, "--data-dir", dataDir)
	conn := []string{"--server", srv.url, "--token-file", filepath.Join(dataDir, "admin-token")}
	run := func(stdin string, args ...string) result {
		t.Helper()
		return e.caravan(t, strings.NewReader(stdin), append(args, conn...)...)
	}
	must := func(args ...string) result {
		t.Helper()
		r := run("", args...)
		if r.code != 0 {
			t.Fatalf("caravan %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	if r := run(pipelineManifests, "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	freight := func() freightJSON {
		t.Helper()
		var list struct{ Items []freightJSON }
		if err := json.Unmarshal([]byte(must("get", "freight", "-p", "shop", "-o", "json").stdout), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Fatalf("%d Freight, want 1", len(list.Items))
		}
		return list.Items[0]
	}
	id := freight().Metadata.Name

	// Into test by hand, then downstream of test: uat gets a Promotion, the
	// control-flow gate is skipped with the reason.
	must("promote", "-p", "shop", "--stage", "test", "--freight-alias", "lucky-cat", "--wait", "--timeout", "45s")
	waitFor(t, "the Freight to be verified in test", func() bool { return freight().Status.VerifiedIn["test"] != nil })

	r := run("", "promote", "-p", "shop", "--downstream-from", "prod", "--freight", "lucky-cat")
	if r.code != 1 || !strings.Contains(r.stderr, `is not verified in Stage "prod"`) {
		t.Errorf("downstream from prod before prod has it: %s", r)
	}
	r = must("promote", "-p", "shop", "--downstream-from", "test", "--freight", "lucky-cat", "--wait", "--timeout", "45s")
	if !regexp.MustCompile(`(?m)^promotion/uat\.[0-9a-z]{26}\.[0-9a-f]{7} created \(stage/uat\)$`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "stage/gate skipped: Stage \"gate\" is a control-flow Stage") ||
		strings.Contains(r.stdout, "stage/prod") {
		t.Errorf("promote --downstream-from test:\n%s", r)
	}
	waitFor(t, "the Freight to be verified in uat and gate", func() bool {
		f := freight()
		return f.Status.VerifiedIn["uat"] != nil && f.Status.VerifiedIn["gate"] != nil
	})

	// An approval makes Freight available without verification upstream:
	// approve it for a fresh Stage, then promote it by origin.
	if r := run(pipelineStage("hotfix", "stages: [prod]", true), "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply hotfix: %s", r)
	}
	r = run("", "promote", "-p", "shop", "--stage", "hotfix", "--warehouse", "shop")
	if r.code != 1 || !strings.Contains(r.stderr, `no Freight from Warehouse "shop" is available to Stage "hotfix"`) ||
		!strings.Contains(r.stderr, `not verified in upstream Stage "prod"`) {
		t.Errorf("promote by origin before the approval: %s", r)
	}
	r = must("approve", "-p", "shop", "--freight", "lucky-cat", "--stage", "hotfix")
	if want := fmt.Sprintf("freight/%s (alias lucky-cat) approved for stage/hotfix\n", id); r.stdout != want {
		t.Errorf("approve printed %q, want %q", r.stdout, want)
	}
	r = must("promote", "-p", "shop", "--stage", "hotfix", "--warehouse", "shop", "--wait", "--timeout", "45s")
	if !strings.Contains(r.stdout, "(freight/"+id+")") || !strings.Contains(r.stdout, "Succeeded") {
		t.Errorf("promote by origin: %s", r)
	}

	// The approval is recorded with its actor.
	var events struct {
		Items []struct {
			Reason   string
			Message  string
			Metadata struct{ Annotations map[string]string }
		}
	}
	if err := json.Unmarshal([]byte(must("get", "events", "-p", "shop", "-o", "json").stdout), &events); err != nil {
		t.Fatal(err)
	}
	approved := 0
	for _, ev := range events.Items {
		if ev.Reason == "FreightApproved" {
			approved++
			if a := ev.Metadata.Annotations["event.kargo.akuity.io/actor"]; a != "admin" || ev.Message != `Freight approved for Stage "hotfix" by "admin"` {
				t.Errorf("FreightApproved event: actor %q, message %q", a, ev.Message)
			}
		}
	}
	if approved != 1 {
		t.Errorf("%d FreightApproved events, want 1", approved)
	}

	// Mistakes are refused with what to do.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "-p", "shop", "--freight", "lucky-cat", "--stage", "nope"}, `Stage "nope" does not exist in project "shop"`},
		{[]string{"approve", "-p", "shop", "--freight", "no-such", "--stage", "uat"}, `no Freight named or aliased "no-such"`},
		{[]string{"approve", "-p", "shop", "--freight", "lucky-cat"}, "--stage STAGE"},
		{[]string{"promote", "-p", "shop", "--downstream-from", "test"}, "--freight NAME|ALIAS"},
		{[]string{"promote", "-p", "shop", "--downstream-from", "test", "--stage", "uat", "--freight", "x"}, "drop --stage"},
		{[]string{"promote", "-p", "shop", "--stage", "uat", "--warehouse", "shop", "--freight", "x"}, "drop --freight"},
	} {
		r := run("", tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("caravan %s: %s\nwant exit 1 and %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
}
