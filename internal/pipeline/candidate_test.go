package pipeline

import (
	"testing"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestCandidate(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	tests := []struct {
		name     string
		stage    *kargoapi.Stage
		origin   kargoapi.FreightOrigin
		freight  []kargoapi.Freight
		upstream map[string]*kargoapi.Stage
		want     string // the candidate's name; "" for none
		reason   string
	}{
		{
			name:   "NewestFreight: the newest of a direct origin",
			stage:  newStage("test", direct(w1)),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0),
				newFreight("c", "", w1, t0.Add(2*time.Hour)),
				newFreight("b", "", w1, t0.Add(time.Hour)),
			},
			want: "c",
		},
		{
			name:   "NewestFreight: same creation time, the greater name wins",
			stage:  newStage("test", direct(w1)),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0),
				newFreight("b", "", w1, t0),
			},
			want: "b",
		},
		{
			name:   "NewestFreight: other origins are ignored",
			stage:  newStage("test", direct(w1), direct(w2)),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0),
				newFreight("z", "", w2, t0.Add(time.Hour)),
			},
			want: "a",
		},
		{
			name:   "NewestFreight: the newest available, not the newest",
			stage:  newStage("uat", from(w1, "test")),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("old", "", w1, t0, verified("test", t0)),
				newFreight("mid", "", w1, t0.Add(time.Hour), verified("test", t0)),
				newFreight("new", "", w1, t0.Add(2*time.Hour)),
			},
			want: "mid",
		},
		{
			name:   "NewestFreight: approved Freight counts",
			stage:  newStage("uat", from(w1, "test")),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("old", "", w1, t0, verified("test", t0)),
				newFreight("hotfix", "", w1, t0.Add(time.Hour), approved("uat", t0)),
			},
			want: "hotfix",
		},
		{
			name:   "NewestFreight: nothing available",
			stage:  newStage("uat", from(w1, "test")),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("old", "", w1, t0),
				newFreight("new", "brave-owl", w1, t0.Add(time.Hour)),
			},
			reason: `no Freight from Warehouse "w1" is available to Stage "uat"; the newest, Freight "new" ` +
				`(alias "brave-owl"), is not verified in upstream Stage "test"; it is not approved for "uat" either`,
		},
		{
			name:    "NewestFreight: no Freight yet",
			stage:   newStage("test", direct(w1)),
			origin:  w1,
			freight: []kargoapi.Freight{newFreight("z", "", w2, t0)},
			reason:  `Warehouse "w1" has produced no Freight yet`,
		},
		{
			name:    "origin not requested",
			stage:   newStage("test", direct(w1)),
			origin:  w2,
			freight: []kargoapi.Freight{newFreight("z", "", w2, t0)},
			reason:  `Stage "test" does not request Freight from Warehouse "w2"`,
		},
		{
			name:   "MatchUpstream: what the upstream Stage uses, even if older",
			stage:  newStage("uat", from(w1, "test"), matchUpstreamPolicy()),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("old", "", w1, t0, verified("test", t0)),
				newFreight("new", "", w1, t0.Add(time.Hour), verified("test", t0)),
			},
			upstream: map[string]*kargoapi.Stage{"test": newStage("test", direct(w1), using(w1, "old"))},
			want:     "old",
		},
		{
			name:   "MatchUpstream: the upstream Freight is not verified there yet",
			stage:  newStage("uat", from(w1, "test"), matchUpstreamPolicy()),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("old", "", w1, t0, verified("test", t0)),
				newFreight("new", "", w1, t0.Add(time.Hour), inStage("test", t0)),
			},
			upstream: map[string]*kargoapi.Stage{"test": newStage("test", direct(w1), using(w1, "new"))},
			reason: `Freight "new", which upstream Stage "test" uses (selectionPolicy MatchUpstream), is not ` +
				`available to Stage "uat": not verified in upstream Stage "test"; it is not approved for "uat" either`,
		},
		{
			name:   "MatchUpstream: still soaking",
			stage:  newStage("uat", from(w1, "test"), matchUpstreamPolicy(), soak(time.Hour)),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("new", "", w1, t0, verified("test", now), inStage("test", now.Add(-10*time.Minute))),
			},
			upstream: map[string]*kargoapi.Stage{"test": newStage("test", direct(w1), using(w1, "new"))},
			reason: `Freight "new", which upstream Stage "test" uses (selectionPolicy MatchUpstream), is not ` +
				`available to Stage "uat": soaking in "test" for 50m more (requiredSoakTime 1h); ` +
				`it is not approved for "uat" either`,
		},
		{
			name:   "MatchUpstream: upstream uses Freight of another origin only",
			stage:  newStage("uat", from(w1, "test"), matchUpstreamPolicy()),
			origin: w1,
			freight: []kargoapi.Freight{
				newFreight("a", "", w1, t0, verified("test", t0)),
			},
			upstream: map[string]*kargoapi.Stage{"test": newStage("test", direct(w2), using(w2, "z"))},
			reason: `upstream Stage "test" uses no Freight from Warehouse "w1" yet, and Stage "uat" follows it ` +
				`(selectionPolicy MatchUpstream)`,
		},
		{
			name:     "MatchUpstream: upstream Stage unknown",
			stage:    newStage("uat", from(w1, "test"), matchUpstreamPolicy()),
			origin:   w1,
			freight:  []kargoapi.Freight{newFreight("a", "", w1, t0, verified("test", t0))},
			upstream: map[string]*kargoapi.Stage{},
			reason: `upstream Stage "test", whose Freight Stage "uat" follows (selectionPolicy MatchUpstream), ` +
				`does not exist`,
		},
		{
			name:     "MatchUpstream: the upstream Freight was deleted",
			stage:    newStage("uat", from(w1, "test"), matchUpstreamPolicy()),
			origin:   w1,
			freight:  []kargoapi.Freight{newFreight("a", "", w1, t0, verified("test", t0))},
			upstream: map[string]*kargoapi.Stage{"test": newStage("test", direct(w1), using(w1, "gone"))},
			reason:   `Freight "gone", which upstream Stage "test" uses, was not found`,
		},
		{
			name:     "MatchUpstream with two upstream Stages (refused by validation)",
			stage:    newStage("uat", from(w1, "a", "b"), matchUpstreamPolicy()),
			origin:   w1,
			freight:  []kargoapi.Freight{newFreight("a", "", w1, t0, verified("a", t0))},
			upstream: map[string]*kargoapi.Stage{},
			reason: `selectionPolicy MatchUpstream needs exactly one upstream Stage and no direct source, but ` +
				`Stage "uat" requests Freight from Warehouse "w1" with 2 upstream Stages: fix the Stage or use NewestFreight`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Candidate(tt.stage, tt.origin, tt.freight, tt.upstream, now)
			var name string
			if got != nil {
				name = got.Name
			}
			if name != tt.want || reason != tt.reason {
				t.Errorf("Candidate() = %q, %q\nwant %q, %q", name, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestCandidateWait(t *testing.T) {
	stage := newStage("uat", from(w1, "test"), soak(10*time.Minute))
	now := t0.Add(24 * time.Hour)
	freight := []kargoapi.Freight{
		newFreight("old", "", w1, t0, verified("test", t0), longest("test", time.Hour)),
		newFreight("new", "", w1, t0.Add(time.Hour), verified("test", now), inStage("test", now.Add(-5*time.Minute))),
		newFreight("newer", "", w1, t0.Add(2*time.Hour), verified("test", now), inStage("test", now.Add(-3*time.Minute))),
	}
	steps := []struct {
		at       time.Time
		want     string
		wantWait time.Duration
	}{
		{now, "old", 5 * time.Minute},                      // new is done first
		{now.Add(5 * time.Minute), "new", 2 * time.Minute}, // then newer
		{now.Add(7 * time.Minute), "newer", 0},             // nothing left soaking
		{now.Add(7*time.Minute - time.Second), "new", time.Second},
	}
	for _, s := range steps {
		got, reason, wait := candidate(stage, w1, freight, nil, s.at)
		if got == nil || got.Name != s.want || wait != s.wantWait {
			t.Errorf("at now+%v: candidate() = %v (%q), wait %v; want %s, wait %v",
				s.at.Sub(now), got, reason, wait, s.want, s.wantWait)
		}
	}
}

func TestCandidateWaitMatchUpstream(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	stage := newStage("uat", from(w1, "test"), matchUpstreamPolicy(), soak(time.Hour))
	freight := []kargoapi.Freight{
		newFreight("new", "", w1, t0, verified("test", now), inStage("test", now.Add(-10*time.Minute))),
	}
	upstream := map[string]*kargoapi.Stage{"test": newStage("test", direct(w1), using(w1, "new"))}
	if got, _, wait := candidate(stage, w1, freight, upstream, now); got != nil || wait != 50*time.Minute {
		t.Errorf("candidate() = %v, wait %v; want none, wait 50m", got, wait)
	}
	if got, _, wait := candidate(stage, w1, freight, upstream, now.Add(50*time.Minute)); got == nil || wait != 0 {
		t.Errorf("after the soak, candidate() = %v, wait %v; want new, 0", got, wait)
	}
}
