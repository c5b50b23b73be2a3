package v1alpha1

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the building blocks shared by the per-kind Validate
// functions. Every check here is pure: it looks at one value and never at
// another object. Each error names the rule that was broken and how to fix
// it, so that the message a user sees through the API or the CLI is enough to
// correct the manifest.

// minDiscoveryLimit is the smallest discoveryLimit accepted after
// defaulting; MaxDiscoveryLimit is the largest.
const minDiscoveryLimit int32 = 1

var (
	// varNameRegex is the pattern of a promotion variable's name.
	varNameRegex = regexp.MustCompile(`^[a-zA-Z_]\w*$`)
	// reservedStepAliasRegex matches the aliases Caravan, like Kargo, gives
	// steps and inflated tasks that have none: step-N and task-N.
	reservedStepAliasRegex = regexp.MustCompile(`^(step|task)-\d+$`)
)

// Prefixes that turn a name or path selector into a pattern.
const (
	globPrefix   = "glob:"
	regexPrefix  = "regex:"
	regexpPrefix = "regexp:"
)

// IsReservedStepAlias reports whether alias is one Caravan reserves for
// steps without one (step-0, task-1, ...). Such aliases may not be written in
// a manifest.
func IsReservedStepAlias(alias string) bool {
	return reservedStepAliasRegex.MatchString(strings.TrimSpace(alias))
}

// validateDNSLabel checks that value is an RFC 1123 label, the rule for
// Project names and Warehouse subscription names.
func validateDNSLabel(p *field.Path, value, what string) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(p, fmt.Sprintf(
			"%s is required: set it to a lowercase name such as \"my-name\"", what,
		))}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(p, value, fmt.Sprintf(
			"%s must be a DNS-1123 label: %s", what, msg,
		)))
	}
	return errs
}

// validateDNSSubdomain checks that value is an RFC 1123 subdomain, the rule
// for the names of Kubernetes objects (and so for every reference to one).
// An empty value is reported as required.
func validateDNSSubdomain(p *field.Path, value, what string) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(p, fmt.Sprintf(
			"%s is required: set it to the object's name", what,
		))}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(p, value, fmt.Sprintf(
			"%s must be a valid object name (DNS-1123 subdomain): %s", what, msg,
		)))
	}
	return errs
}

// validateRegexp checks that expr compiles as a Go (RE2) regular expression.
func validateRegexp(p *field.Path, expr string) *field.Error {
	if _, err := regexp.Compile(expr); err != nil {
		return field.Invalid(p, expr, fmt.Sprintf(
			"must be a valid regular expression: %v: fix the pattern or remove it", err,
		))
	}
	return nil
}

// validateRegexps checks every expression of a list.
func validateRegexps(p *field.Path, exprs []string) field.ErrorList {
	var errs field.ErrorList
	for i, expr := range exprs {
		if err := validateRegexp(p.Index(i), expr); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// validateSemverConstraint checks that c parses as a Masterminds semver
// constraint. An empty constraint means "no constraint" and is valid.
func validateSemverConstraint(p *field.Path, c string) *field.Error {
	if c == "" {
		return nil
	}
	if _, err := semver.NewConstraint(c); err != nil {
		return field.Invalid(p, c, fmt.Sprintf(
			"must be a valid semver constraint such as \"^1.2.0\" or \">=1.0.0, <2.0.0\": %v: "+
				"fix the constraint or remove it", err,
		))
	}
	return nil
}

// validateGlob reports whether pattern is a well-formed glob: balanced
// brackets and braces and no dangling escape. It accepts the doublestar
// syntax (**, {a,b}) Kargo's matchers understand.
func validateGlob(pattern string) error {
	// path.Match checks the whole pattern for malformed character classes
	// and trailing escapes; braces it treats as literals, so check those
	// separately.
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("unterminated character class or dangling escape")
	}
	depth := 0
	escaped := false
	for _, r := range pattern {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '{':
			depth++
		case r == '}':
			if depth == 0 {
				return fmt.Errorf("'}' without a matching '{'")
			}
			depth--
		}
	}
	if depth != 0 {
		return fmt.Errorf("'{' without a matching '}'")
	}
	return nil
}

// validateNamePattern checks a name selector such as a promotion policy's
// stageSelector.name: an exact name, or a pattern with one of the prefixes
// "glob:", "regex:" or "regexp:". exact tells the caller whether the value
// was an exact name (and so can take part in duplicate checks).
func validateNamePattern(p *field.Path, value, what string) (errs field.ErrorList, exact bool) {
	switch {
	case strings.HasPrefix(value, globPrefix):
		if err := validateGlob(strings.TrimPrefix(value, globPrefix)); err != nil {
			errs = append(errs, field.Invalid(p, value, fmt.Sprintf(
				"must be a valid glob after %q: %v: fix the pattern", globPrefix, err,
			)))
		}
		return errs, false
	case strings.HasPrefix(value, regexPrefix), strings.HasPrefix(value, regexpPrefix):
		expr := strings.TrimPrefix(strings.TrimPrefix(value, regexpPrefix), regexPrefix)
		if _, err := regexp.Compile(expr); err != nil {
			errs = append(errs, field.Invalid(p, value, fmt.Sprintf(
				"must be a valid regular expression after the prefix: %v: fix the pattern", err,
			)))
		}
		return errs, false
	}
	if prefix, _, found := strings.Cut(value, ":"); found {
		return field.ErrorList{field.Invalid(p, value, fmt.Sprintf(
			"unknown pattern prefix %q: use \"glob:\", \"regex:\" or \"regexp:\", "+
				"or write an exact %s without a prefix", prefix+":", what,
		))}, false
	}
	return validateDNSSubdomain(p, value, "an exact "+what), true
}

// validatePathSelector checks one entry of a Git subscription's includePaths
// or excludePaths: a path, or a pattern with one of the prefixes "glob:",
// "regex:" or "regexp:".
func validatePathSelector(p *field.Path, value string) *field.Error {
	switch {
	case value == "":
		return field.Required(p, "an empty path selector matches nothing useful: "+
			"write a path, or a pattern prefixed \"glob:\", \"regex:\" or \"regexp:\", or remove the entry")
	case strings.HasPrefix(value, globPrefix):
		if err := validateGlob(strings.TrimPrefix(value, globPrefix)); err != nil {
			return field.Invalid(p, value, fmt.Sprintf(
				"must be a valid glob after %q: %v: fix the pattern", globPrefix, err,
			))
		}
	case strings.HasPrefix(value, regexPrefix), strings.HasPrefix(value, regexpPrefix):
		expr := strings.TrimPrefix(strings.TrimPrefix(value, regexpPrefix), regexPrefix)
		if _, err := regexp.Compile(expr); err != nil {
			return field.Invalid(p, value, fmt.Sprintf(
				"must be a valid regular expression after the prefix: %v: fix the pattern", err,
			))
		}
	}
	return nil
}

// validateNonNegativeDuration checks an already-decoded duration.
func validateNonNegativeDuration(p *field.Path, d *metav1.Duration) *field.Error {
	if d == nil || d.Duration >= 0 {
		return nil
	}
	return field.Invalid(p, d.Duration.String(), "must not be negative: use a positive duration or remove it")
}

// validateLabelSelector checks a label selector's keys, operators and values
// the way Kubernetes does, so that a selector which can never be evaluated is
// refused when it is written rather than failing later.
func validateLabelSelector(p *field.Path, sel *metav1.LabelSelector) field.ErrorList {
	if sel == nil {
		return nil
	}
	return metav1validation.ValidateLabelSelector(
		sel,
		metav1validation.LabelSelectorValidationOptions{},
		p,
	)
}

// validateEnum checks that value is one of allowed. An empty value is left to
// the caller (most enums are optional and defaulted).
func validateEnum[T ~string](p *field.Path, value T, allowed ...T) *field.Error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	strs := make([]string, len(allowed))
	for i, a := range allowed {
		strs[i] = string(a)
	}
	return field.NotSupported(p, value, strs)
}

// duplicateOf returns a Duplicate error that also says where the first
// occurrence is and how to resolve the clash.
func duplicateOf(p *field.Path, value any, first *field.Path, fix string) *field.Error {
	err := field.Duplicate(p, value)
	err.Detail = fmt.Sprintf("already used at %s: %s", first, fix)
	return err
}
