package pipeline

import (
	"reflect"
	"testing"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestLongestSoak(t *testing.T) {
	tests := []struct {
		name    string
		freight kargoapi.Freight
		stage   string // default "test"
		now     time.Time
		want    time.Duration
	}{
		{
			name:    "not verified: no soak, even while in use",
			freight: newFreight("f", "", w1, t0, inStage("test", t0)),
			now:     t0.Add(time.Hour),
			want:    0,
		},
		{
			name:    "verified and in use: time since it entered",
			freight: newFreight("f", "", w1, t0, inStage("test", t0), verified("test", t0.Add(5*time.Minute))),
			now:     t0.Add(time.Hour),
			want:    time.Hour,
		},
		{
			name:    "verified, left: the longest completed soak",
			freight: newFreight("f", "", w1, t0, verified("test", t0), longest("test", 7*time.Minute)),
			now:     t0.Add(time.Hour),
			want:    7 * time.Minute,
		},
		{
			name: "back in use, shorter so far than before",
			freight: newFreight("f", "", w1, t0, verified("test", t0), longest("test", 7*time.Minute),
				inStage("test", t0.Add(time.Hour))),
			now:  t0.Add(time.Hour + 2*time.Minute),
			want: 7 * time.Minute,
		},
		{
			name: "back in use, longer now than before",
			freight: newFreight("f", "", w1, t0, verified("test", t0), longest("test", 7*time.Minute),
				inStage("test", t0.Add(time.Hour))),
			now:  t0.Add(time.Hour + 9*time.Minute),
			want: 9 * time.Minute,
		},
		{
			name:    "verified, never in use",
			freight: newFreight("f", "", w1, t0, verified("gate", t0)),
			stage:   "gate",
			now:     t0.Add(time.Hour),
			want:    0,
		},
		{
			name:    "since in the future (clock skew) counts as zero",
			freight: newFreight("f", "", w1, t0, verified("test", t0), inStage("test", t0.Add(time.Hour))),
			now:     t0,
			want:    0,
		},
		{
			name: "since missing",
			freight: newFreight("f", "", w1, t0, verified("test", t0), func(f *kargoapi.Freight) {
				f.Status.CurrentlyIn = map[string]kargoapi.CurrentStage{"test": {}}
			}),
			now:  t0.Add(time.Hour),
			want: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage := tt.stage
			if stage == "" {
				stage = "test"
			}
			if got := LongestSoak(&tt.freight, stage, tt.now); got != tt.want {
				t.Errorf("LongestSoak(%q) = %v, want %v", stage, got, tt.want)
			}
		})
	}
}

// TestStatusLifecycle walks a Freight through a Stage as the reconciler
// would: it enters, is verified, leaves, enters again and leaves again, and
// is approved for another Stage.
func TestStatusLifecycle(t *testing.T) {
	f := newFreight("f", "", w1, t0)
	steps := []struct {
		name        string
		apply       func(*kargoapi.Freight) bool
		wantChanged bool
		check       func(t *testing.T, f *kargoapi.Freight)
	}{
		{
			name:        "leaving a Stage it is not in changes nothing",
			apply:       func(f *kargoapi.Freight) bool { return ClearCurrentlyIn(f, "test", t0) },
			wantChanged: false,
		},
		{
			name:        "enters test",
			apply:       func(f *kargoapi.Freight) bool { return RecordCurrentlyIn(f, "test", t0) },
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if !CurrentlyIn(f, "test") || !f.Status.CurrentlyIn["test"].Since.Time.Equal(t0) {
					t.Errorf("currentlyIn = %v, want test since %v", f.Status.CurrentlyIn, t0)
				}
			},
		},
		{
			name:        "entering again keeps the first since",
			apply:       func(f *kargoapi.Freight) bool { return RecordCurrentlyIn(f, "test", t0.Add(time.Minute)) },
			wantChanged: false,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if !f.Status.CurrentlyIn["test"].Since.Time.Equal(t0) {
					t.Errorf("since = %v, want %v", f.Status.CurrentlyIn["test"].Since, t0)
				}
			},
		},
		{
			name:        "verified in test",
			apply:       func(f *kargoapi.Freight) bool { return RecordVerified(f, "test", t0.Add(2*time.Minute)) },
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				rec := f.Status.VerifiedIn["test"]
				if !VerifiedIn(f, "test") || !rec.VerifiedAt.Time.Equal(t0.Add(2*time.Minute)) || rec.LongestCompletedSoak != nil {
					t.Errorf("verifiedIn[test] = %+v", rec)
				}
			},
		},
		{
			name:        "verified again keeps the first time",
			apply:       func(f *kargoapi.Freight) bool { return RecordVerified(f, "test", t0.Add(3*time.Minute)) },
			wantChanged: false,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if !f.Status.VerifiedIn["test"].VerifiedAt.Time.Equal(t0.Add(2 * time.Minute)) {
					t.Errorf("verifiedAt = %v", f.Status.VerifiedIn["test"].VerifiedAt)
				}
			},
		},
		{
			name:        "leaves test after 10m: longest soak 10m, verifiedAt kept",
			apply:       func(f *kargoapi.Freight) bool { return ClearCurrentlyIn(f, "test", t0.Add(10*time.Minute)) },
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				rec := f.Status.VerifiedIn["test"]
				if CurrentlyIn(f, "test") || f.Status.CurrentlyIn != nil {
					t.Errorf("currentlyIn = %v, want empty", f.Status.CurrentlyIn)
				}
				if rec.LongestCompletedSoak == nil || rec.LongestCompletedSoak.Duration != 10*time.Minute {
					t.Errorf("longestSoak = %v, want 10m", rec.LongestCompletedSoak)
				}
				if rec.VerifiedAt == nil || !rec.VerifiedAt.Time.Equal(t0.Add(2*time.Minute)) {
					t.Errorf("verifiedAt = %v, want kept", rec.VerifiedAt)
				}
			},
		},
		{
			name:        "enters test again",
			apply:       func(f *kargoapi.Freight) bool { return RecordCurrentlyIn(f, "test", t0.Add(time.Hour)) },
			wantChanged: true,
		},
		{
			name: "leaves after a shorter stay: longest soak unchanged",
			apply: func(f *kargoapi.Freight) bool {
				return ClearCurrentlyIn(f, "test", t0.Add(time.Hour+5*time.Minute))
			},
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if d := f.Status.VerifiedIn["test"].LongestCompletedSoak.Duration; d != 10*time.Minute {
					t.Errorf("longestSoak = %v, want 10m", d)
				}
			},
		},
		{
			name:        "enters test a third time",
			apply:       func(f *kargoapi.Freight) bool { return RecordCurrentlyIn(f, "test", t0.Add(2*time.Hour)) },
			wantChanged: true,
		},
		{
			name: "leaves after a longer stay: longest soak grows",
			apply: func(f *kargoapi.Freight) bool {
				return ClearCurrentlyIn(f, "test", t0.Add(2*time.Hour+30*time.Minute))
			},
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if d := f.Status.VerifiedIn["test"].LongestCompletedSoak.Duration; d != 30*time.Minute {
					t.Errorf("longestSoak = %v, want 30m", d)
				}
			},
		},
		{
			name:        "enters uat, never verified there",
			apply:       func(f *kargoapi.Freight) bool { return RecordCurrentlyIn(f, "uat", t0) },
			wantChanged: true,
		},
		{
			name:        "leaves uat: no verification record is created",
			apply:       func(f *kargoapi.Freight) bool { return ClearCurrentlyIn(f, "uat", t0.Add(time.Hour)) },
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if VerifiedIn(f, "uat") {
					t.Errorf("verifiedIn = %v, want no uat", f.Status.VerifiedIn)
				}
			},
		},
		{
			name:        "approved for prod",
			apply:       func(f *kargoapi.Freight) bool { return RecordApproved(f, "prod", t0.Add(time.Minute)) },
			wantChanged: true,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if !ApprovedFor(f, "prod") || !f.Status.ApprovedFor["prod"].ApprovedAt.Time.Equal(t0.Add(time.Minute)) {
					t.Errorf("approvedFor = %v", f.Status.ApprovedFor)
				}
			},
		},
		{
			name:        "approved again keeps the first approval",
			apply:       func(f *kargoapi.Freight) bool { return RecordApproved(f, "prod", t0.Add(time.Hour)) },
			wantChanged: false,
			check: func(t *testing.T, f *kargoapi.Freight) {
				if !f.Status.ApprovedFor["prod"].ApprovedAt.Time.Equal(t0.Add(time.Minute)) {
					t.Errorf("approvedAt = %v", f.Status.ApprovedFor["prod"].ApprovedAt)
				}
			},
		},
	}
	for _, s := range steps {
		if got := s.apply(&f); got != s.wantChanged {
			t.Fatalf("%s: changed = %v, want %v", s.name, got, s.wantChanged)
		}
		if s.check != nil {
			s.check(t, &f)
		}
	}
}

func TestSyncCurrentlyIn(t *testing.T) {
	now := t0.Add(time.Hour)
	stage := newStage("uat", direct(w1), direct(w2), using(w1, "new"), using(w2, "z"))
	freight := []kargoapi.Freight{
		newFreight("old", "", w1, t0, verified("uat", t0), inStage("uat", t0)),
		newFreight("new", "", w1, t0),
		newFreight("z", "", w2, t0, inStage("uat", t0)),
		newFreight("elsewhere", "", w1, t0, inStage("prod", t0)),
	}
	got := SyncCurrentlyIn(stage, freight, now)
	if want := []string{"new", "old"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SyncCurrentlyIn() changed %v, want %v", got, want)
	}
	if CurrentlyIn(&freight[0], "uat") {
		t.Errorf("old is still in uat")
	}
	if d := freight[0].Status.VerifiedIn["uat"].LongestCompletedSoak; d == nil || d.Duration != time.Hour {
		t.Errorf("old's longest soak = %v, want 1h", d)
	}
	if !CurrentlyIn(&freight[1], "uat") || !freight[1].Status.CurrentlyIn["uat"].Since.Time.Equal(now) {
		t.Errorf("new currentlyIn = %v, want uat since %v", freight[1].Status.CurrentlyIn, now)
	}
	if !freight[2].Status.CurrentlyIn["uat"].Since.Time.Equal(t0) {
		t.Errorf("z lost its since: %v", freight[2].Status.CurrentlyIn)
	}
	if !CurrentlyIn(&freight[3], "prod") {
		t.Errorf("elsewhere lost prod")
	}
	if again := SyncCurrentlyIn(stage, freight, now.Add(time.Minute)); again != nil {
		t.Errorf("a second sync changed %v", again)
	}
}
