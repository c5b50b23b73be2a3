package expr

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// testEnv is the environment of the template tests.
func testEnv() map[string]any {
	return map[string]any{
		"ctx": map[string]any{"project": "shop", "stage": "uat"},
		"vars": map[string]any{
			"str":       "hello",
			"numText":   "42",
			"boolText":  "true",
			"tText":     "t",
			"jsonText":  `{"a": 1}`,
			"quoted":    `say "hi"`,
			"multiline": "line1\nline2",
			"int":       7,
			"float":     2.5,
			"yes":       true,
			"list":      []string{"a", "b"},
			"map":       map[string]int{"x": 1},
			"nothing":   nil,
			"html":      "<a&b>",
			"bigText":   "12345678901234567890",
			"big":       int64(9007199254740993),
			"inf":       "inf",
			"version":   "v1.2.3",
		},
	}
}

func TestEvaluateTemplate(t *testing.T) {
	tests := []struct {
		name     string
		template string
		want     any
	}{
		// Strings without expressions are never converted.
		{"no expression stays a string", "42", "42"},
		{"no expression: true stays a string", "true", "true"},
		{"no expression: JSON stays a string", `{"a": 1}`, `{"a": 1}`},
		{"lone dollar brace is not an expression", "${HOME} and $ {{x}}", "${HOME} and $ {{x}}"},

		// One whole-string expression: its value, as JSON types.
		{"whole string: string", "${{ vars.str }}", "hello"},
		{"whole string: int becomes a number", "${{ vars.int }}", float64(7)},
		{"whole string: arithmetic", "${{ 40 + 2 }}", float64(42)},
		{"whole string: float", "${{ vars.float }}", 2.5},
		{"whole string: bool", "${{ vars.yes }}", true},
		{"whole string: comparison", "${{ ctx.stage == 'uat' }}", true},
		{"whole string: nil is null", "${{ vars.nothing }}", nil},
		{"whole string: missing map key is null", "${{ vars.absent }}", nil},
		{"whole string: list", "${{ vars.list }}", []any{"a", "b"}},
		{"whole string: map", "${{ vars.map }}", map[string]any{"x": float64(1)}},
		{"whole string: map literal", "${{ {'k': [1, 'two']} }}", map[string]any{"k": []any{float64(1), "two"}}},
		{"whole string: struct by its JSON names", "${{ warehouse('w') }}", map[string]any{"kind": "Warehouse", "name": "w"}},
		{"whole string: text of a number becomes a number", "${{ vars.numText }}", float64(42)},
		{"whole string: text true becomes a bool", "${{ vars.boolText }}", true},
		{"whole string: text of JSON becomes JSON", "${{ vars.jsonText }}", map[string]any{"a": float64(1)}},
		{"whole string: null text becomes null", `${{ "null" }}`, nil},
		{"whole string: surrounding spaces are kept", "  ${{ vars.str }} ", "  hello "},
		{"whole string: padded number", " ${{ 1 }} ", float64(1)},
		{"whole string: the other delimiters", "${% vars.str %}", "hello"},

		// Kargo's conversion, and where Caravan keeps more than Kargo.
		{"YAML-only bool spellings", "${{ 'True' }}", true},
		{"single-letter t stays a string", "${{ vars.tText }}", "t"},
		{"leading zeros read as a number", "${{ '007' }}", float64(7)},
		{"inf stays a string", "${{ vars.inf }}", "inf"},
		{"integer beyond float64 keeps its value", "${{ vars.big }}", int64(9007199254740993)},
		{"integer text beyond int64 keeps its value", "${{ vars.bigText }}", uint64(12345678901234567890)},
		{"exponent", "${{ '1e3' }}", float64(1000)},
		{"version-like text stays a string", "${{ vars.version }}", "v1.2.3"},
		{"trailing newline set aside for numbers", "${{ 42 }}\n", float64(42)},
		{"trailing newline kept on strings", "${{ vars.str }}\n", "hello\n"},
		{"blank lines around JSON text are ignored, as in Kargo", "${{ 42 }}\n\n", float64(42)},
		{"quoted text with blank lines reads as a JSON string", "${{ quote(1) }}\n\n", "1"},
		{"text with two trailing newlines stays as it is", "${{ vars.str }}\n\n", "hello\n\n"},

		// quote() and friends.
		{"quote a number", "${{ quote(40 + 2) }}", "42"},
		{"quote a bool", "${{ quote(true) }}", "true"},
		{"quote null", "${{ quote(nil) }}", "null"},
		{"quote a map", "${{ quote({'foo': 'bar'}) }}", `{"foo":"bar"}`},
		{"quote a string is the string", "${{ quote('foo') }}", "foo"},
		{"quote a numeric string", "${{ quote(vars.numText) }}", "42"},
		{"quote keeps quotes and newlines verbatim", "${{ quote(vars.quoted) }}", `say "hi"`},
		{"quote a multi-line string", "${{ quote(vars.multiline) }}", "line1\nline2"},
		{"quote with a block scalar newline", "${{ quote(42) }}\n", "42\n"},
		{"quote inside text keeps its quotes", "n=${{ quote(1) }}", `n="1"`},
		{"unsafeQuote of a string keeps quotes", "${{ unsafeQuote('foo') }}", `"foo"`},
		{"unsafeQuote of a number", "${{ unsafeQuote(42) }}", "42"},
		{"asJSON", "${{ asJSON({'a': [1, 2]}) }}", "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n"},
		{"asYAML", "${{ asYAML({'a': [1, 2]}) }}", "a:\n    - 1\n    - 2\n"},
		{"pipe into quote", "${{ vars.int | quote() }}", "7"},

		// Several parts: the text is interpolated, then converted.
		{"text around an expression", "stage/${{ ctx.stage }}", "stage/uat"},
		{"two expressions", "${{ ctx.project }}-${{ ctx.stage }}", "shop-uat"},
		{"numbers are written as JSON", "v${{ vars.int }}.${{ vars.float }}", "v7.2.5"},
		{"maps are written as JSON", "m=${{ vars.map }}", `m={"x":1}`},
		{"HTML characters are not escaped", "<${{ vars.html }}>", "<<a&b>>"},
		{"interpolated digits become a number, as in Kargo", "${{ 1 }}${{ 2 }}", float64(12)},
		{"interpolated true becomes a bool, as in Kargo", "${{ 'tr' }}ue", true},
		{"mixed delimiters", "foo ${{ vars.str }} and ${% 'bar' %}", "foo hello and bar"},
		{"${% %} allows }} inside", "${% '{{.domain}}' %}", "{{.domain}}"},
		{"${{ }} allows %} inside", "${{ '%}' }}", "%}"},

		// expr-lang features.
		{"let", "${{ let x = vars.int; x * 2 }}", float64(14)},
		{"predicate", "${{ filter([1, 2, 3], # > 1) }}", []any{float64(2), float64(3)}},
		{"nil coalescing", "${{ vars.absent ?? 'default' }}", "default"},
		{"optional chaining", "${{ vars.nothing?.x ?? 'none' }}", "none"},
		{"semverParse", "${{ semverParse(vars.version).IncMinor().String() }}", "1.3.0"},
		{"semverDiff", "${{ semverDiff('1.2.3', '1.3.0') }}", "Minor"},
		{"semverDiff incomparable", "${{ semverDiff('x', '1.3.0') }}", "Incomparable"},
		{"always", "${{ always() }}", true},
		{"env via $env", "${{ $env.ctx.stage }}", "uat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateTemplate(tt.template, testEnv())
			if err != nil {
				t.Fatalf("EvaluateTemplate(%q): %v", tt.template, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EvaluateTemplate(%q) = %#v (%T), want %#v (%T)", tt.template, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestEvaluateTemplateErrors(t *testing.T) {
	freight := WithFunctions(FreightFunctions(Origin{Freight: ArtifactSet(nil,
		[]v1alpha1.Image{{RepoURL: "ghcr.io/acme/shop", Tag: "1.0.0"}}, nil)})...)
	tests := []struct {
		name     string
		template string
		env      map[string]any
		opts     []Option
		compile  bool     // the error is a compile error
		want     []string // substrings of the message
	}{
		{
			name: "unknown function with a suggestion", template: "${{ imageFron('x').Tag }}", compile: true,
			want: []string{`invalid expression "imageFron('x').Tag"`, "unknown function imageFron", "did you mean imageFrom?"},
		},
		{
			name: "unknown function without a near name", template: "${{ frobnicate() }}", compile: true,
			want: []string{"unknown function frobnicate;", "imageFrom"},
		},
		{
			name: "unknown variable lists the variables", template: "${{ ctxx.stage }}", env: testEnv(),
			want: []string{"unknown variable ctxx (did you mean ctx?)", "the variables here are ctx, vars"},
		},
		{
			name: "no variables at all", template: "${{ vars.x }}",
			want: []string{"unknown variable vars; no variables are defined here"},
		},
		{
			name: "context function not provided", template: "${{ secret('slack').token }}", opts: []Option{freight},
			want: []string{"function secret is not available here", "only chartFrom, commitFrom, imageFrom are"},
		},
		{
			name: "too many arguments", template: "${{ imageFrom('a', 'b', 'c') }}", compile: true,
			want: []string{"imageFrom takes 1 or 2 arguments, got 3: call it as imageFrom(repoURL[, origin])"},
		},
		{
			name: "too few arguments", template: "${{ semverDiff('1.0.0') }}", compile: true,
			want: []string{"semverDiff"},
		},
		{
			name: "syntax error has a position", template: "x ${{ 1 + }}", compile: true,
			want: []string{`invalid expression "1 +"`, "(at 1:"},
		},
		{
			name: "unclosed expression", template: "a ${{ vars.x ", compile: true,
			want: []string{`${{ is never closed: add "}}" after the expression`},
		},
		{
			name: "empty expression", template: "${{  }}", compile: true,
			want: []string{"the expression between the delimiters is empty"},
		},
		{
			name: "}} inside ${{ }} suggests the other delimiters", template: "${{ '{{.domain}}' }}", compile: true,
			want: []string{"literal not terminated", `if it contains "}}", write it between ${% and %} instead`},
		},
		{
			name: "nil field access names the lookup that found nothing", template: "${{ imageFrom('ghcr.io/acme/cart').Tag }}",
			opts: []Option{freight},
			want: []string{
				"cannot fetch Tag from <nil>",
				`imageFrom("ghcr.io/acme/cart") found nothing: there is no image from ghcr.io/acme/cart (there are images from ghcr.io/acme/shop)`,
				`imageFrom("ghcr.io/acme/cart")?.Tag ?? ""`,
			},
		},
		{
			name: "a function's own error", template: "${{ semverParse('nope') }}",
			want: []string{`semverParse("nope"): not a semantic version`},
		},
		{
			name: "wrong argument type at compile time", template: "${{ warehouse(1) }}", compile: true,
			want: []string{"cannot use int as argument (type string) to call warehouse"},
		},
		{
			name: "wrong argument type at run time", template: "${{ warehouse(vars.int) }}", env: testEnv(),
			want: []string{"warehouse(): name must be a string, got number 7"},
		},
		{
			name: "runtime type error", template: "${{ ctx.stage + 1 }}", env: testEnv(),
			want: []string{"invalid operation"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateTemplate(tt.template, tt.env, tt.opts...)
			if err == nil {
				t.Fatalf("EvaluateTemplate(%q) = %#v, want an error", tt.template, got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if e.Compile != tt.compile {
				t.Errorf("Compile = %v, want %v (%v)", e.Compile, tt.compile, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n  %v\ndoes not contain\n  %s", err, w)
				}
			}
		})
	}
}

func TestEvaluateTemplateEnvironmentMistakes(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]any
		opts []Option
		want string
	}{
		{"variable named like a pure function", map[string]any{"quote": 1}, nil,
			`variable "quote" is reserved for the quote() function`},
		{"variable named like a context function", map[string]any{"imageFrom": 1},
			[]Option{WithFunctions(FreightFunctions()...)}, `variable "imageFrom" has the name of the imageFrom() function`},
		{"function missing from the catalogue", nil,
			[]Option{WithFunctions(Function{Name: "frob", Call: func(...any) (any, error) { return nil, nil }})},
			`function "frob" is not in the catalogue`},
		{"function without implementation", nil, []Option{WithFunctions(Function{Name: "secret"})},
			`function "secret" has no implementation`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EvaluateTemplate("${{ 1 }}", tt.env, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEvaluateJSONTemplate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "nested step config",
			in: `{
				"repoURL": "${{ vars.str }}",
				"checkout": [{"branch": "stage/${{ ctx.stage }}", "create": true, "path": "./out"}],
				"images": [{"image": "nginx", "tag": "${{ vars.numText }}", "useDigest": false}],
				"replicas": "${{ vars.int }}",
				"nested": {"deeper": {"list": ["${{ vars.list }}", "${{ quote(vars.int) }}"]}}
			}`,
			want: `{"checkout":[{"branch":"stage/uat","create":true,"path":"./out"}],` +
				`"images":[{"image":"nginx","tag":42,"useDigest":false}],` +
				`"nested":{"deeper":{"list":[["a","b"],"7"]}},"replicas":7,"repoURL":"hello"}`,
		},
		{
			name: "keys are not evaluated",
			in:   `{"${{ vars.str }}": "${{ vars.str }}"}`,
			want: `{"${{ vars.str }}":"hello"}`,
		},
		{
			name: "numbers no expression produced are kept exactly",
			in:   `{"big": 12345678901234567890123, "exp": 1e400, "f": 1.50}`,
			want: `{"big":12345678901234567890123,"exp":1e400,"f":1.50}`,
		},
		{
			name: "top-level array",
			in:   `["${{ 1 + 1 }}", "x"]`,
			want: `[2,"x"]`,
		},
		{
			name: "top-level string",
			in:   `"${{ ctx.project }}"`,
			want: `"shop"`,
		},
		{
			name: "null and empty values",
			in:   `{"a": null, "b": "", "c": {}, "d": []}`,
			want: `{"a":null,"b":"","c":{},"d":[]}`,
		},
		{
			name: "an expression can produce null and objects",
			in:   `{"a": "${{ vars.nothing }}", "b": "${{ vars.jsonText }}"}`,
			want: `{"a":null,"b":{"a":1}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateJSONTemplate([]byte(tt.in), testEnv())
			if err != nil {
				t.Fatalf("EvaluateJSONTemplate: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("EvaluateJSONTemplate =\n  %s\nwant\n  %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("result is not valid JSON: %s", got)
			}
		})
	}
}

func TestEvaluateJSONTemplateErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"not JSON: an unquoted expression", `{"key": ${{ true }}}`,
			[]string{"parse JSON template", "an expression must sit inside a JSON string"}},
		{"trailing data", `{} {}`, []string{"parse JSON template", "unexpected data after the top-level value"}},
		{"error names the path", `{"images": [{"tag": "ok"}, {"tag": "${{ vars.nope.x }}"}]}`,
			[]string{"images[1].tag: evaluate expression", "cannot fetch x from <nil>"}},
		{"first error in key order", `{"b": "${{ b }}", "a": "${{ a }}"}`,
			[]string{"a: evaluate expression \"a\": unknown variable a"}},
		{"top-level array path", `["${{ nope( }}"]`, []string{"[0]: invalid expression"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateJSONTemplate([]byte(tt.in), testEnv())
			if err == nil {
				t.Fatalf("EvaluateJSONTemplate = %s, want an error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n  %v\ndoes not contain\n  %s", err, w)
				}
			}
		})
	}
}

func TestEvaluateJSONTemplateLeavesInputAlone(t *testing.T) {
	in := []byte(`{"a": "${{ 1 }}"}`)
	before := string(in)
	if _, err := EvaluateJSONTemplate(in, nil); err != nil {
		t.Fatal(err)
	}
	if string(in) != before {
		t.Errorf("input changed to %s", in)
	}
}

func TestHasExpression(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"plain", false},
		{"${HOME}", false},
		{"$ {{ x }}", false},
		{"a ${{ x }}", true},
		{"${% x %}", true},
		{"${ x ${{", true},
	}
	for _, tt := range tests {
		if got := HasExpression(tt.s); got != tt.want {
			t.Errorf("HasExpression(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
