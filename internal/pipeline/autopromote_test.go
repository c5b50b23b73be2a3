package pipeline

import (
	"reflect"
	"strings"
	"testing"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestApplyManualPromotion(t *testing.T) {
	later := t0.Add(time.Hour)
	onW1 := Hold{Origin: w1, Freight: "old", Actor: "alice", Since: t0}
	onW2 := Hold{Origin: w2, Freight: "x", Actor: "bob", Since: t0}
	tests := []struct {
		name      string
		holds     []Hold
		origin    kargoapi.FreightOrigin
		promoted  string
		candidate string
		want      []Hold
	}{
		{
			name:     "promoting something other than the candidate places a hold",
			origin:   w1,
			promoted: "old", candidate: "new",
			want: []Hold{{Origin: w1, Freight: "old", Actor: "carol", Since: later}},
		},
		{
			name:     "promoting the candidate places none",
			origin:   w1,
			promoted: "new", candidate: "new",
			want: []Hold{},
		},
		{
			name:     "promoting the candidate lifts the hold on its origin only",
			holds:    []Hold{onW2, onW1},
			origin:   w1,
			promoted: "new", candidate: "new",
			want: []Hold{onW2},
		},
		{
			name:     "a second rollback replaces the hold on the origin",
			holds:    []Hold{onW1, onW2},
			origin:   w1,
			promoted: "older", candidate: "new",
			want: []Hold{{Origin: w1, Freight: "older", Actor: "carol", Since: later}, onW2},
		},
		{
			name:     "holds are kept sorted by origin",
			holds:    []Hold{onW2},
			origin:   w1,
			promoted: "old", candidate: "new",
			want: []Hold{{Origin: w1, Freight: "old", Actor: "carol", Since: later}, onW2},
		},
		{
			name:     "no candidate: nothing changes",
			holds:    []Hold{onW1},
			origin:   w1,
			promoted: "anything", candidate: "",
			want: []Hold{onW1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]Hold(nil), tt.holds...)
			got := ApplyManualPromotion(tt.holds, tt.origin, tt.promoted, tt.candidate, "carol", later)
			if len(got) == 0 && len(tt.want) == 0 {
				got, tt.want = nil, nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ApplyManualPromotion() = %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.holds, before) {
				t.Errorf("ApplyManualPromotion modified its input: %+v, was %+v", tt.holds, before)
			}
		})
	}
}

func TestLiftHoldAndHoldFor(t *testing.T) {
	holds := []Hold{{Origin: w1, Freight: "a"}, {Origin: w2, Freight: "b"}}
	if h, ok := HoldFor(holds, w2); !ok || h.Freight != "b" {
		t.Errorf("HoldFor(w2) = %+v, %v", h, ok)
	}
	if _, ok := HoldFor(holds, w3); ok {
		t.Errorf("HoldFor(w3) found a hold")
	}
	got := LiftHold(holds, w1)
	if len(got) != 1 || got[0].Origin != w2 {
		t.Errorf("LiftHold(w1) = %+v", got)
	}
	if len(holds) != 2 {
		t.Errorf("LiftHold modified its input")
	}
}

func TestShouldAutoPromote(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	enabled := projectConfig(byName("glob:*", true))
	prefix := `auto-promotion of Freight from Warehouse "w1" into Stage "uat"`
	uat := func(opts ...stageOpt) *kargoapi.Stage {
		return newStage("uat", append([]stageOpt{from(w1, "test")}, opts...)...)
	}
	freight := []kargoapi.Freight{
		newFreight("old", "calm-cat", w1, t0, verified("test", t0)),
		newFreight("new", "wise-fox", w1, t0.Add(time.Hour), verified("test", t0)),
		newFreight("unverified", "", w1, t0.Add(2*time.Hour)),
		newFreight("other", "", w2, t0.Add(3*time.Hour)),
	}
	tests := []struct {
		name       string
		in         AutoPromotionInput
		promote    bool
		candidate  string
		reason     string
		wait       time.Duration
		wantErrStr string
	}{
		{
			name:      "promote the newest available Freight",
			in:        AutoPromotionInput{Project: enabled, Stage: uat(), Origin: w1, Freight: freight},
			promote:   true,
			candidate: "new",
			reason:    prefix + `: promote the candidate, Freight "new" (alias "wise-fox")`,
		},
		{
			name: "control-flow Stage",
			in: AutoPromotionInput{
				Project: enabled, Stage: newStage("gate", from(w1, "test"), controlFlow()), Origin: w1, Freight: freight,
			},
			reason: `Stage "gate" is a control-flow Stage (it has no promotion steps): nothing is promoted into it; ` +
				`Freight available to it is verified in it at once and passes on downstream`,
		},
		{
			name:   "origin not requested",
			in:     AutoPromotionInput{Project: enabled, Stage: uat(), Origin: w2, Freight: freight},
			reason: `Stage "uat" does not request Freight from Warehouse "w2"`,
		},
		{
			name: "no ProjectConfig",
			in:   AutoPromotionInput{Stage: uat(), Origin: w1, Freight: freight},
			reason: `auto-promotion is not enabled for Stage "uat": the Project has no ProjectConfig; add one with a ` +
				`promotion policy that selects "uat" and sets autoPromotionEnabled: true`,
		},
		{
			name: "no policy selects the Stage",
			in:   AutoPromotionInput{Project: projectConfig(byName("prod", true)), Stage: uat(), Origin: w1, Freight: freight},
			reason: `auto-promotion is not enabled for Stage "uat": no promotion policy of ProjectConfig "p" selects it; ` +
				`add one that does, with autoPromotionEnabled: true`,
		},
		{
			name: "the first policy that selects the Stage disables it",
			in: AutoPromotionInput{
				Project: projectConfig(byName("glob:u*", false), byName("uat", true)),
				Stage:   uat(), Origin: w1, Freight: freight,
			},
			reason: `auto-promotion is not enabled for Stage "uat": the first policy of ProjectConfig "p" that selects ` +
				`it, promotionPolicies[0] (stageSelector name "glob:u*"), does not set autoPromotionEnabled: true`,
		},
		{
			name: "a bad policy is an error",
			in: AutoPromotionInput{
				Project: projectConfig(byName("regex:(", true)), Stage: uat(), Origin: w1, Freight: freight,
			},
			wantErrStr: `ProjectConfig "p": promotionPolicies[0]: stageSelector.name "regex:("`,
		},
		{
			name: "a hold on the origin",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(using(w1, "old")), Origin: w1, Freight: freight,
				Holds: []Hold{{Origin: w1, Freight: "old", Actor: "alice", Since: t0.Add(2 * time.Hour)}},
			},
			candidate: "new",
			reason: prefix + ` is on hold since 2026-08-01T14:00:00Z: Freight "old" was promoted by alice instead ` +
				`of the auto-promotion candidate; promote the candidate, Freight "new" (alias "wise-fox"), to lift the hold`,
		},
		{
			name: "a hold on another origin does not matter",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(from(w2, "test")), Origin: w1, Freight: freight,
				Holds: []Hold{{Origin: w2, Freight: "x", Actor: "alice", Since: t0}},
			},
			promote:   true,
			candidate: "new",
			reason:    prefix + `: promote the candidate, Freight "new" (alias "wise-fox")`,
		},
		{
			name: "a hold and no candidate",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(), Origin: w1, Freight: freight[2:3],
				Holds: []Hold{{Origin: w1, Freight: "old", Since: t0}},
			},
			reason: prefix + ` is on hold since 2026-08-01T12:00:00Z: Freight "old" was promoted instead of the ` +
				`auto-promotion candidate; promote the candidate (once there is one) or lift the hold to resume`,
		},
		{
			name: "no candidate",
			in:   AutoPromotionInput{Project: enabled, Stage: uat(), Origin: w1, Freight: freight[2:]},
			reason: prefix + ` is waiting: no Freight from Warehouse "w1" is available to Stage "uat"; the newest, ` +
				`Freight "unverified", is not verified in upstream Stage "test"; it is not approved for "uat" either`,
		},
		{
			name: "no candidate yet, one soaking",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(soak(time.Hour)), Origin: w1,
				Freight: []kargoapi.Freight{
					newFreight("new", "", w1, t0, verified("test", now), inStage("test", now.Add(-15*time.Minute))),
				},
			},
			reason: prefix + ` is waiting: no Freight from Warehouse "w1" is available to Stage "uat"; the newest, ` +
				`Freight "new", is soaking in "test" for 45m more (requiredSoakTime 1h); it is not approved for "uat" either`,
			wait: 45 * time.Minute,
		},
		{
			name:      "the Stage already uses the candidate",
			in:        AutoPromotionInput{Project: enabled, Stage: uat(using(w1, "new")), Origin: w1, Freight: freight},
			candidate: "new",
			reason:    prefix + ` has nothing to do: Stage "uat" already uses the candidate, Freight "new" (alias "wise-fox")`,
		},
		{
			name: "a Promotion of the candidate is running",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(using(w1, "old")), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{
					promotion("uat.01.old", "uat", "old", kargoapi.PromotionPhaseSucceeded, t0),
					promotion("uat.02.new", "uat", "new", kargoapi.PromotionPhaseRunning, t0.Add(time.Hour)),
				},
			},
			candidate: "new",
			reason:    prefix + ` is waiting: Promotion "uat.02.new" of the candidate, Freight "new" (alias "wise-fox"), is running`,
		},
		{
			name: "a Promotion of the candidate is queued (no phase yet)",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{promotion("uat.02.new", "uat", "new", "", t0)},
			},
			candidate: "new",
			reason:    prefix + ` is waiting: Promotion "uat.02.new" of the candidate, Freight "new" (alias "wise-fox"), is pending`,
		},
		{
			name: "a failed Promotion is not retried",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(using(w1, "old")), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{func() kargoapi.Promotion {
					p := promotion("uat.02.new", "uat", "new", kargoapi.PromotionPhaseFailed, t0)
					p.Status.Message = "step git-push failed: rejected"
					return p
				}()},
			},
			candidate: "new",
			reason: prefix + ` is stopped: Promotion "uat.02.new" of the candidate, Freight "new" (alias "wise-fox"), ` +
				`failed (step git-push failed: rejected), and a failed Promotion is not retried automatically; ` +
				`fix the cause and promote it by hand, or wait for newer Freight`,
		},
		{
			name: "an errored Promotion is not retried",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{promotion("uat.02.new", "uat", "new", kargoapi.PromotionPhaseErrored, t0)},
			},
			candidate: "new",
			reason: prefix + ` is stopped: Promotion "uat.02.new" of the candidate, Freight "new" (alias "wise-fox"), ` +
				`errored, and a failed Promotion is not retried automatically; fix the cause and promote it by hand, ` +
				`or wait for newer Freight`,
		},
		{
			name: "the last Promotion decides: failed after an earlier success",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(using(w1, "old")), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{
					promotion("uat.03.new", "uat", "new", kargoapi.PromotionPhaseFailed, t0.Add(2*time.Hour)),
					promotion("uat.01.new", "uat", "new", kargoapi.PromotionPhaseSucceeded, t0),
				},
			},
			candidate: "new",
			reason: prefix + ` is stopped: Promotion "uat.03.new" of the candidate, Freight "new" (alias "wise-fox"), ` +
				`failed, and a failed Promotion is not retried automatically; fix the cause and promote it by hand, ` +
				`or wait for newer Freight`,
		},
		{
			name: "an aborted Promotion is not redone",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{promotion("uat.02.new", "uat", "new", kargoapi.PromotionPhaseAborted, t0)},
			},
			candidate: "new",
			reason: prefix + ` is stopped: Promotion "uat.02.new" of the candidate, Freight "new" (alias "wise-fox"), ` +
				`was aborted, and auto-promotion does not redo it; promote it by hand, or wait for newer Freight`,
		},
		{
			name: "a Stage that moved off the candidate is not moved back",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(using(w1, "old")), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{
					promotion("uat.02.new", "uat", "new", kargoapi.PromotionPhaseSucceeded, t0),
					promotion("uat.03.old", "uat", "old", kargoapi.PromotionPhaseSucceeded, t0.Add(time.Hour)),
				},
			},
			candidate: "new",
			reason: prefix + ` is stopped: the candidate, Freight "new" (alias "wise-fox"), was promoted before ` +
				`(Promotion "uat.02.new") and Stage "uat" has moved off it since; auto-promotion does not move it back, ` +
				`so promote it by hand, or wait for newer Freight`,
		},
		{
			name: "failed Promotions of other Freight or into other Stages do not matter",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(using(w1, "old")), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{
					promotion("uat.01.old", "uat", "old", kargoapi.PromotionPhaseFailed, t0),
					promotion("prod.01.new", "prod", "new", kargoapi.PromotionPhaseFailed, t0),
				},
			},
			promote:   true,
			candidate: "new",
			reason:    prefix + `: promote the candidate, Freight "new" (alias "wise-fox")`,
		},
		{
			name: "a Promotion by origin is matched through its status",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(), Origin: w1, Freight: freight,
				Promotions: []kargoapi.Promotion{func() kargoapi.Promotion {
					p := promotion("uat.02.x", "uat", "", kargoapi.PromotionPhaseFailed, t0)
					p.Status.Freight = &kargoapi.FreightReference{Name: "new", Origin: w1}
					return p
				}()},
			},
			candidate: "new",
			reason: prefix + ` is stopped: Promotion "uat.02.x" of the candidate, Freight "new" (alias "wise-fox"), ` +
				`failed, and a failed Promotion is not retried automatically; fix the cause and promote it by hand, ` +
				`or wait for newer Freight`,
		},
		{
			name: "MatchUpstream follows the upstream Stage",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(matchUpstreamPolicy()), Origin: w1, Freight: freight,
				Upstream: map[string]*kargoapi.Stage{"test": newStage("test", direct(w1), using(w1, "old"))},
			},
			promote:   true,
			candidate: "old",
			reason:    prefix + `: promote the candidate, Freight "old" (alias "calm-cat")`,
		},
		{
			name: "a newer Freight soaking: promote now, and the decision may change later",
			in: AutoPromotionInput{
				Project: enabled, Stage: uat(soak(time.Hour)), Origin: w1,
				Freight: []kargoapi.Freight{
					newFreight("old", "", w1, t0, verified("test", t0), longest("test", 2*time.Hour)),
					newFreight("new", "", w1, t0.Add(time.Hour), verified("test", now), inStage("test", now.Add(-50*time.Minute))),
				},
			},
			promote:   true,
			candidate: "old",
			reason:    prefix + `: promote the candidate, Freight "old"`,
			wait:      10 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ShouldAutoPromote(tt.in, now)
			if tt.wantErrStr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErrStr) {
					t.Fatalf("ShouldAutoPromote() error = %v, want one starting %q", err, tt.wantErrStr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ShouldAutoPromote() error = %v", err)
			}
			var cand string
			if got.Freight != nil {
				cand = got.Freight.Name
			}
			if got.Promote != tt.promote || cand != tt.candidate || got.Reason != tt.reason || got.Wait != tt.wait {
				t.Errorf("ShouldAutoPromote() =\n  promote %v, candidate %q, wait %v\n  %q\nwant\n  promote %v, candidate %q, wait %v\n  %q",
					got.Promote, cand, got.Wait, got.Reason, tt.promote, tt.candidate, tt.wait, tt.reason)
			}
		})
	}
}

// TestHoldLifecycle plays a rollback and a resume through the functions the
// reconciler and admission call, in order.
func TestHoldLifecycle(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	project := projectConfig(byName("uat", true))
	freight := []kargoapi.Freight{
		newFreight("a", "", w1, t0, verified("test", t0)),
		newFreight("b", "", w1, t0.Add(time.Hour), verified("test", t0)),
	}
	stage := newStage("uat", from(w1, "test"), using(w1, "b"))
	in := AutoPromotionInput{Project: project, Stage: stage, Origin: w1, Freight: freight}

	// b is current and the candidate: nothing to do.
	d, _ := ShouldAutoPromote(in, now)
	if d.Promote || d.Freight == nil || d.Freight.Name != "b" {
		t.Fatalf("before the rollback: %+v", d)
	}

	// A user rolls back to a: a hold is placed, and auto-promotion waits
	// even though b is the candidate and the Stage now uses a.
	cand, _ := Candidate(stage, w1, freight, nil, now)
	in.Holds = ApplyManualPromotion(in.Holds, w1, "a", cand.Name, "alice", now)
	in.Stage = newStage("uat", from(w1, "test"), using(w1, "a"))
	if d, _ = ShouldAutoPromote(in, now); d.Promote || !strings.Contains(d.Reason, "is on hold") {
		t.Fatalf("after the rollback: %+v", d)
	}

	// Newer Freight c arrives and is verified: still on hold.
	in.Freight = append(in.Freight, newFreight("c", "", w1, t0.Add(2*time.Hour), verified("test", now)))
	if d, _ = ShouldAutoPromote(in, now); d.Promote || d.Freight.Name != "c" || !strings.Contains(d.Reason, `promote the candidate, Freight "c"`) {
		t.Fatalf("newer Freight during the hold: %+v", d)
	}

	// The user promotes the candidate c: the hold is lifted, and the Stage
	// uses c, so there is nothing left to do.
	in.Holds = ApplyManualPromotion(in.Holds, w1, "c", d.Freight.Name, "alice", now)
	if len(in.Holds) != 0 {
		t.Fatalf("holds after promoting the candidate = %+v", in.Holds)
	}
	in.Stage = newStage("uat", from(w1, "test"), using(w1, "c"))
	if d, _ = ShouldAutoPromote(in, now); d.Promote || !strings.Contains(d.Reason, "already uses the candidate") {
		t.Fatalf("after the resume: %+v", d)
	}

	// Auto-promotion follows the next Freight again.
	in.Freight = append(in.Freight, newFreight("d", "", w1, t0.Add(3*time.Hour), verified("test", now)))
	if d, _ = ShouldAutoPromote(in, now); !d.Promote || d.Freight.Name != "d" {
		t.Fatalf("next Freight after the resume: %+v", d)
	}
}
