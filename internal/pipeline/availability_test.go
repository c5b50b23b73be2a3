package pipeline

import (
	"testing"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestAvailability(t *testing.T) {
	const notAvail = `Freight "abc" (alias "wise-fox") is not available to Stage "uat": `
	const avail = `Freight "abc" (alias "wise-fox") is available to Stage "uat": `
	abc := func(opts ...freightOpt) *kargoapi.Freight {
		return ptr(newFreight("abc", "wise-fox", w1, t0, opts...))
	}
	tests := []struct {
		name      string
		stage     *kargoapi.Stage
		freight   *kargoapi.Freight
		now       time.Time
		available bool
		reason    string
		wait      time.Duration
	}{
		{
			name:      "direct",
			stage:     newStage("uat", direct(w1)),
			freight:   abc(),
			available: true,
			reason:    avail + `"uat" takes it directly from Warehouse "w1"`,
		},
		{
			name:    "wrong origin",
			stage:   newStage("uat", direct(w1)),
			freight: ptr(newFreight("abc", "wise-fox", w2, t0)),
			reason:  notAvail + `it comes from Warehouse "w2", but "uat" requests Freight only from Warehouse "w1"`,
		},
		{
			name:    "wrong origin among several",
			stage:   newStage("uat", direct(w1), from(w3, "test")),
			freight: ptr(newFreight("abc", "wise-fox", w2, t0)),
			reason: notAvail + `it comes from Warehouse "w2", but "uat" requests Freight only from ` +
				`Warehouse "w1" and Warehouse "w3"`,
		},
		{
			name:    "no alias",
			stage:   newStage("uat", from(w1, "test")),
			freight: ptr(newFreight("abc", "", w1, t0)),
			reason: `Freight "abc" is not available to Stage "uat": not verified in upstream Stage "test"; ` +
				`it is not approved for "uat" either`,
		},
		{
			name:  "alias from label",
			stage: newStage("uat", from(w1, "test")),
			freight: ptr(newFreight("abc", "", w1, t0, func(f *kargoapi.Freight) {
				f.Labels = map[string]string{kargoapi.LabelKeyAlias: "wise-fox"}
			})),
			reason: notAvail + `not verified in upstream Stage "test"; it is not approved for "uat" either`,
		},
		{
			name:      "OneOf: verified in the only upstream",
			stage:     newStage("uat", from(w1, "test")),
			freight:   abc(verified("test", t0)),
			available: true,
			reason:    avail + `verified in upstream Stage "test"`,
		},
		{
			name:      "OneOf (default): verified in one of two",
			stage:     newStage("uat", from(w1, "a", "b")),
			freight:   abc(verified("b", t0)),
			available: true,
			reason:    avail + `verified in upstream Stage "b"`,
		},
		{
			name: "OneOf (explicit): verified in one of two",
			stage: newStage("uat", from(w1, "a", "b"), lastSources(func(s *kargoapi.FreightSources) {
				s.AvailabilityStrategy = kargoapi.FreightAvailabilityStrategyOneOf
			})),
			freight:   abc(verified("a", t0)),
			available: true,
			reason:    avail + `verified in upstream Stage "a"`,
		},
		{
			name:    "OneOf: verified in none of two",
			stage:   newStage("uat", from(w1, "a", "b")),
			freight: abc(verified("elsewhere", t0)),
			reason: notAvail + `not verified in any of the upstream Stages "a" or "b"; ` +
				`it is not approved for "uat" either`,
		},
		{
			name:      "All: verified in both",
			stage:     newStage("uat", from(w1, "a", "b"), all()),
			freight:   abc(verified("a", t0), verified("b", t0)),
			available: true,
			reason:    avail + `verified in all of its upstream Stages ("a" and "b")`,
		},
		{
			name:      "All: verified in both and elsewhere too",
			stage:     newStage("uat", from(w1, "a", "b"), all()),
			freight:   abc(verified("a", t0), verified("b", t0), verified("z", t0)),
			available: true,
			reason:    avail + `verified in all of its upstream Stages ("a" and "b")`,
		},
		{
			name:    "All: verified in one of two",
			stage:   newStage("uat", from(w1, "a", "b"), all()),
			freight: abc(verified("a", t0)),
			reason: notAvail + `not verified in upstream Stage "b", and availabilityStrategy All needs all of ` +
				`"a" and "b"; it is not approved for "uat" either`,
		},
		{
			name:    "All: verified in one of three",
			stage:   newStage("uat", from(w1, "a", "b", "c"), all()),
			freight: abc(verified("b", t0)),
			reason: notAvail + `not verified in upstream Stages "a" and "c", and availabilityStrategy All needs ` +
				`all of "a", "b" and "c"; it is not approved for "uat" either`,
		},
		{
			name:      "All with one upstream",
			stage:     newStage("uat", from(w1, "test"), all()),
			freight:   abc(verified("test", t0)),
			available: true,
			reason:    avail + `verified in upstream Stage "test"`,
		},
		{
			name:    "soak: still soaking",
			stage:   newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight: abc(inStage("test", t0), verified("test", t0.Add(time.Minute))),
			now:     t0.Add(5*time.Minute + 48*time.Second),
			reason: notAvail + `soaking in "test" for 4m12s more (requiredSoakTime 10m); ` +
				`it is not approved for "uat" either`,
			wait: 4*time.Minute + 12*time.Second,
		},
		{
			name:    "soak: a nanosecond before",
			stage:   newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight: abc(inStage("test", t0), verified("test", t0)),
			now:     t0.Add(10*time.Minute - time.Nanosecond),
			reason: notAvail + `soaking in "test" for 1s more (requiredSoakTime 10m); ` +
				`it is not approved for "uat" either`,
			wait: time.Nanosecond,
		},
		{
			name:      "soak: exactly done",
			stage:     newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight:   abc(inStage("test", t0), verified("test", t0)),
			now:       t0.Add(10 * time.Minute),
			available: true,
			reason:    avail + `verified in upstream Stage "test" and soaked there for 10m (requiredSoakTime 10m)`,
		},
		{
			name:      "soak: just after",
			stage:     newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight:   abc(inStage("test", t0), verified("test", t0)),
			now:       t0.Add(10*time.Minute + time.Second),
			available: true,
			reason:    avail + `verified in upstream Stage "test" and soaked there for 10m1s (requiredSoakTime 10m)`,
		},
		{
			name:    "soak: in use but not verified yet",
			stage:   newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight: abc(inStage("test", t0)),
			now:     t0.Add(time.Hour),
			reason:  notAvail + `not verified in upstream Stage "test"; it is not approved for "uat" either`,
		},
		{
			name:    "soak: left too early",
			stage:   newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight: abc(verified("test", t0), longest("test", 4*time.Minute)),
			now:     t0.Add(time.Hour),
			reason: notAvail + `no longer in use in "test", where it soaked for 4m of its requiredSoakTime 10m ` +
				`(it soaks only while "test" uses it, so it must be promoted there again); ` +
				`it is not approved for "uat" either`,
		},
		{
			name:      "soak: left after soaking enough",
			stage:     newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight:   abc(verified("test", t0), longest("test", 15*time.Minute)),
			now:       t0.Add(time.Hour),
			available: true,
			reason:    avail + `verified in upstream Stage "test" and soaked there for 15m (requiredSoakTime 10m)`,
		},
		{
			name:      "soak: back in the Stage, earlier soak long enough",
			stage:     newStage("uat", from(w1, "test"), soak(10*time.Minute)),
			freight:   abc(verified("test", t0), longest("test", 12*time.Minute), inStage("test", t0.Add(time.Hour))),
			now:       t0.Add(time.Hour + time.Minute),
			available: true,
			reason:    avail + `verified in upstream Stage "test" and soaked there for 12m (requiredSoakTime 10m)`,
		},
		{
			name:    "soak: verified but never in use (a control-flow upstream)",
			stage:   newStage("uat", from(w1, "gate"), soak(10*time.Minute)),
			freight: abc(verified("gate", t0)),
			now:     t0.Add(time.Hour),
			reason: notAvail + `verified in "gate" but never in use there, so it has not soaked for its ` +
				`requiredSoakTime 10m (it soaks only while "gate" uses it); it is not approved for "uat" either`,
		},
		{
			name:  "soak, OneOf: the upstream closest to done is reported",
			stage: newStage("uat", from(w1, "a", "b"), soak(10*time.Minute)),
			freight: abc(
				verified("a", t0), inStage("a", t0.Add(4*time.Minute)),
				verified("b", t0), inStage("b", t0),
			),
			now: t0.Add(8 * time.Minute),
			reason: notAvail + `soaking in "b" for 2m more (requiredSoakTime 10m); ` +
				`it is not approved for "uat" either`,
			wait: 2 * time.Minute,
		},
		{
			name:  "soak, OneOf: one soaked is enough",
			stage: newStage("uat", from(w1, "a", "b"), soak(10*time.Minute)),
			freight: abc(
				verified("a", t0), inStage("a", t0.Add(4*time.Minute)),
				verified("b", t0), longest("b", 11*time.Minute),
			),
			now:       t0.Add(8 * time.Minute),
			available: true,
			reason:    avail + `verified in upstream Stage "b" and soaked there for 11m (requiredSoakTime 10m)`,
		},
		{
			name:  "soak, All: waits for the slowest",
			stage: newStage("uat", from(w1, "a", "b", "c"), all(), soak(10*time.Minute)),
			freight: abc(
				verified("a", t0), inStage("a", t0),
				verified("b", t0), inStage("b", t0.Add(3*time.Minute)),
				verified("c", t0), inStage("c", t0.Add(time.Minute)),
			),
			now: t0.Add(10 * time.Minute),
			reason: notAvail + `soaking in "b" for 3m more (requiredSoakTime 10m) and soaking in "c" for 1m more ` +
				`(requiredSoakTime 10m), and availabilityStrategy All needs all of "a", "b" and "c"; ` +
				`it is not approved for "uat" either`,
			wait: 3 * time.Minute,
		},
		{
			name:  "soak, All: a missing verification means no wait",
			stage: newStage("uat", from(w1, "a", "b"), all(), soak(10*time.Minute)),
			freight: abc(
				verified("a", t0), inStage("a", t0.Add(3*time.Minute)),
			),
			now: t0.Add(10 * time.Minute),
			reason: notAvail + `not verified in upstream Stage "b" and soaking in "a" for 3m more ` +
				`(requiredSoakTime 10m), and availabilityStrategy All needs all of "a" and "b"; ` +
				`it is not approved for "uat" either`,
		},
		{
			name:  "soak, All: an upstream it left too early means no wait",
			stage: newStage("uat", from(w1, "a", "b"), all(), soak(10*time.Minute)),
			freight: abc(
				verified("a", t0), inStage("a", t0.Add(55*time.Minute)),
				verified("b", t0), longest("b", time.Minute),
			),
			now: t0.Add(time.Hour),
			reason: notAvail + `soaking in "a" for 5m more (requiredSoakTime 10m) and no longer in use in "b", ` +
				`where it soaked for 1m of its requiredSoakTime 10m (it soaks only while "b" uses it, so it must be ` +
				`promoted there again), and availabilityStrategy All needs all of "a" and "b"; ` +
				`it is not approved for "uat" either`,
		},
		{
			name:      "soak, All: every upstream soaked",
			stage:     newStage("uat", from(w1, "a", "b"), all(), soak(10*time.Minute)),
			freight:   abc(verified("a", t0), inStage("a", t0), verified("b", t0), longest("b", time.Hour)),
			now:       t0.Add(10 * time.Minute),
			available: true,
			reason:    avail + `verified in all of its upstream Stages ("a" and "b") and soaked in each for its requiredSoakTime 10m`,
		},
		{
			name:      "approved",
			stage:     newStage("uat", from(w1, "test")),
			freight:   abc(approved("uat", t0)),
			available: true,
			reason:    avail + `approved for "uat" at 2026-08-01T12:00:00Z`,
		},
		{
			name:      "approval waives the soak",
			stage:     newStage("uat", from(w1, "test"), soak(time.Hour)),
			freight:   abc(verified("test", t0), inStage("test", t0), approved("uat", t0)),
			now:       t0.Add(time.Minute),
			available: true,
			reason:    avail + `approved for "uat" at 2026-08-01T12:00:00Z`,
		},
		{
			name:    "approved for another Stage",
			stage:   newStage("uat", from(w1, "test")),
			freight: abc(approved("prod", t0)),
			reason:  notAvail + `not verified in upstream Stage "test"; it is not approved for "uat" either`,
		},
		{
			name:      "approval cannot fix a wrong origin",
			stage:     newStage("uat", direct(w1)),
			freight:   ptr(newFreight("abc", "wise-fox", w2, t0, approved("uat", t0))),
			available: false,
			reason:    notAvail + `it comes from Warehouse "w2", but "uat" requests Freight only from Warehouse "w1"`,
		},
		{
			name:    "a Stage that requests nothing",
			stage:   newStage("uat"),
			freight: abc(),
			reason:  notAvail + `it comes from Warehouse "w1", but "uat" requests no Freight at all`,
		},
		{
			name:    "no source at all",
			stage:   newStage("uat", from(w1)),
			freight: abc(),
			reason: notAvail + `no upstream Stage is listed (sources.stages is empty) and it does not come directly ` +
				`from the Warehouse; it is not approved for "uat" either`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0.Add(time.Hour)
			}
			got := Availability(tt.stage, tt.freight, now)
			if got.Available != tt.available || got.Reason != tt.reason || got.Wait != tt.wait {
				t.Errorf("Availability() =\n  %v, %q, wait %v\nwant\n  %v, %q, wait %v",
					got.Available, got.Reason, got.Wait, tt.available, tt.reason, tt.wait)
			}
		})
	}
}

func TestAvailabilityNil(t *testing.T) {
	if d := Availability(nil, &kargoapi.Freight{}, t0); d.Available {
		t.Errorf("Availability(nil stage) = available")
	}
	if d := Availability(newStage("uat", direct(w1)), nil, t0); d.Available {
		t.Errorf("Availability(nil freight) = available")
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{time.Second, "1s"},
		{10 * time.Minute, "10m"},
		{4*time.Minute + 12*time.Second, "4m12s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{48 * time.Hour, "48h"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
