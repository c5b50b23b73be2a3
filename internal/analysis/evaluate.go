package analysis

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// evaluate decides a measurement's phase from its value, as Argo Rollouts
// does:
//
//   - no conditions: Successful;
//   - only successCondition: Successful when it holds, else Failed;
//   - only failureCondition: Failed when it holds, else Successful;
//   - both: Failed when failureCondition holds, Successful when only
//     successCondition holds, Inconclusive when neither does.
//
// A condition that does not compile, fails while running (result[0] of an
// empty result, say) or is not a boolean is an error: the measurement's
// phase is Error.
func evaluate(result any, metric *rolloutsapi.Metric) (rolloutsapi.AnalysisPhase, error) {
	success, failure := false, false
	var err error
	if metric.SuccessCondition != "" {
		if success, err = evalCondition(result, metric.SuccessCondition); err != nil {
			return rolloutsapi.AnalysisPhaseError, fmt.Errorf("evaluate successCondition %q: %w", metric.SuccessCondition, err)
		}
	}
	if metric.FailureCondition != "" {
		if failure, err = evalCondition(result, metric.FailureCondition); err != nil {
			return rolloutsapi.AnalysisPhaseError, fmt.Errorf("evaluate failureCondition %q: %w", metric.FailureCondition, err)
		}
	}
	switch {
	case metric.SuccessCondition == "" && metric.FailureCondition == "":
		return rolloutsapi.AnalysisPhaseSuccessful, nil
	case metric.FailureCondition == "":
		failure = !success
	case metric.SuccessCondition == "":
		success = !failure
	}
	switch {
	case failure:
		return rolloutsapi.AnalysisPhaseFailed, nil
	case success:
		return rolloutsapi.AnalysisPhaseSuccessful, nil
	default:
		return rolloutsapi.AnalysisPhaseInconclusive, nil
	}
}

// evalCondition runs one condition over result with Rollouts' helpers.
func evalCondition(result any, condition string) (bool, error) {
	env := map[string]any{
		"result":  result,
		"asInt":   asInt,
		"asFloat": asFloat,
		"isNaN":   math.IsNaN,
		"isInf":   func(f float64) bool { return math.IsInf(f, 0) },
		"isNil":   isNil,
		"default": func(v, fallback any) any {
			if isNil(v) {
				return fallback
			}
			return v
		},
	}
	program, err := expr.Compile(condition, expr.Env(env))
	if err != nil {
		return false, exprError(err)
	}
	out, err := expr.Run(program, env)
	if err != nil {
		return false, exprError(err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("the condition gives %T, not a boolean: write a comparison such as result[0] >= 0.95", out)
	}
	return b, nil
}

// exprError keeps expr-lang's message without its source excerpt, which
// spans several lines.
func exprError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return errors.New(fe.Message)
	}
	return err
}

// isNil reports whether v is nil, or a nil pointer, map or slice.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// asInt converts a number or a numeric string to an integer.
func asInt(v any) (int64, error) {
	switch n := v.(type) {
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("asInt(%q): not an integer", n)
		}
		return i, nil
	case float64:
		return int64(n), nil
	case float32:
		return int64(n), nil
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int(), nil
	case rv.CanUint():
		return int64(rv.Uint()), nil
	}
	return 0, fmt.Errorf("asInt: cannot convert %T to an integer", v)
}

// asFloat converts a number or a numeric string to a float.
func asFloat(v any) (float64, error) {
	switch n := v.(type) {
	case string:
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("asFloat(%q): not a number", n)
		}
		return f, nil
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return float64(rv.Int()), nil
	case rv.CanUint():
		return float64(rv.Uint()), nil
	}
	return 0, fmt.Errorf("asFloat: cannot convert %T to a number", v)
}
