package expr

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string // substring of the error; "" for none
	}{
		{"comparison of lookups", `imageFrom("a/b").Tag == chartFrom("oci://a/c", "n").Version`, ""},
		{"every context function compiles", `secret("s").a + configMap("c").b + sharedSecret("s").a + sharedConfigMap("c").b` +
			` + status("x") + string(success()) + string(failure()) + string(freightMetadata("f")) + string(freightStatus("f"))` +
			` + string(stageMetadata("s")) + string(artifactFrom("sub", warehouse("w")))`, ""},
		{"variables need not exist to compile", `vars.a + ctx.stage`, ""},
		{"builtins", `len(upper("x")) > 0 && all([1], # > 0)`, ""},
		{"let bindings are not free variables", `let f = 1; f`, ""},
		{"empty", "   ", "the expression is empty"},
		{"syntax", `(1 + 2`, "unexpected token EOF"},
		{"unknown function", `imagefrom("x")`, "unknown function imagefrom (did you mean imageFrom?)"},
		{"arity of a context function", `chartFrom("a", "b", warehouse("w"), 4)`, "chartFrom takes 1 to 3 arguments, got 4"},
		{"arity of a nullary function", `success(1)`, "success takes 0 arguments, got 1: call it as success()"},
		{"arity of a pure function", `quote()`, "not enough arguments to call quote"},
		{"type of a pure function's argument", `semverParse(1)`, "cannot use int as argument (type string) to call semverParse"},
		{"unknown method of a pure function's result", `semverParse("1.0.0").Bump()`, "Bump"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Compile(tt.expr)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Compile(%q): %v", tt.expr, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile(%q) = %v, want an error containing %q", tt.expr, err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || !e.Compile {
				t.Errorf("Compile(%q) error is %T, want a compile *Error", tt.expr, err)
			}
		})
	}
}

func TestCompileTemplate(t *testing.T) {
	tests := []struct {
		template string
		want     string
	}{
		{"plain text", ""},
		{"stage/${{ ctx.stage }}", ""},
		{"${{ a }} and ${% b %}", ""},
		{"${{ a }} and ${{ imagefrom('x') }}", "unknown function imagefrom"},
		{"${{ a ", "is never closed"},
		{"${{}}", "the expression between the delimiters is empty"},
	}
	for _, tt := range tests {
		err := CompileTemplate(tt.template)
		if tt.want == "" && err != nil {
			t.Errorf("CompileTemplate(%q): %v", tt.template, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CompileTemplate(%q) = %v, want an error containing %q", tt.template, err, tt.want)
		}
	}
}

func TestEvalKeepsNativeValues(t *testing.T) {
	img := v1alpha1.Image{RepoURL: "a/b", Tag: "1"}
	env := map[string]any{"n": 3, "img": img}
	tests := []struct {
		expr string
		want any
	}{
		{"n", 3},
		{"n * 2", 6},
		{"img", img},
		{`"42"`, "42"},
		{"warehouse('w')", v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKindWarehouse, Name: "w"}},
	}
	for _, tt := range tests {
		got, err := Eval(tt.expr, env)
		if err != nil {
			t.Fatalf("Eval(%q): %v", tt.expr, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Eval(%q) = %#v, want %#v", tt.expr, got, tt.want)
		}
	}
}

func TestProgramsAreCompiledOnceAndShared(t *testing.T) {
	src := "vars.n + 1 // compiled-once test"
	first := compile(src)
	for i := 0; i < 3; i++ {
		out, err := Eval(src, map[string]any{"vars": map[string]any{"n": i}})
		if err != nil {
			t.Fatal(err)
		}
		if out != i+1 {
			t.Errorf("Eval with n=%d = %v, want %d", i, out, i+1)
		}
	}
	if compile(src) != first {
		t.Error("the program was compiled again")
	}

	// Functions are not captured: one program serves different Freight.
	expr := `imageFrom("a/b").Tag`
	for _, tag := range []string{"1", "2"} {
		fns := FreightFunctions(Origin{Freight: ArtifactSet(nil, []v1alpha1.Image{{RepoURL: "a/b", Tag: tag}}, nil)})
		out, err := Eval(expr, nil, WithFunctions(fns...))
		if err != nil {
			t.Fatal(err)
		}
		if out != tag {
			t.Errorf("Eval over tag %s = %v", tag, out)
		}
	}

	// A failure is cached as well, and the cached error is not changed by
	// the hint a template adds to it.
	bad := " '{{x "
	if compile(bad) != compile(bad) {
		t.Error("the failed compilation was not cached")
	}
	if _, err := EvaluateTemplate("${{ '{{x }} }}", nil); err == nil || !strings.Contains(err.Error(), "instead") {
		t.Errorf("error = %v, want the hint about ${%% %%}", err)
	}
	if strings.Contains(compile(bad).err.Error(), "instead") {
		t.Error("the cached error was changed")
	}
}

func TestProgramCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newProgramCache(3)
	p := func(i int) *program { return &program{vars: []string{fmt.Sprint(i)}} }
	c.put("a", p(1))
	c.put("b", p(2))
	c.put("c", p(3))
	if _, ok := c.get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("d", p(4)) // evicts b
	if _, ok := c.get("b"); ok {
		t.Error("b should have been evicted")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%s was evicted", k)
		}
	}
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
}

func TestConcurrentEvaluations(t *testing.T) {
	raw := []byte(`{"tag": "${{ imageFrom('a/b').Tag }}", "stage": "s-${{ ctx.stage }}", "n": "${{ vars.n * 2 }}"}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			fns := FreightFunctions(Origin{Freight: ArtifactSet(nil, []v1alpha1.Image{{RepoURL: "a/b", Tag: fmt.Sprint(g)}}, nil)})
			env := map[string]any{"ctx": map[string]any{"stage": g}, "vars": map[string]any{"n": g}}
			for i := 0; i < 50; i++ {
				out, err := EvaluateJSONTemplate(raw, env, WithFunctions(fns...))
				if err != nil {
					errs <- err
					return
				}
				want := fmt.Sprintf(`{"n":%d,"stage":"s-%d","tag":%d}`, 2*g, g, g)
				if string(out) != want {
					errs <- fmt.Errorf("goroutine %d: got %s, want %s", g, out, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTextToValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"", ""},
		{"\n", "\n"},
		{`""`, ""},
		{`"`, `"`},
		{`"a"b"`, `a"b`},
		{"-1.5", -1.5},
		{"+3", float64(3)},
		{".5", 0.5},
		{"NaN", "NaN"},
		{"Infinity", "Infinity"},
		{"1e400", "1e400"},
		{"null", nil},
		{"[1, {\"a\": 9007199254740993}]", []any{float64(1), map[string]any{"a": int64(9007199254740993)}}},
		{"{not json}", "{not json}"},
		{"tru", "tru"},
		{"FALSE", false},
		{"f", "f"},
		{"yes", "yes"},
	}
	for _, tt := range tests {
		if got := textToValue(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("textToValue(%q) = %#v (%T), want %#v (%T)", tt.in, got, got, tt.want, tt.want)
		}
	}
}
