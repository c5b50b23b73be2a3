package pipeline

import (
	"fmt"
	"strings"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// Decision is the answer to "is this Freight available to this Stage?",
// with the sentence that explains it.
type Decision struct {
	// Available reports whether the Freight may be promoted to the Stage.
	Available bool
	// Reason says why: how the Freight is available, or why it is not and
	// what would change that. It is meant for users (conditions, admission
	// errors, the UI).
	Reason string
	// Wait is set when the Freight is unavailable only because it has not
	// yet soaked long enough upstream: how long until it will have, if it
	// stays where it is. A reconciler can requeue after it. Zero otherwise.
	Wait time.Duration
}

// Availability decides whether freight is available to stage at now (see the
// package documentation for the rules). Its Reason begins
// `Freight "<name>" (alias "<alias>") is not available to Stage "<stage>": `
// when the Freight is not available.
func Availability(stage *kargoapi.Stage, freight *kargoapi.Freight, now time.Time) Decision {
	if stage == nil || freight == nil {
		return Decision{Reason: "no Stage or no Freight was given"}
	}
	ok, detail, wait := availability(stage, freight, now)
	if ok {
		return Decision{
			Available: true,
			Reason:    fmt.Sprintf("%s is available to Stage %q: %s", describeFreight(freight), stage.Name, detail),
		}
	}
	return Decision{
		Reason: fmt.Sprintf("%s is not available to Stage %q: %s", describeFreight(freight), stage.Name, detail),
		Wait:   wait,
	}
}

// availability is Availability without the leading subject: detail is a
// predicate ("not verified in upstream Stage \"test\"", "soaking in …") that
// reads after "Freight X is" or after "Freight X is not available to Y:".
func availability(stage *kargoapi.Stage, freight *kargoapi.Freight, now time.Time) (ok bool, detail string, wait time.Duration) {
	req := requestFor(stage, freight.Origin)
	if req == nil {
		return false, wrongOrigin(stage, freight.Origin), 0
	}
	src := req.Sources
	if src.Direct {
		return true, fmt.Sprintf("%s takes it directly from %s", quote(stage.Name), describeOrigin(freight.Origin)), 0
	}
	upOK, upDetail, upWait := upstream(freight, src, now)
	if upOK {
		return true, upDetail, 0
	}
	if rec, approved := freight.Status.ApprovedFor[stage.Name]; approved {
		msg := fmt.Sprintf("approved for %q", stage.Name)
		if rec.ApprovedAt != nil {
			msg += " at " + rec.ApprovedAt.UTC().Format(time.RFC3339)
		}
		return true, msg, 0
	}
	return false, fmt.Sprintf("%s; it is not approved for %q either", upDetail, stage.Name), upWait
}

// requestFor returns the Stage's request for Freight of origin, or nil.
func requestFor(stage *kargoapi.Stage, origin kargoapi.FreightOrigin) *kargoapi.FreightRequest {
	for i := range stage.Spec.RequestedFreight {
		if stage.Spec.RequestedFreight[i].Origin == origin {
			return &stage.Spec.RequestedFreight[i]
		}
	}
	return nil
}

// wrongOrigin explains that the Stage requests no Freight of origin.
func wrongOrigin(stage *kargoapi.Stage, origin kargoapi.FreightOrigin) string {
	requested := make([]string, 0, len(stage.Spec.RequestedFreight))
	for _, r := range stage.Spec.RequestedFreight {
		requested = append(requested, describeOrigin(r.Origin))
	}
	if len(requested) == 0 {
		return fmt.Sprintf("it comes from %s, but %q requests no Freight at all",
			describeOrigin(origin), stage.Name)
	}
	return fmt.Sprintf("it comes from %s, but %q requests Freight only from %s",
		describeOrigin(origin), stage.Name, joinAnd(requested))
}

// soakState is where a Freight stands in one upstream Stage.
type soakState int

const (
	notVerified soakState = iota // not verified there
	soaking                      // verified, in use there, not soaked enough yet
	leftEarly                    // verified, no longer in use there, never soaked enough
	soaked                       // verified and soaked enough (or no soak required)
)

// upstreamStatus is a Freight's standing in one upstream Stage.
type upstreamStatus struct {
	stage string
	state soakState
	soak  time.Duration // the longest soak so far
	left  time.Duration // soaking: the time still to go
}

// upstream decides whether freight satisfies the upstream part of src: it is
// verified, and soaked, in one (OneOf) or all (All) of src.Stages.
func upstream(freight *kargoapi.Freight, src kargoapi.FreightSources, now time.Time) (ok bool, detail string, wait time.Duration) {
	if len(src.Stages) == 0 {
		return false, "no upstream Stage is listed (sources.stages is empty) and it does not come directly from the Warehouse", 0
	}
	var required time.Duration
	if src.RequiredSoakTime != nil {
		required = src.RequiredSoakTime.Duration
	}
	statuses := make([]upstreamStatus, len(src.Stages))
	for i, s := range src.Stages {
		statuses[i] = standing(freight, s, required, now)
	}
	if src.AvailabilityStrategy == kargoapi.FreightAvailabilityStrategyAll {
		return allOf(statuses, src.Stages, required)
	}
	return oneOf(statuses, required)
}

// standing reports where freight stands in the upstream Stage named stage,
// against the required soak time (zero: none).
func standing(freight *kargoapi.Freight, stage string, required time.Duration, now time.Time) upstreamStatus {
	st := upstreamStatus{stage: stage}
	if !VerifiedIn(freight, stage) {
		st.state = notVerified
		return st
	}
	st.soak = LongestSoak(freight, stage, now)
	_, inUse := freight.Status.CurrentlyIn[stage]
	switch {
	case st.soak >= required:
		st.state = soaked
	case inUse:
		st.state = soaking
		st.left = required - st.soak
	default:
		st.state = leftEarly
	}
	return st
}

// oneOf: available when any one upstream Stage has verified and soaked it.
func oneOf(statuses []upstreamStatus, required time.Duration) (bool, string, time.Duration) {
	var best *upstreamStatus // the soaking Stage closest to done
	var early *upstreamStatus
	for i := range statuses {
		st := &statuses[i]
		switch st.state {
		case soaked:
			return true, verifiedMessage(st.stage, st.soak, required), 0
		case soaking:
			if best == nil || st.left < best.left {
				best = st
			}
		case leftEarly:
			if early == nil {
				early = st
			}
		}
	}
	switch {
	case best != nil:
		return false, soakingMessage(*best, required), best.left
	case early != nil:
		return false, leftEarlyMessage(*early, required), 0
	case len(statuses) == 1:
		return false, fmt.Sprintf("not verified in upstream Stage %q", statuses[0].stage), 0
	}
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = quote(st.stage)
	}
	return false, fmt.Sprintf("not verified in any of the upstream Stages %s", joinOr(names)), 0
}

// allOf: available when every upstream Stage has verified and soaked it.
func allOf(statuses []upstreamStatus, stages []string, required time.Duration) (bool, string, time.Duration) {
	var missing []string
	var problems []string
	var wait time.Duration
	onlySoaking := true
	for _, st := range statuses {
		switch st.state {
		case notVerified:
			missing = append(missing, quote(st.stage))
			onlySoaking = false
		case soaking:
			problems = append(problems, soakingMessage(st, required))
			wait = max(wait, st.left)
		case leftEarly:
			problems = append(problems, leftEarlyMessage(st, required))
			onlySoaking = false
		}
	}
	if len(missing) == 0 && len(problems) == 0 {
		if len(stages) == 1 {
			return true, verifiedMessage(stages[0], statuses[0].soak, required), 0
		}
		quoted := make([]string, len(stages))
		for i, s := range stages {
			quoted[i] = quote(s)
		}
		msg := "verified in all of its upstream Stages (" + joinAnd(quoted) + ")"
		if required > 0 {
			msg += " and soaked in each for its requiredSoakTime " + formatDuration(required)
		}
		return true, msg, 0
	}
	var parts []string
	switch len(missing) {
	case 0:
	case 1:
		parts = append(parts, "not verified in upstream Stage "+missing[0])
	default:
		parts = append(parts, "not verified in upstream Stages "+joinAnd(missing))
	}
	parts = append(parts, problems...)
	detail := joinAnd(parts)
	if len(stages) > 1 {
		quoted := make([]string, len(stages))
		for i, s := range stages {
			quoted[i] = quote(s)
		}
		detail += ", and availabilityStrategy All needs all of " + joinAnd(quoted)
	}
	if !onlySoaking {
		wait = 0
	}
	return false, detail, wait
}

func verifiedMessage(stage string, soak, required time.Duration) string {
	if required <= 0 {
		return fmt.Sprintf("verified in upstream Stage %q", stage)
	}
	return fmt.Sprintf("verified in upstream Stage %q and soaked there for %s (requiredSoakTime %s)",
		stage, formatDuration(soak.Truncate(time.Second)), formatDuration(required))
}

func soakingMessage(st upstreamStatus, required time.Duration) string {
	return fmt.Sprintf("soaking in %q for %s more (requiredSoakTime %s)",
		st.stage, formatDuration(ceilSecond(st.left)), formatDuration(required))
}

func leftEarlyMessage(st upstreamStatus, required time.Duration) string {
	if st.soak <= 0 {
		return fmt.Sprintf("verified in %q but never in use there, so it has not soaked for its requiredSoakTime %s "+
			"(it soaks only while %q uses it)", st.stage, formatDuration(required), st.stage)
	}
	return fmt.Sprintf("no longer in use in %q, where it soaked for %s of its requiredSoakTime %s "+
		"(it soaks only while %q uses it, so it must be promoted there again)",
		st.stage, formatDuration(st.soak.Truncate(time.Second)), formatDuration(required), st.stage)
}

// describeFreight names a Freight for users: Freight "abc" (alias "wise-fox").
func describeFreight(f *kargoapi.Freight) string {
	alias := f.Alias
	if alias == "" {
		alias = f.Labels[kargoapi.LabelKeyAlias]
	}
	return freightName(f.Name, alias)
}

func freightName(name, alias string) string {
	if alias == "" {
		return fmt.Sprintf("Freight %q", name)
	}
	return fmt.Sprintf("Freight %q (alias %q)", name, alias)
}

// describeOrigin names an origin for users: Warehouse "w1".
func describeOrigin(o kargoapi.FreightOrigin) string {
	kind := string(o.Kind)
	if kind == "" {
		kind = string(kargoapi.FreightOriginKindWarehouse)
	}
	return fmt.Sprintf("%s %q", kind, o.Name)
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// joinAnd joins items as `a`, `a and b`, `a, b and c`.
func joinAnd(items []string) string { return joinWith(items, "and") }

// joinOr joins items as `a`, `a or b`, `a, b or c`.
func joinOr(items []string) string { return joinWith(items, "or") }

func joinWith(items []string, word string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + word + " " + items[len(items)-1]
}

// ceilSecond rounds a positive duration up to whole seconds, so that a wait
// is never shown as "0s more".
func ceilSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// formatDuration prints a duration the way users write one: 10m, 1h30m,
// 4m12s (trailing zero units dropped).
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
