package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// FreightCreationCriteria evaluates a Warehouse's
// spec.freightCreationCriteria.expression over the artifacts of the Freight
// it is about to create, and reports whether the Freight may be created.
//
// The expression is bare expr-lang, without ${{ }}, as in Kargo. It may call
// imageFrom(repoURL), commitFrom(repoURL) and chartFrom(repoURL[, chartName])
// (see FreightFunctions; there is no origin argument here) and the pure
// functions; it has no variables. commitFrom's result also has Subject, the
// name Kargo gives the message's first line in this context.
//
// An empty expression, or no artifacts at all, is true. The result must be
// a bool; like Kargo, a string or number that strconv.ParseBool accepts
// ("true", "1" …) counts as one. Anything else, an expression that does not
// compile and one that fails are errors that say what was wrong.
func FreightCreationCriteria(
	expression string,
	commits []v1alpha1.GitCommit,
	images []v1alpha1.Image,
	charts []v1alpha1.Chart,
) (bool, error) {
	expression = strings.TrimSpace(expression)
	if expression == "" {
		return true, nil
	}
	p := compile(expression)
	if p.err != nil {
		return false, fmt.Errorf("freightCreationCriteria.expression: %w", p.err)
	}
	if len(commits) == 0 && len(images) == 0 && len(charts) == 0 {
		return true, nil
	}
	l := &lookup{
		origins:    []Origin{{Freight: ArtifactSet(commits, images, charts)}},
		commitView: discoveredCommitView,
	}
	ev, err := newEvaluator(nil, []Option{WithFunctions(l.functions()...)})
	if err != nil {
		return false, fmt.Errorf("freightCreationCriteria.expression: %w", err)
	}
	out, err := ev.eval(expression, p)
	if err != nil {
		return false, fmt.Errorf("freightCreationCriteria.expression: %w", err)
	}
	switch v := out.(type) {
	case bool:
		return v, nil
	case string, int, int64, float64:
		if b, err := strconv.ParseBool(fmt.Sprint(v)); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("freightCreationCriteria.expression must evaluate to true or false, got %s: "+
		"compare values, e.g. imageFrom(\"…\").Tag == chartFrom(\"…\").Version", describe(out))
}

// criteriaFunctions are the context functions freight creation criteria
// may call.
var criteriaFunctions = map[string]bool{"imageFrom": true, "commitFrom": true, "chartFrom": true}

// ValidateFreightCreationCriteria reports whether expression can work as a
// Warehouse's spec.freightCreationCriteria.expression: it compiles, reads no
// variables (there are none) and calls no context function but imageFrom,
// commitFrom and chartFrom. Admission uses it to refuse criteria that could
// never be evaluated; an empty expression is valid.
func ValidateFreightCreationCriteria(expression string) error {
	expression = strings.TrimSpace(expression)
	if expression == "" {
		return nil
	}
	p := compile(expression)
	if p.err != nil {
		return p.err
	}
	if len(p.vars) > 0 {
		return &Error{Expression: expression, Compile: true, Message: fmt.Sprintf(
			"unknown variable %s: freight creation criteria have no variables; read the artifacts with imageFrom, commitFrom and chartFrom",
			p.vars[0])}
	}
	for _, fn := range p.calls {
		if !criteriaFunctions[fn] {
			return &Error{Expression: expression, Compile: true, Message: fmt.Sprintf(
				"function %s is not available in freight creation criteria; only imageFrom, commitFrom and chartFrom (and the pure functions) are",
				fn)}
		}
	}
	return nil
}

// discoveredCommit is what commitFrom returns in freight creation criteria:
// the commit plus Subject, the first line of its message under the name
// Kargo's discovered commits use.
type discoveredCommit struct {
	v1alpha1.GitCommit
	// Subject is the first line of the commit message (= Message).
	Subject string `json:"subject,omitempty"`
}

func discoveredCommitView(c v1alpha1.GitCommit) any {
	subject, _, _ := strings.Cut(c.Message, "\n")
	return discoveredCommit{GitCommit: c, Subject: subject}
}
