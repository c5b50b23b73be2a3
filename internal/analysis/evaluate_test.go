package analysis

import (
	"math"
	"strings"
	"testing"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name             string
		result           any
		success, failure string
		want             rolloutsapi.AnalysisPhase
		wantErr          string
	}{
		{name: "no conditions", result: 1.0, want: phaseSuccessful},
		{name: "success holds", result: 0.99, success: "result >= 0.95", want: phaseSuccessful},
		{name: "success does not hold", result: 0.5, success: "result >= 0.95", want: phaseFailed},
		{name: "failure holds", result: 0.5, failure: "result < 0.9", want: phaseFailed},
		{name: "failure does not hold", result: 0.95, failure: "result < 0.9", want: phaseSuccessful},
		{name: "both: success", result: 0.99, success: "result >= 0.95", failure: "result < 0.5", want: phaseSuccessful},
		{name: "both: failure wins", result: 0.4, success: "result < 1", failure: "result < 0.5", want: phaseFailed},
		{name: "both: neither", result: 0.7, success: "result >= 0.95", failure: "result < 0.5", want: phaseInconclusive},
		{name: "vector", result: []float64{0.97, 0.1}, success: "result[0] >= 0.95", want: phaseSuccessful},
		{name: "empty vector with len", result: []float64{}, success: "len(result) == 0 || result[0] >= 0.95", want: phaseSuccessful},
		{name: "empty vector indexed", result: []float64{}, success: "result[0] >= 0.95", want: phaseError,
			wantErr: `evaluate successCondition "result[0] >= 0.95": index out of range: 0 (array length is 0)`},
		{name: "isNaN", result: []float64{math.NaN()}, success: "isNaN(result[0]) || result[0] >= 0.95", want: phaseSuccessful},
		{name: "NaN compares false", result: math.NaN(), success: "result >= 0.95", failure: "result < 0.95", want: phaseInconclusive},
		{name: "isInf", result: math.Inf(1), failure: "isInf(result)", want: phaseFailed},
		{name: "asInt of a string", result: "42", success: "asInt(result) == 42", want: phaseSuccessful},
		{name: "asInt of a float", result: 42.9, success: "asInt(result) == 42", want: phaseSuccessful},
		{name: "asInt of text", result: "many", success: "asInt(result) > 1", want: phaseError, wantErr: `asInt("many"): not an integer`},
		{name: "asFloat of a string", result: "0.25", success: "asFloat(result) < 0.5", want: phaseSuccessful},
		{name: "isNil", result: nil, success: "isNil(result)", want: phaseSuccessful},
		{name: "default of nil", result: nil, success: "default(result, 0) < 0.05", want: phaseSuccessful},
		{name: "default of a value", result: 0.5, success: "default(result, 0) < 0.05", want: phaseFailed},
		{name: "string", result: "ok", success: `result == "ok"`, want: phaseSuccessful},
		{name: "map", result: map[string]any{"healthy": true}, success: "result.healthy", want: phaseSuccessful},
		{name: "not a boolean", result: 1.0, success: "result + 1", want: phaseError, wantErr: "the condition gives float64, not a boolean"},
		{name: "does not compile", result: 1.0, failure: "result >", want: phaseError, wantErr: `evaluate failureCondition "result >": unexpected token EOF`},
		{name: "nil compared", result: nil, success: "result > 1", want: phaseError, wantErr: "evaluate successCondition"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evaluate(tc.result, &rolloutsapi.Metric{SuccessCondition: tc.success, FailureCondition: tc.failure})
			if got != tc.want {
				t.Errorf("phase = %s (%v), want %s", got, err, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error = %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error %q spans several lines; a message is one line", err)
			}
		})
	}
}
