// Package expr evaluates Kargo's expression language: expressions of
// expr-lang (github.com/expr-lang/expr) written between ${{ and }} (or ${% and
// %}) in any string value of a promotion step's config, vars or if, and bare
// in a Warehouse's spec.freightCreationCriteria.expression.
//
// # Templates
//
// EvaluateTemplate follows Kargo's rules:
//
//   - a string without ${{ or ${% is returned unchanged, so "42" stays a
//     string;
//   - otherwise every ${{ expr }} is evaluated and its result written in
//     place: a string as it is, anything else as JSON;
//   - the resulting text is then turned into a JSON value the way a YAML
//     parser would: text wrapped in double quotes (what quote() produces)
//     loses the quotes and stays a string; text that reads as a number
//     becomes a number, true/false a bool, a JSON object, array or null that
//     value; anything else stays a string. One trailing newline (from a YAML
//     block scalar) is ignored when reading the text and kept on strings.
//
// So ${{ 40 + 2 }} is the number 42, ${{ quote(40 + 2) }} the string "42",
// v${{ 1 }} the string "v1", and ${{ imageFrom(r) }} a map keyed by the
// image's JSON field names. The closing delimiter is the first "}}" (or "%}")
// after the opening one; write ${% '{{x}}' %} when an expression must contain
// "}}". EvaluateJSONTemplate applies the same to every string value of a JSON
// document, leaving keys alone.
//
// # Functions and variables
//
// The functions are expr-lang's built-ins, the pure functions every context
// has (quote, unsafeQuote, asJSON, asYAML, warehouse, semverParse,
// semverDiff, always) and context functions whose results depend on the data
// of one evaluation, such as imageFrom, commitFrom and chartFrom over a set of
// Freight (FreightFunctions). Context functions are passed with
// WithFunctions; variables (ctx, vars, outputs …) come in the env map.
// Programs do not capture either, so each distinct expression is compiled
// once and reused across evaluations from a small bounded cache.
//
// An expression that calls an unknown function, a known function with the
// wrong number of arguments, or a function or variable the context does not
// provide fails with an *Error that names it and lists what is available.
package expr
