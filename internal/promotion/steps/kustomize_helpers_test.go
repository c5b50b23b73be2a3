package steps

// Test helpers shared by the kustomize and helm step tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion"
)

// khSchemaCase is one row of a config validation table: the config as
// YAML-ish JSON and the fragments the error must contain (none: valid).
type khSchemaCase struct {
	name    string
	config  string
	wantErr []string
}

// khCheckSchemas validates each case's config against step's schema, as
// the engine does before Run.
func khCheckSchemas(t *testing.T, step promotion.Step, cases []khSchemaCase) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(step.Schema()))
	if err != nil {
		t.Fatalf("schema of %s is not JSON: %v", step.Name(), err)
	}
	c := jsonschema.NewCompiler()
	url := "mem:///" + step.Name() + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("add schema of %s: %v", step.Name(), err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile schema of %s: %v", step.Name(), err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.config))
			if err != nil {
				t.Fatalf("config is not JSON: %v", err)
			}
			err = sch.Validate(inst)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid config accepted, want an error about %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// khWriteTree writes files (path relative to dir → content) under dir.
func khWriteTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// khFile is a file's content and modification time.
type khFile struct {
	content string
	modTime time.Time
}

// khSnapshot reads every regular file under dir (relative slash paths).
func khSnapshot(t *testing.T, dir string) map[string]khFile {
	t.Helper()
	out := map[string]khFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = khFile{content: string(b), modTime: fi.ModTime()}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

// khSameSnapshot fails the test unless two snapshots hold the same files
// with the same contents and modification times (nothing was rewritten).
func khSameSnapshot(t *testing.T, before, after map[string]khFile) {
	t.Helper()
	for name, a := range after {
		b, ok := before[name]
		switch {
		case !ok:
			t.Errorf("second run created %s", name)
		case a.content != b.content:
			t.Errorf("second run changed %s:\n--- first\n%s\n--- second\n%s", name, b.content, a.content)
		case !a.modTime.Equal(b.modTime):
			t.Errorf("second run rewrote %s with the same content", name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Errorf("second run removed %s", name)
		}
	}
}

// khRun runs step in workDir with config (JSON) and freight.
func khRun(t *testing.T, step promotion.Step, workDir, config string, freight kargoapi.FreightCollection) (promotion.StepResult, error) {
	t.Helper()
	if !json.Valid([]byte(config)) {
		t.Fatalf("config is not JSON: %s", config)
	}
	return step.Run(context.Background(), &promotion.StepContext{
		Project: "demo", Stage: "test", Promotion: "test.01",
		Alias: "step-1", WorkDir: workDir, Config: json.RawMessage(config),
		Freight: freight, Attempt: 1,
	})
}

// khFreight builds a Freight collection from origins (Warehouse name →
// Freight reference without its origin).
func khFreight(refs map[string]kargoapi.FreightReference) kargoapi.FreightCollection {
	fc := kargoapi.FreightCollection{Freight: map[string]kargoapi.FreightReference{}}
	for name, ref := range refs {
		ref.Origin = kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: name}
		ref.Name = "f-" + name
		fc.Freight["Warehouse/"+name] = ref
	}
	return fc
}
