package expr

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/file"
)

// Eval evaluates expression, a bare expr-lang expression (no delimiters),
// over env and returns its value as the expression produced it: a Go value
// of any type, with none of the template result conversion. Errors are
// *Error.
func Eval(expression string, env map[string]any, opts ...Option) (any, error) {
	if strings.TrimSpace(expression) == "" {
		return nil, &Error{Expression: expression, Compile: true, Message: "the expression is empty"}
	}
	ev, err := newEvaluator(env, opts)
	if err != nil {
		return nil, err
	}
	return ev.eval(expression, compile(expression))
}

// evaluator evaluates expressions over one environment.
type evaluator struct {
	// env holds the variables and the context functions, as programs see
	// them.
	env map[string]any
	// vars holds the caller's variables only.
	vars map[string]any
	// fns holds the context functions by name.
	fns map[string]Function
}

// newEvaluator prepares env and the options' functions for evaluations.
func newEvaluator(env map[string]any, opts []Option) (*evaluator, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	for name := range env {
		if staticFunctions[name] {
			return nil, fmt.Errorf("variable %q is reserved for the %s() function: rename the variable", name, name)
		}
	}
	ev := &evaluator{env: env, vars: env}
	if len(c.functions) == 0 {
		return ev, nil
	}
	ev.fns = make(map[string]Function, len(c.functions))
	ev.env = make(map[string]any, len(env)+len(c.functions))
	for k, v := range env {
		ev.env[k] = v
	}
	for _, fn := range c.functions {
		if _, ok := contextFunctions[fn.Name]; !ok {
			return nil, fmt.Errorf("function %q is not in the catalogue of context functions (%s): add it to contextFunctions",
				fn.Name, strings.Join(ContextFunctions(), ", "))
		}
		if _, ok := env[fn.Name]; ok {
			return nil, fmt.Errorf("variable %q has the name of the %s() function: rename the variable", fn.Name, fn.Name)
		}
		if fn.Call == nil {
			return nil, fmt.Errorf("function %q has no implementation (Call is nil)", fn.Name)
		}
		ev.fns[fn.Name] = fn
		ev.env[fn.Name] = fn.Call
	}
	return ev, nil
}

// eval runs p, the program of src, after checking that this evaluation
// provides everything it uses.
func (ev *evaluator) eval(src string, p *program) (any, error) {
	if p.err != nil {
		return nil, p.err
	}
	for _, name := range p.vars {
		if _, ok := ev.vars[name]; !ok {
			return nil, &Error{Expression: src, Message: ev.unknownVariable(name)}
		}
	}
	for _, name := range p.calls {
		if _, ok := ev.fns[name]; !ok {
			return nil, &Error{Expression: src, Message: ev.unavailableFunction(name)}
		}
	}
	out, err := p.run(ev.env)
	if err != nil {
		return nil, ev.runError(src, p, err)
	}
	return out, nil
}

func (ev *evaluator) unknownVariable(name string) string {
	names := make([]string, 0, len(ev.vars))
	for k := range ev.vars {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := fmt.Sprintf("unknown variable %s", name)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	if len(names) == 0 {
		return msg + "; no variables are defined here"
	}
	return msg + "; the variables here are " + strings.Join(names, ", ")
}

func (ev *evaluator) unavailableFunction(name string) string {
	names := make([]string, 0, len(ev.fns))
	for k := range ev.fns {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := fmt.Sprintf("function %s is not available here", name)
	if len(names) == 0 {
		return msg + "; only the pure functions (quote, semverParse …) are"
	}
	return msg + "; besides the pure functions (quote, semverParse …) only " + strings.Join(names, ", ") + " are"
}

// runError describes a failed run. When the failure involves nil and a
// lookup such as imageFrom("x") in the expression found nothing, it says
// so: that is nearly always the cause.
func (ev *evaluator) runError(src string, p *program, err error) error {
	e := &Error{Expression: src, Message: exprMessage(err)}
	var fe *file.Error
	if errors.As(err, &fe) && fe.Prev != nil {
		e.Err = fe.Prev
	}
	if !strings.Contains(e.Message, "nil") {
		return e
	}
	var hints []string
	example := ""
	for _, c := range p.lookups {
		fn, ok := ev.fns[c.name]
		if !ok || fn.Missing == nil {
			continue
		}
		if out, err := fn.Call(c.args...); err == nil && out == nil {
			hints = append(hints, fn.Missing(c.args...))
			if example == "" {
				example = fmt.Sprintf("%s(%q)?.%s ?? \"\"", c.name, c.args[0], exampleField[c.name])
			}
		}
	}
	if len(hints) > 0 {
		e.Message += ": " + strings.Join(hints, "; ") + "; where it may be absent, use ?. and ??, e.g. " + example
	}
	return e
}

// exampleField is a field of each lookup's result, for examples in messages.
var exampleField = map[string]string{"imageFrom": "Tag", "commitFrom": "ID", "chartFrom": "Version"}

// describe names a value's type and, for scalars, the value, for messages:
// string "x", number 42, bool true, nil, a map, a list.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("string %q", shorten(x, 60))
	case bool:
		return fmt.Sprintf("bool %t", x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprintf("number %v", x)
	case map[string]any, map[string]string:
		return "a map"
	case []any, []string:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// suggest returns the candidate closest to name when it is close enough to
// be a likely typo, else "".
func suggest(name string, candidates []string) string {
	best, bestDist := "", max(2, len(name)/3)+1
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
