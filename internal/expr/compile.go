package expr

import (
	"container/list"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	exprlang "github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// Error is an expression that does not compile or fails when evaluated. It
// is the author's to fix: evaluating the same expression over the same data
// fails the same way, so callers should not retry it.
type Error struct {
	// Expression is the expression's source, without delimiters.
	Expression string
	// Compile is true when the expression does not compile, whatever the data.
	Compile bool
	// Message says what is wrong and, where it can, how to fix it.
	Message string
	// Err is the underlying error, if any (an error returned by a function).
	Err error
}

// Error returns `invalid expression "<src>": <message>` for compile errors
// and `evaluate expression "<src>": <message>` otherwise.
func (e *Error) Error() string {
	verb := "evaluate expression"
	if e.Compile {
		verb = "invalid expression"
	}
	return fmt.Sprintf("%s %q: %s", verb, shorten(strings.TrimSpace(e.Expression), 120), e.Message)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Compile reports whether expression, a bare expr-lang expression such as a
// Warehouse's freightCreationCriteria.expression, compiles: its syntax, the
// functions it calls and their numbers of arguments. The error is an *Error.
func Compile(expression string) error {
	if strings.TrimSpace(expression) == "" {
		return &Error{Expression: expression, Compile: true, Message: "the expression is empty"}
	}
	return compile(expression).err
}

// CompileTemplate reports whether every ${{ }} and ${% %} expression in
// template compiles and is closed. A template without expressions compiles.
func CompileTemplate(template string) error {
	return scanTemplate(template, func(string) {}, func(src string) error { return compileExpr(src).err })
}

// program is one compiled expression with what it needs from an evaluation.
type program struct {
	prog *vm.Program
	// vars are the variables it reads, sorted.
	vars []string
	// calls are the context functions it calls, sorted.
	calls []string
	// lookups are its calls of context functions whose arguments are all
	// constants (strings, warehouse("name")), replayed to explain a failed
	// evaluation.
	lookups []constCall
	err     error
}

// constCall is a call such as imageFrom("nginx", warehouse("w")) whose
// arguments are all constants.
type constCall struct {
	name string
	args []any
}

// cacheSize bounds the number of compiled programs kept. A project's
// expressions are a few hundred distinct strings; a program is a few KiB.
const cacheSize = 2048

var programs = newProgramCache(cacheSize)

// compileOpts are the options every program is compiled with.
var compileOpts = compileOptions()

// compileExpr compiles the source of a delimited expression, which must not
// be blank.
func compileExpr(src string) *program {
	if strings.TrimSpace(src) == "" {
		return &program{err: &Error{Expression: src, Compile: true,
			Message: "the expression between the delimiters is empty: write an expression, e.g. ${{ vars.name }}"}}
	}
	return compile(src)
}

// compile returns the cached program for src, compiling it on a miss.
// Failures are cached too.
func compile(src string) *program {
	if p, ok := programs.get(src); ok {
		return p
	}
	p := build(src)
	programs.put(src, p)
	return p
}

// build compiles src and checks the functions it calls.
func build(src string) *program {
	prog, err := exprlang.Compile(src, compileOpts...)
	if err != nil {
		return &program{err: &Error{Expression: src, Compile: true, Message: exprMessage(err)}}
	}
	p := &program{prog: prog}
	if msg := p.inspect(prog.Node()); msg != "" {
		return &program{err: &Error{Expression: src, Compile: true, Message: msg}}
	}
	return p
}

// inspector collects what an expression's tree uses.
type inspector struct {
	idents  []*ast.IdentifierNode
	callees map[*ast.IdentifierNode]bool
	calls   []*ast.CallNode
	locals  map[string]bool
}

// Visit implements ast.Visitor.
func (in *inspector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		in.idents = append(in.idents, n)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			in.callees[id] = true
			in.calls = append(in.calls, n)
		}
	case *ast.VariableDeclaratorNode:
		in.locals[n.Name] = true
	}
}

// inspect fills p.vars, p.calls and p.lookups from the tree, or returns a
// message about the first call of an unknown function or with a wrong
// number of arguments.
func (p *program) inspect(root ast.Node) string {
	in := &inspector{callees: map[*ast.IdentifierNode]bool{}, locals: map[string]bool{}}
	ast.Walk(&root, in)
	calls := map[string]bool{}
	for _, c := range in.calls {
		name := c.Callee.(*ast.IdentifierNode).Value
		if staticFunctions[name] || in.locals[name] {
			continue
		}
		sig, ok := contextFunctions[name]
		if !ok {
			return unknownFunction(name)
		}
		if n := len(c.Arguments); n < sig.min || n > sig.max {
			return fmt.Sprintf("%s takes %s, got %d: call it as %s", name, arity(sig), n, sig.usage)
		}
		calls[name] = true
		if args, ok := constantArgs(c.Arguments); ok {
			p.lookups = append(p.lookups, constCall{name: name, args: args})
		}
	}
	p.calls = sortedKeys(calls)
	vars := map[string]bool{}
	for _, id := range in.idents {
		if !in.callees[id] && !in.locals[id.Value] && id.Value != "$env" {
			vars[id.Value] = true
		}
	}
	p.vars = sortedKeys(vars)
	return ""
}

// constantArgs returns the values of args when all are string literals or
// warehouse("literal").
func constantArgs(args []ast.Node) ([]any, bool) {
	vals := make([]any, len(args))
	for i, a := range args {
		switch n := a.(type) {
		case *ast.StringNode:
			vals[i] = n.Value
		case *ast.CallNode:
			id, ok := n.Callee.(*ast.IdentifierNode)
			if !ok || id.Value != "warehouse" || len(n.Arguments) != 1 {
				return nil, false
			}
			name, ok := n.Arguments[0].(*ast.StringNode)
			if !ok {
				return nil, false
			}
			vals[i] = v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKindWarehouse, Name: name.Value}
		default:
			return nil, false
		}
	}
	return vals, true
}

func arity(sig signature) string {
	switch {
	case sig.min == sig.max && sig.min == 1:
		return "1 argument"
	case sig.min == sig.max:
		return fmt.Sprintf("%d arguments", sig.min)
	case sig.max == sig.min+1:
		return fmt.Sprintf("%d or %d arguments", sig.min, sig.max)
	}
	return fmt.Sprintf("%d to %d arguments", sig.min, sig.max)
}

func unknownFunction(name string) string {
	msg := fmt.Sprintf("unknown function %s", name)
	if s := suggest(name, knownFunctionNames()); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return msg + "; the functions are expr-lang's built-ins and Kargo's (" +
		strings.Join(ContextFunctions(), ", ") + ", quote, unsafeQuote, asJSON, asYAML, warehouse, semverParse, semverDiff, always)"
}

// exprMessage turns an expr-lang error into one line: the message and, for
// a located error, its line:column in the expression.
func exprMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Line > 0 {
			return fmt.Sprintf("%s (at %d:%d)", fe.Message, fe.Line, fe.Column+1)
		}
		return fe.Message
	}
	return err.Error()
}

// programCache is a least-recently-used cache of compiled programs.
type programCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	items map[string]*list.Element
}

type cacheEntry struct {
	src string
	p   *program
}

func newProgramCache(max int) *programCache {
	return &programCache{max: max, order: list.New(), items: make(map[string]*list.Element, max)}
}

func (c *programCache) get(src string) (*program, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[src]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).p, true
}

func (c *programCache) put(src string, p *program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[src]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[src] = c.order.PushFront(&cacheEntry{src: src, p: p})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).src)
	}
}

func (c *programCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// vms recycles expr-lang virtual machines between runs.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// run evaluates p over env.
func (p *program) run(env map[string]any) (any, error) {
	m := vms.Get().(*vm.VM)
	defer func() {
		clear(m.Variables) // do not keep this evaluation's values alive
		vms.Put(m)
	}()
	return m.Run(p.prog, env)
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
