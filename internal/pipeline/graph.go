package pipeline

import (
	"slices"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// IsControlFlow reports whether stage is a control-flow Stage: one without
// promotion steps. Nothing is promoted into it; it only passes verified
// Freight on to the Stages downstream of it (see PassThrough).
func IsControlFlow(stage *kargoapi.Stage) bool {
	return stage.Spec.PromotionTemplate == nil || len(stage.Spec.PromotionTemplate.Spec.Steps) == 0
}

// PassThrough applies the control-flow rule, as Kargo's control-flow Stage
// reconciler does: every Freight in freight that is available to stage at
// now and not yet verified in it becomes verified in it, at now, so the
// Stages downstream see it as verified upstream. It changes the elements of
// freight in place and returns the names of those it changed (sorted), whose
// status the caller writes. It does nothing for a Stage with promotion
// steps, whose Freight is verified after it is promoted and checked.
//
// Control-flow Stages never use Freight, so Freight never soaks in them: a
// downstream requiredSoakTime counted in a control-flow Stage cannot be met,
// as in Kargo.
func PassThrough(stage *kargoapi.Stage, freight []kargoapi.Freight, now time.Time) []string {
	if stage == nil || !IsControlFlow(stage) {
		return nil
	}
	var changed []string
	for i := range freight {
		f := &freight[i]
		if VerifiedIn(f, stage.Name) {
			continue
		}
		if ok, _, _ := availability(stage, f, now); !ok {
			continue
		}
		if RecordVerified(f, stage.Name, now) {
			changed = append(changed, f.Name)
		}
	}
	slices.Sort(changed)
	return changed
}

// Downstream returns the names of the Stages immediately downstream of the
// Stage named name — those that list it among the upstream stages of any of
// their requested Freight — sorted and without duplicates.
func Downstream(stages []kargoapi.Stage, name string) []string {
	var out []string
	for i := range stages {
		for _, req := range stages[i].Spec.RequestedFreight {
			if slices.Contains(req.Sources.Stages, name) {
				out = append(out, stages[i].Name)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
