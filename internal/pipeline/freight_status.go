package pipeline

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// This file reads and updates a Freight's status maps the way Kargo does:
// currentlyIn (which Stages use the Freight, since when), verifiedIn (where
// it was verified, when, and its longest completed soak there) and
// approvedFor (which Stages a user approved it for, when). The Record and
// Clear functions change freight in place and report whether they changed
// anything, so a caller writes the status only when needed.

// VerifiedIn reports whether freight has been verified in the Stage named
// stage.
func VerifiedIn(freight *kargoapi.Freight, stage string) bool {
	_, ok := freight.Status.VerifiedIn[stage]
	return ok
}

// CurrentlyIn reports whether the Stage named stage uses freight now.
func CurrentlyIn(freight *kargoapi.Freight, stage string) bool {
	_, ok := freight.Status.CurrentlyIn[stage]
	return ok
}

// ApprovedFor reports whether a user approved freight for the Stage named
// stage.
func ApprovedFor(freight *kargoapi.Freight, stage string) bool {
	_, ok := freight.Status.ApprovedFor[stage]
	return ok
}

// LongestSoak returns how long freight has soaked in the Stage named stage
// at now, as Kargo computes it: zero unless the Freight is verified there;
// otherwise the longer of its longest completed soak (recorded when it last
// left the Stage) and, while the Stage still uses it, the time since it
// entered.
func LongestSoak(freight *kargoapi.Freight, stage string, now time.Time) time.Duration {
	rec, verified := freight.Status.VerifiedIn[stage]
	if !verified {
		return 0
	}
	var longest time.Duration
	if rec.LongestCompletedSoak != nil {
		longest = rec.LongestCompletedSoak.Duration
	}
	if cur, in := freight.Status.CurrentlyIn[stage]; in && cur.Since != nil {
		longest = max(longest, now.Sub(cur.Since.Time))
	}
	return max(longest, 0)
}

// RecordVerified records that freight was verified in the Stage named stage
// at now. A Freight already verified there keeps its first verification time
// and its longest soak; RecordVerified then reports false.
func RecordVerified(freight *kargoapi.Freight, stage string, now time.Time) bool {
	if VerifiedIn(freight, stage) {
		return false
	}
	if freight.Status.VerifiedIn == nil {
		freight.Status.VerifiedIn = map[string]kargoapi.VerifiedStage{}
	}
	freight.Status.VerifiedIn[stage] = kargoapi.VerifiedStage{VerifiedAt: timePtr(now)}
	return true
}

// RecordCurrentlyIn records that the Stage named stage started using freight
// at now. A Freight already in use there keeps its since time (its soak goes
// on); RecordCurrentlyIn then reports false.
func RecordCurrentlyIn(freight *kargoapi.Freight, stage string, now time.Time) bool {
	if CurrentlyIn(freight, stage) {
		return false
	}
	if freight.Status.CurrentlyIn == nil {
		freight.Status.CurrentlyIn = map[string]kargoapi.CurrentStage{}
	}
	freight.Status.CurrentlyIn[stage] = kargoapi.CurrentStage{Since: timePtr(now)}
	return true
}

// ClearCurrentlyIn records that the Stage named stage stopped using freight
// at now. When the Freight is verified there, the soak that ends now (now
// minus since) becomes its longest soak if it is longer than the one on
// record. It reports false when the Stage was not using the Freight.
func ClearCurrentlyIn(freight *kargoapi.Freight, stage string, now time.Time) bool {
	cur, in := freight.Status.CurrentlyIn[stage]
	if !in {
		return false
	}
	if rec, verified := freight.Status.VerifiedIn[stage]; verified && cur.Since != nil {
		if soak := now.Sub(cur.Since.Time); soak > 0 &&
			(rec.LongestCompletedSoak == nil || soak > rec.LongestCompletedSoak.Duration) {
			rec.LongestCompletedSoak = &metav1.Duration{Duration: soak}
			freight.Status.VerifiedIn[stage] = rec
		}
	}
	delete(freight.Status.CurrentlyIn, stage)
	if len(freight.Status.CurrentlyIn) == 0 {
		freight.Status.CurrentlyIn = nil
	}
	return true
}

// RecordApproved records that a user approved freight for the Stage named
// stage at now. An earlier approval is kept; RecordApproved then reports
// false.
func RecordApproved(freight *kargoapi.Freight, stage string, now time.Time) bool {
	if ApprovedFor(freight, stage) {
		return false
	}
	if freight.Status.ApprovedFor == nil {
		freight.Status.ApprovedFor = map[string]kargoapi.ApprovedStage{}
	}
	freight.Status.ApprovedFor[stage] = kargoapi.ApprovedStage{ApprovedAt: timePtr(now)}
	return true
}

// SyncCurrentlyIn makes the currentlyIn records of freight agree with the
// current freight collection of stage, as Kargo's Stage reconciler does after
// Promotions: Freight in the collection is recorded as in use by the Stage
// since now (Freight already recorded keeps its time), and any other Freight
// recorded as in use by the Stage is cleared, which ends its soak there at
// now (see ClearCurrentlyIn). It changes the elements of freight in place and
// returns the names of those it changed, sorted.
func SyncCurrentlyIn(stage *kargoapi.Stage, freight []kargoapi.Freight, now time.Time) []string {
	current := map[string]bool{}
	if c := stage.Status.FreightHistory.Current(); c != nil {
		for _, ref := range c.Freight {
			current[ref.Name] = true
		}
	}
	var changed []string
	for i := range freight {
		f := &freight[i]
		var ok bool
		if current[f.Name] {
			ok = RecordCurrentlyIn(f, stage.Name, now)
		} else {
			ok = ClearCurrentlyIn(f, stage.Name, now)
		}
		if ok {
			changed = append(changed, f.Name)
		}
	}
	slices.Sort(changed)
	return changed
}

func timePtr(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
