package steps

import (
	"context"
	"testing"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// nopWriter is a MetadataWriter and AliasWriter that writes nothing.
type nopWriter struct{}

func (nopWriter) SetStageMetadata(context.Context, string, string, map[string]any) error { return nil }
func (nopWriter) SetFreightMetadata(context.Context, string, string, map[string]any) error {
	return nil
}
func (nopWriter) SetFreightAlias(context.Context, string, string, string) error { return nil }

// TestBuiltins: every built-in step registers once under Kargo's name and
// its schema compiles (NewRegistry and NewEngine panic otherwise); the
// steps that write outside the workspace need their writers.
func TestBuiltins(t *testing.T) {
	cases := []struct {
		name    string
		deps    Deps
		with    []string
		without []string
	}{
		{"without writers", Deps{}, []string{"git-clone", "git-push", "kustomize-build", "http", "fail", "compose-output"},
			[]string{"set-metadata", "set-freight-alias"}},
		{"with writers", Deps{Metadata: nopWriter{}, Aliases: nopWriter{}}, []string{"set-metadata", "set-freight-alias"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := promotion.NewRegistry(Builtins(tc.deps)...)
			promotion.NewEngine(promotion.EngineOptions{Registry: reg})
			for _, name := range tc.with {
				if _, ok := reg[name]; !ok {
					t.Errorf("step %s is not registered", name)
				}
			}
			for _, name := range tc.without {
				if _, ok := reg[name]; ok {
					t.Errorf("step %s is registered without its dependency", name)
				}
			}
		})
	}
}
