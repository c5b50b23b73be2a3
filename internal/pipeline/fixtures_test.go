package pipeline

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// t0 is the reference time of the tests; clocks are always injected.
var t0 = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

var (
	w1 = kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: "w1"}
	w2 = kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: "w2"}
	w3 = kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: "w3"}
)

// stageOpt changes a test Stage.
type stageOpt func(*kargoapi.Stage)

// newStage returns a Stage with promotion steps and the given requests.
func newStage(name string, opts ...stageOpt) *kargoapi.Stage {
	s := &kargoapi.Stage{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "p"},
		Spec: kargoapi.StageSpec{
			PromotionTemplate: &kargoapi.PromotionTemplate{Spec: kargoapi.PromotionTemplateSpec{
				Steps: []kargoapi.PromotionStep{{Uses: "git-clone"}},
			}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// direct requests Freight of origin straight from its Warehouse.
func direct(origin kargoapi.FreightOrigin) stageOpt {
	return func(s *kargoapi.Stage) {
		s.Spec.RequestedFreight = append(s.Spec.RequestedFreight, kargoapi.FreightRequest{
			Origin: origin, Sources: kargoapi.FreightSources{Direct: true},
		})
	}
}

// from requests Freight of origin from upstream Stages.
func from(origin kargoapi.FreightOrigin, stages ...string) stageOpt {
	return func(s *kargoapi.Stage) {
		s.Spec.RequestedFreight = append(s.Spec.RequestedFreight, kargoapi.FreightRequest{
			Origin: origin, Sources: kargoapi.FreightSources{Stages: stages},
		})
	}
}

// lastSources changes the sources of the Stage's last request.
func lastSources(f func(*kargoapi.FreightSources)) stageOpt {
	return func(s *kargoapi.Stage) {
		f(&s.Spec.RequestedFreight[len(s.Spec.RequestedFreight)-1].Sources)
	}
}

func all() stageOpt {
	return lastSources(func(src *kargoapi.FreightSources) {
		src.AvailabilityStrategy = kargoapi.FreightAvailabilityStrategyAll
	})
}

func soak(d time.Duration) stageOpt {
	return lastSources(func(src *kargoapi.FreightSources) {
		src.RequiredSoakTime = &metav1.Duration{Duration: d}
	})
}

func matchUpstreamPolicy() stageOpt {
	return lastSources(func(src *kargoapi.FreightSources) {
		src.AutoPromotionOptions = &kargoapi.AutoPromotionOptions{
			SelectionPolicy: kargoapi.AutoPromotionSelectionPolicyMatchUpstream,
		}
	})
}

// controlFlow removes the Stage's promotion steps.
func controlFlow() stageOpt {
	return func(s *kargoapi.Stage) { s.Spec.PromotionTemplate = nil }
}

func labelled(kv ...string) stageOpt {
	return func(s *kargoapi.Stage) {
		s.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Labels[kv[i]] = kv[i+1]
		}
	}
}

// using makes the Stage's current freight collection hold the named Freight.
func using(origin kargoapi.FreightOrigin, freight string) stageOpt {
	return func(s *kargoapi.Stage) {
		c := s.Status.FreightHistory.Current()
		if c == nil {
			c = &kargoapi.FreightCollection{}
			s.Status.FreightHistory.Record(c)
		}
		c.UpdateOrPush(kargoapi.FreightReference{Name: freight, Origin: origin})
	}
}

// freightOpt changes a test Freight.
type freightOpt func(*kargoapi.Freight)

// newFreight returns Freight of origin created at created.
func newFreight(name, alias string, origin kargoapi.FreightOrigin, created time.Time, opts ...freightOpt) kargoapi.Freight {
	f := kargoapi.Freight{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "p", CreationTimestamp: metav1.NewTime(created)},
		Alias:      alias,
		Origin:     origin,
	}
	for _, o := range opts {
		o(&f)
	}
	return f
}

func verified(stage string, at time.Time) freightOpt {
	return func(f *kargoapi.Freight) {
		if f.Status.VerifiedIn == nil {
			f.Status.VerifiedIn = map[string]kargoapi.VerifiedStage{}
		}
		rec := f.Status.VerifiedIn[stage]
		rec.VerifiedAt = timePtr(at)
		f.Status.VerifiedIn[stage] = rec
	}
}

func longest(stage string, d time.Duration) freightOpt {
	return func(f *kargoapi.Freight) {
		rec := f.Status.VerifiedIn[stage]
		rec.LongestCompletedSoak = &metav1.Duration{Duration: d}
		f.Status.VerifiedIn[stage] = rec
	}
}

func inStage(stage string, since time.Time) freightOpt {
	return func(f *kargoapi.Freight) {
		if f.Status.CurrentlyIn == nil {
			f.Status.CurrentlyIn = map[string]kargoapi.CurrentStage{}
		}
		f.Status.CurrentlyIn[stage] = kargoapi.CurrentStage{Since: timePtr(since)}
	}
}

func approved(stage string, at time.Time) freightOpt {
	return func(f *kargoapi.Freight) {
		if f.Status.ApprovedFor == nil {
			f.Status.ApprovedFor = map[string]kargoapi.ApprovedStage{}
		}
		f.Status.ApprovedFor[stage] = kargoapi.ApprovedStage{ApprovedAt: timePtr(at)}
	}
}

// ptr returns a pointer to a copy of f.
func ptr(f kargoapi.Freight) *kargoapi.Freight { return &f }

// promotion returns a Promotion of freight into stage in phase, created at
// created.
func promotion(name, stage, freight string, phase kargoapi.PromotionPhase, created time.Time) kargoapi.Promotion {
	return kargoapi.Promotion{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "p", CreationTimestamp: metav1.NewTime(created)},
		Spec:       kargoapi.PromotionSpec{Stage: stage, Freight: freight},
		Status:     kargoapi.PromotionStatus{Phase: phase},
	}
}
