package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// This file holds the test helpers of the file, data and utility steps:
// schema validation as the engine does it, running a step against a real
// workspace directory, and running it twice to prove it idempotent.

// configJSON turns a config written as YAML (or JSON) into JSON.
func configJSON(t *testing.T, config string) json.RawMessage {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(config))
	if err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, config)
	}
	return b
}

// schemaMessages validates config against step's schema and returns one
// message per failed constraint, as "<instance location>: <message>".
func schemaMessages(t *testing.T, step promotion.Step, config string) []string {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(step.Schema()))
	if err != nil {
		t.Fatalf("%s: schema is not JSON: %v", step.Name(), err)
	}
	c := jsonschema.NewCompiler()
	url := "mem:///" + step.Name() + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("%s: add schema: %v", step.Name(), err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: compile schema: %v", step.Name(), err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(configJSON(t, config)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	if _, ok := err.(*jsonschema.ValidationError); !ok {
		t.Fatalf("validate: %v", err)
	}
	// The error lists every failed constraint as "- at '<location>': ...".
	var msgs []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "- at ") {
			msgs = append(msgs, strings.TrimPrefix(line, "- "))
		}
	}
	return msgs
}

// validationCase is one row of a step's validation table: a config and
// what must be said about it. When the config fails the schema, want must
// be part of one of the schema's messages; when it passes, the step is run
// in a workspace holding files and want must be part of its error. An
// empty want means the config is valid.
type validationCase struct {
	name   string
	config string
	files  map[string]string
	want   string
}

// checkValidation runs a validation table for step.
func checkValidation(t *testing.T, step promotion.Step, cases []validationCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := schemaMessages(t, step, tc.config)
			if len(msgs) > 0 {
				if tc.want == "" || !containsPart(msgs, tc.want) {
					t.Fatalf("schema says:\n  %s\nwant a message containing %q", strings.Join(msgs, "\n  "), tc.want)
				}
				return
			}
			if tc.want == "" {
				return
			}
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := runStep(t, step, dir, tc.config)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("schema accepts the config and Run returns %v; want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), dir) {
				t.Fatalf("the message reveals the workspace's location: %v", err)
			}
		})
	}
}

func containsPart(msgs []string, part string) bool {
	for _, m := range msgs {
		if strings.Contains(m, part) {
			return true
		}
	}
	return false
}

// runStep runs step once with config in workDir.
func runStep(t *testing.T, step promotion.Step, workDir, config string) (promotion.StepResult, error) {
	t.Helper()
	return step.Run(context.Background(), stepContext(t, workDir, config))
}

// stepContext builds the StepContext a promotion of stage "test" in project
// "demo" gives a step.
func stepContext(t *testing.T, workDir, config string) *promotion.StepContext {
	t.Helper()
	return &promotion.StepContext{
		Project:   "demo",
		Stage:     "test",
		Promotion: "test.01j00000000000000000000000.abc1234",
		Alias:     "step-1",
		WorkDir:   workDir,
		Config:    configJSON(t, config),
		Attempt:   1,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// runTwice runs step twice with the same config and workspace, requires both
// runs to succeed alike, and returns the result.
func runTwice(t *testing.T, step promotion.Step, workDir, config string) promotion.StepResult {
	t.Helper()
	first, err := runStep(t, step, workDir, config)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	second, err := runStep(t, step, workDir, config)
	if err != nil {
		t.Fatalf("second run (idempotency): %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("second run differs from the first:\nfirst:  %#v\nsecond: %#v", first, second)
	}
	return second
}

// writeFiles writes files (relative path → contents) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readFile returns the contents of dir/rel.
func readFile(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// listTree returns the workspace-relative paths under dir (directories with
// a trailing slash, symlinks as "path -> target"), sorted.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
