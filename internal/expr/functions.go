package expr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/Masterminds/semver/v3"
	exprlang "github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"go.yaml.in/yaml/v3"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// Function is a context function: one whose result depends on the data of
// an evaluation (the Freight being promoted, the Stage, the steps so far), so
// it is supplied per evaluation with WithFunctions rather than compiled into
// programs.
type Function struct {
	// Name is the name expressions call it by. It must be listed in the
	// catalogue of context functions (see ContextFunctions) so that
	// expressions calling it compile.
	Name string
	// Call runs the function. Returning (nil, nil) means "nothing", which
	// expressions can handle with ?. and ??.
	Call func(args ...any) (any, error)
	// Missing, if set, explains why Call returned nil for args. It is used
	// only to make the message of a failed evaluation helpful: Call is then
	// called again with the constant arguments of the expression's calls, so
	// set it only on functions without side effects.
	Missing func(args ...any) string
}

// Option configures one evaluation.
type Option func(*config)

type config struct {
	functions []Function
}

// WithFunctions makes context functions callable in the evaluation. Later
// functions replace earlier ones of the same name.
func WithFunctions(fns ...Function) Option {
	return func(c *config) { c.functions = append(c.functions, fns...) }
}

// signature describes a context function for compile-time checks.
type signature struct {
	min, max int
	usage    string
}

// contextFunctions is the catalogue of Kargo's context functions. An
// expression may call them wherever it is written; whether a given
// evaluation provides one is checked when it runs.
var contextFunctions = map[string]signature{
	"imageFrom":       {1, 2, "imageFrom(repoURL[, origin])"},
	"commitFrom":      {1, 2, "commitFrom(repoURL[, origin])"},
	"chartFrom":       {1, 3, "chartFrom(repoURL[, chartName][, origin])"},
	"artifactFrom":    {1, 2, "artifactFrom(subscriptionName[, origin])"},
	"freightMetadata": {1, 2, "freightMetadata(freightName)"},
	"freightStatus":   {1, 1, "freightStatus(freightName)"},
	"stageMetadata":   {1, 1, "stageMetadata(stageName)"},
	"secret":          {1, 1, "secret(name)"},
	"sharedSecret":    {1, 1, "sharedSecret(name)"},
	"configMap":       {1, 1, "configMap(name)"},
	"sharedConfigMap": {1, 1, "sharedConfigMap(name)"},
	"success":         {0, 0, "success()"},
	"failure":         {0, 0, "failure()"},
	"status":          {1, 1, "status(stepAlias)"},
}

// ContextFunctions returns the names of the context functions expressions
// may call, sorted. A Function passed to WithFunctions must have one of them.
func ContextFunctions() []string {
	names := make([]string, 0, len(contextFunctions))
	for n := range contextFunctions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// staticFunctions are the pure functions compiled into every program.
var staticFunctions = map[string]bool{
	"quote": true, "unsafeQuote": true, "asJSON": true, "asYAML": true,
	"warehouse": true, "semverParse": true, "semverDiff": true, "always": true,
}

// compileOptions returns the expr-lang options every program is compiled
// with: the static functions and nothing that depends on an evaluation.
func compileOptions() []exprlang.Option {
	return []exprlang.Option{
		exprlang.Function("quote", quoteFunc, new(func(any) string)),
		exprlang.Function("unsafeQuote", unsafeQuoteFunc, new(func(any) string)),
		exprlang.Function("asJSON", asJSONFunc, new(func(any) string)),
		exprlang.Function("asYAML", asYAMLFunc, new(func(any) string)),
		exprlang.Function("warehouse", warehouseFunc, new(func(string) v1alpha1.FreightOrigin)),
		exprlang.Function("semverParse", semverParseFunc, new(func(string) *semver.Version)),
		exprlang.Function("semverDiff", semverDiffFunc, new(func(string, string) string)),
		exprlang.Function("always", func(...any) (any, error) { return true, nil }, new(func() bool)),
	}
}

// knownFunctionNames lists every name a call may use, for suggestions.
func knownFunctionNames() []string {
	names := make([]string, 0, len(contextFunctions)+len(staticFunctions)+len(builtin.Names))
	for n := range contextFunctions {
		names = append(names, n)
	}
	for n := range staticFunctions {
		names = append(names, n)
	}
	names = append(names, builtin.Names...)
	sort.Strings(names)
	return names
}

// quoteFunc makes any value a string that the result conversion keeps as a
// string: a string as it is, anything else as its JSON text. The wrapping
// quotes are removed again when the quoted value is the whole result.
//
// Unlike Kargo, which wraps strings with Go's %q and so leaves escapes such
// as \" and \n in the result, the string is wrapped as it is: quote() of a
// string is that string.
func quoteFunc(args ...any) (any, error) {
	if s, ok := args[0].(string); ok {
		return `"` + s + `"`, nil
	}
	return unsafeQuoteFunc(args...)
}

// unsafeQuoteFunc wraps the JSON text of any value in double quotes, so a
// string keeps visible (JSON-escaped) quotes.
func unsafeQuoteFunc(args ...any) (any, error) {
	b, err := marshalJSON(args[0])
	if err != nil {
		return nil, fmt.Errorf("unsafeQuote: %w", err)
	}
	return `"` + string(b) + `"`, nil
}

// asJSONFunc renders a value as indented JSON text (with a trailing
// newline) that stays a string.
func asJSONFunc(args ...any) (any, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(args[0]); err != nil {
		return nil, fmt.Errorf("asJSON: %w", err)
	}
	return `"` + buf.String() + `"`, nil
}

// asYAMLFunc renders a value as YAML text that stays a string.
func asYAMLFunc(args ...any) (any, error) {
	b, err := yaml.Marshal(args[0])
	if err != nil {
		return nil, fmt.Errorf("asYAML: %w", err)
	}
	return `"` + string(b) + `"`, nil
}

// warehouseFunc names a Warehouse as a Freight origin, for the origin
// argument of imageFrom, commitFrom and chartFrom.
func warehouseFunc(args ...any) (any, error) {
	name, err := stringArg("warehouse", "name", args[0])
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("warehouse() needs the name of a Warehouse, got an empty string")
	}
	return v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKindWarehouse, Name: name}, nil
}

// semverParseFunc parses a semantic version (with or without a leading v).
func semverParseFunc(args ...any) (any, error) {
	s, err := stringArg("semverParse", "version", args[0])
	if err != nil {
		return nil, err
	}
	v, err := semver.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("semverParse(%q): not a semantic version: %w", s, err)
	}
	return v, nil
}

// semverDiffFunc names the most significant part in which two versions
// differ: Major, Minor, Patch, Metadata or None; Incomparable when either is
// not a semantic version.
func semverDiffFunc(args ...any) (any, error) {
	a, err := stringArg("semverDiff", "version1", args[0])
	if err != nil {
		return nil, err
	}
	b, err := stringArg("semverDiff", "version2", args[1])
	if err != nil {
		return nil, err
	}
	va, errA := semver.NewVersion(a)
	vb, errB := semver.NewVersion(b)
	switch {
	case errA != nil || errB != nil:
		return "Incomparable", nil
	case va.Major() != vb.Major():
		return "Major", nil
	case va.Minor() != vb.Minor():
		return "Minor", nil
	case va.Patch() != vb.Patch():
		return "Patch", nil
	case va.Metadata() != vb.Metadata():
		return "Metadata", nil
	}
	return "None", nil
}

// stringArg returns arg as a string or an error naming the function and
// parameter.
func stringArg(fn, param string, arg any) (string, error) {
	s, ok := arg.(string)
	if !ok {
		return "", fmt.Errorf("%s(): %s must be a string, got %s", fn, param, describe(arg))
	}
	return s, nil
}

// marshalJSON encodes v as compact JSON without escaping <, > and &.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
