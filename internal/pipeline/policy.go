package pipeline

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// Name pattern prefixes of a promotion policy's stageSelector.name.
const (
	globPrefix   = "glob:"
	regexPrefix  = "regex:"
	regexpPrefix = "regexp:"
)

// AutoPromotionEnabled reports whether project's promotion policies enable
// auto-promotion into stage. As in Kargo, policies are tried in order and the
// first one that selects the Stage decides, even when a later one also selects
// it (an exact name does not outrank an earlier pattern). A policy selects a
// Stage when
//
//   - its deprecated stage field equals the Stage's name, or
//   - its stageSelector's name matches — an exact name, or a pattern prefixed
//     "glob:" (doublestar syntax: * ? [..] [!..] {a,b}), "regex:" or
//     "regexp:" (a Go regular expression matched anywhere in the name) —
//     and its matchLabels/matchExpressions match the Stage's labels; an empty
//     name or no label selector places no constraint.
//
// No ProjectConfig, or no policy selecting the Stage, means false. The error
// reports a pattern or label selector that does not compile (admission
// refuses those, so it means a stored object bypassed validation).
func AutoPromotionEnabled(project *kargoapi.ProjectConfig, stage *kargoapi.Stage) (bool, error) {
	i, err := matchingPolicy(project, stage)
	if err != nil || i < 0 {
		return false, err
	}
	return project.Spec.PromotionPolicies[i].AutoPromotionEnabled, nil
}

// matchingPolicy returns the index of the first policy of project that
// selects stage, or -1.
func matchingPolicy(project *kargoapi.ProjectConfig, stage *kargoapi.Stage) (int, error) {
	if project == nil || stage == nil {
		return -1, nil
	}
	for i := range project.Spec.PromotionPolicies {
		ok, err := policySelects(&project.Spec.PromotionPolicies[i], stage)
		if err != nil {
			return -1, fmt.Errorf("ProjectConfig %q: promotionPolicies[%d]: %w", project.Name, i, err)
		}
		if ok {
			return i, nil
		}
	}
	return -1, nil
}

// policySelects reports whether the policy selects stage.
func policySelects(p *kargoapi.PromotionPolicy, stage *kargoapi.Stage) (bool, error) {
	sel := p.StageSelector
	if sel == nil {
		// The deprecated form: stage names one Stage exactly (Kargo reads it
		// as a selector of that name).
		sel = &kargoapi.PromotionPolicySelector{Name: p.Stage}
	}
	if sel.Name != "" {
		ok, err := MatchName(sel.Name, stage.Name)
		if err != nil {
			return false, fmt.Errorf("stageSelector.name %q: %w", sel.Name, err)
		}
		if !ok {
			return false, nil
		}
	}
	if sel.LabelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(sel.LabelSelector)
		if err != nil {
			return false, fmt.Errorf("stageSelector label selector: %w", err)
		}
		if !s.Matches(labels.Set(stage.Labels)) {
			return false, nil
		}
	}
	return true, nil
}

// describePolicy names a policy for users: promotionPolicies[1]
// (stageSelector name "glob:u*").
func describePolicy(p *kargoapi.PromotionPolicy, i int) string {
	var what []string
	switch sel := p.StageSelector; {
	case sel == nil:
		what = append(what, fmt.Sprintf("stage %q", p.Stage))
	default:
		if sel.Name != "" {
			what = append(what, fmt.Sprintf("stageSelector name %q", sel.Name))
		}
		if sel.LabelSelector != nil {
			what = append(what, "stageSelector labels "+metav1.FormatLabelSelector(sel.LabelSelector))
		}
		if len(what) == 0 {
			what = append(what, "an empty stageSelector, which selects every Stage")
		}
	}
	return fmt.Sprintf("promotionPolicies[%d] (%s)", i, strings.Join(what, ", "))
}

// MatchName reports whether name matches pattern, a name selector as Kargo
// reads one: "glob:" followed by a doublestar glob matched against the whole
// name; "regex:" or "regexp:" followed by a Go regular expression matched
// anywhere in the name (anchor it with ^…$ to match the whole name); anything
// else an exact name. The error reports a pattern that does not compile.
func MatchName(pattern, name string) (bool, error) {
	switch {
	case strings.HasPrefix(pattern, globPrefix):
		re, err := globRegexp(strings.TrimPrefix(pattern, globPrefix))
		if err != nil {
			return false, fmt.Errorf("invalid glob: %w", err)
		}
		return re.MatchString(name), nil
	case strings.HasPrefix(pattern, regexPrefix), strings.HasPrefix(pattern, regexpPrefix):
		expr := strings.TrimPrefix(strings.TrimPrefix(pattern, regexpPrefix), regexPrefix)
		re, err := regexp.Compile(expr)
		if err != nil {
			return false, fmt.Errorf("invalid regular expression: %w", err)
		}
		return re.MatchString(name), nil
	}
	return pattern == name, nil
}

// globRegexp translates a doublestar glob into an anchored regular
// expression: "*" matches any run of characters but "/", "**" any run at
// all, "?" one character but "/", "[…]" and "[!…]" (or "[^…]") a character
// class, "{a,b}" alternatives (which may nest), and "\" escapes the next
// character.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(glob)
	depth := 0
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			if i+1 < len(rs) && rs[i+1] == '*' {
				for i+1 < len(rs) && rs[i+1] == '*' {
					i++
				}
				b.WriteString(".*")
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("the pattern ends with an escape character")
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case '[':
			class, next, err := globClass(rs, i)
			if err != nil {
				return nil, err
			}
			b.WriteString(class)
			i = next
		case '{':
			depth++
			b.WriteString("(?:")
		case '}':
			if depth == 0 {
				return nil, fmt.Errorf("'}' has no matching '{'")
			}
			depth--
			b.WriteString(")")
		case ',':
			if depth > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("'{' has no matching '}'")
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// globClass translates the character class that opens at rs[start] ('[')
// and returns it with the index of its closing ']'.
func globClass(rs []rune, start int) (string, int, error) {
	var b strings.Builder
	b.WriteString("[")
	j := start + 1
	if j < len(rs) && (rs[j] == '!' || rs[j] == '^') {
		b.WriteString("^")
		j++
	}
	first := true
	for ; j < len(rs); j++ {
		r := rs[j]
		switch {
		case r == ']' && !first:
			b.WriteString("]")
			return b.String(), j, nil
		case r == '\\':
			if j+1 >= len(rs) {
				return "", 0, fmt.Errorf("the pattern ends with an escape character")
			}
			j++
			b.WriteString(classLiteral(rs[j]))
		case r == '-' && !first:
			b.WriteRune(r) // a range
		default:
			b.WriteString(classLiteral(r))
		}
		first = false
	}
	return "", 0, fmt.Errorf("'[' has no matching ']'")
}

// classLiteral writes r so that it stands for itself inside a regular
// expression character class.
func classLiteral(r rune) string {
	if r < unicode.MaxASCII && !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' {
		return `\` + string(r)
	}
	return string(r)
}
