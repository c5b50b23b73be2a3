package pipeline

import (
	"reflect"
	"slices"
	"testing"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestIsControlFlow(t *testing.T) {
	tests := []struct {
		name  string
		stage *kargoapi.Stage
		want  bool
	}{
		{"steps", newStage("s", direct(w1)), false},
		{"no promotion template", newStage("s", direct(w1), controlFlow()), true},
		{"a template without steps", newStage("s", direct(w1), func(s *kargoapi.Stage) {
			s.Spec.PromotionTemplate = &kargoapi.PromotionTemplate{}
		}), true},
	}
	for _, tt := range tests {
		if got := IsControlFlow(tt.stage); got != tt.want {
			t.Errorf("%s: IsControlFlow() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPassThrough(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name        string
		stage       *kargoapi.Stage
		freight     []kargoapi.Freight
		wantChanged []string
		wantIn      []string // Freight verified in the Stage afterwards
	}{
		{
			name:  "available Freight becomes verified at once",
			stage: newStage("gate", from(w1, "test"), controlFlow()),
			freight: []kargoapi.Freight{
				newFreight("b", "", w1, t0, verified("test", t0)),
				newFreight("a", "", w1, t0, verified("test", t0)),
				newFreight("unverified", "", w1, t0),
				newFreight("approved", "", w1, t0, approved("gate", t0)),
			},
			wantChanged: []string{"a", "approved", "b"},
			wantIn:      []string{"b", "a", "approved"},
		},
		{
			name:  "already verified Freight is left alone",
			stage: newStage("gate", from(w1, "test"), controlFlow()),
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0, verified("test", t0), verified("gate", t0)),
			},
			wantChanged: nil,
			wantIn:      []string{"a"},
		},
		{
			name:  "direct: every Freight of the origin",
			stage: newStage("gate", direct(w1), controlFlow()),
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0),
				newFreight("z", "", w2, t0),
			},
			wantChanged: []string{"a"},
			wantIn:      []string{"a"},
		},
		{
			name:  "All fan-in: only Freight verified in every upstream",
			stage: newStage("gate", from(w1, "x", "y"), all(), controlFlow()),
			freight: []kargoapi.Freight{
				newFreight("both", "", w1, t0, verified("x", t0), verified("y", t0)),
				newFreight("one", "", w1, t0, verified("x", t0)),
			},
			wantChanged: []string{"both"},
			wantIn:      []string{"both"},
		},
		{
			name:  "a Stage with steps is not a pass-through",
			stage: newStage("uat", from(w1, "test")),
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0, verified("test", t0)),
			},
			wantChanged: nil,
			wantIn:      nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PassThrough(tt.stage, tt.freight, now)
			if !reflect.DeepEqual(got, tt.wantChanged) {
				t.Errorf("PassThrough() = %v, want %v", got, tt.wantChanged)
			}
			var in []string
			for i := range tt.freight {
				f := &tt.freight[i]
				if !VerifiedIn(f, tt.stage.Name) {
					continue
				}
				in = append(in, f.Name)
				at := f.Status.VerifiedIn[tt.stage.Name].VerifiedAt.Time
				if slices.Contains(tt.wantChanged, f.Name) && !at.Equal(now) {
					t.Errorf("%s verified at %v, want %v", f.Name, at, now)
				}
			}
			if !reflect.DeepEqual(in, tt.wantIn) {
				t.Errorf("verified in %q: %v, want %v", tt.stage.Name, in, tt.wantIn)
			}
		})
	}
}

func TestDownstream(t *testing.T) {
	stages := []kargoapi.Stage{
		*newStage("test", direct(w1), direct(w2)),
		*newStage("uat-b", from(w1, "test")),
		*newStage("uat-a", from(w1, "test"), from(w2, "test")),
		*newStage("gate", from(w1, "uat-a", "uat-b"), all(), controlFlow()),
		*newStage("prod", from(w1, "gate"), from(w2, "uat-a")),
		*newStage("hotfix", direct(w1)),
	}
	tests := []struct {
		name string
		want []string
	}{
		{"test", []string{"uat-a", "uat-b"}},
		{"uat-a", []string{"gate", "prod"}},
		{"uat-b", []string{"gate"}},
		{"gate", []string{"prod"}},
		{"prod", nil},
		{"unknown", nil},
	}
	for _, tt := range tests {
		if got := Downstream(stages, tt.name); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Downstream(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPipelineFlow drives one new Freight through a pipeline of eight
// Stages — a fan-out, a control-flow Stage with an All fan-in, a OneOf
// fan-in and a soak time — using only this package's rules, the way the
// reconcilers will: auto-promote when ShouldAutoPromote says so, verify at
// once after a promotion (no verification configured), pass Freight through
// control-flow Stages, and advance the injected clock by the reported Wait.
//
//	test ─┬─ uat-a ─┐              ┌─ prod-eu ─┐
//	      └─ uat-b ─┴─ gate (All) ─┴─ prod-us ─┴─ dr (OneOf)
//	                                  prod-us ─── audit (requiredSoakTime 30m)
func TestPipelineFlow(t *testing.T) {
	stages := []*kargoapi.Stage{
		newStage("test", direct(w1)),
		newStage("uat-a", from(w1, "test")),
		newStage("uat-b", from(w1, "test")),
		newStage("gate", from(w1, "uat-a", "uat-b"), all(), controlFlow()),
		newStage("prod-eu", from(w1, "gate")),
		newStage("prod-us", from(w1, "gate")),
		newStage("dr", from(w1, "prod-eu", "prod-us")),
		newStage("audit", from(w1, "prod-us"), soak(30*time.Minute)),
	}
	upstream := map[string]*kargoapi.Stage{}
	for _, s := range stages {
		upstream[s.Name] = s
	}
	project := projectConfig(byName("glob:*", true))
	freight := []kargoapi.Freight{newFreight("f1", "", w1, t0)}
	now := t0

	promote := func(s *kargoapi.Stage, f *kargoapi.Freight) {
		c := &kargoapi.FreightCollection{}
		c.UpdateOrPush(kargoapi.FreightReference{Name: f.Name, Origin: f.Origin})
		s.Status.FreightHistory.Record(c)
		RecordCurrentlyIn(f, s.Name, now)
		RecordVerified(f, s.Name, now)
	}

	var arrived []string
	for round := 0; round < 10 && !usesFreight(upstream["audit"], w1, "f1"); round++ {
		var wait time.Duration
		for _, s := range stages {
			if IsControlFlow(s) {
				PassThrough(s, freight, now)
				continue
			}
			d, err := ShouldAutoPromote(AutoPromotionInput{
				Project: project, Stage: s, Origin: w1, Freight: freight, Upstream: upstream,
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			if d.Wait > 0 && (wait == 0 || d.Wait < wait) {
				wait = d.Wait
			}
			if d.Promote {
				promote(s, d.Freight)
				arrived = append(arrived, s.Name)
			}
		}
		now = now.Add(max(wait, time.Second))
	}

	want := []string{"test", "uat-a", "uat-b", "prod-eu", "prod-us", "dr", "audit"}
	if !reflect.DeepEqual(arrived, want) {
		t.Errorf("promotion order = %v, want %v", arrived, want)
	}
	if !VerifiedIn(&freight[0], "gate") || CurrentlyIn(&freight[0], "gate") {
		t.Errorf("f1 should be verified in gate without being in use there: %+v", freight[0].Status)
	}
	if got := freight[0].Status.CurrentlyIn["audit"].Since; got == nil || got.Time.Sub(t0) < 30*time.Minute {
		t.Errorf("f1 entered audit at %v, want no sooner than 30m after t0", got)
	}
}
