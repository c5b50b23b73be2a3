package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// Argo Rollouts analysis kinds: every Rollouts metric provider is accepted;
// those Caravan does not run are kept as written.

func admitAnalysisTemplate(_ context.Context, r *request, _, at *rolloutsapi.AnalysisTemplate) (field.ErrorList, error) {
	if r.ratchet {
		return nil, nil
	}
	return rolloutsapi.ValidateAnalysisTemplate(at), nil
}

func admitClusterAnalysisTemplate(_ context.Context, r *request, _, at *rolloutsapi.ClusterAnalysisTemplate) (field.ErrorList, error) {
	if r.ratchet {
		return nil, nil
	}
	return rolloutsapi.ValidateClusterAnalysisTemplate(at), nil
}

func admitAnalysisRun(_ context.Context, r *request, _, ar *rolloutsapi.AnalysisRun) (field.ErrorList, error) {
	if r.ratchet {
		return nil, nil
	}
	return rolloutsapi.ValidateAnalysisRun(ar), nil
}
