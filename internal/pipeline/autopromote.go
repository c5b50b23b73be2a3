package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// Hold pauses auto-promotion of one origin into one Stage: a user promoted
// Freight other than the auto-promotion candidate (a rollback, say), and
// automation must not undo that choice. A Stage has at most one Hold per
// origin. It lasts until a user promotes the candidate of that origin (see
// ApplyManualPromotion) or lifts it (LiftHold); newer Freight does not lift
// it.
type Hold struct {
	// Origin is the origin whose auto-promotion is paused.
	Origin kargoapi.FreightOrigin
	// Freight is the name of the Freight the user promoted instead of the
	// candidate.
	Freight string
	// Actor is who promoted it.
	Actor string
	// Since is when the hold was placed.
	Since time.Time
}

// ApplyManualPromotion returns holds updated for a Promotion of promoted
// (a Freight name) from origin that a user — not auto-promotion — made, when
// candidate was the auto-promotion candidate of that origin (see Candidate;
// empty when there was none):
//
//   - promoted is not the candidate: a hold is placed on origin, by actor at
//     now (replacing an earlier hold on origin: the latest choice wins);
//   - promoted is the candidate: the hold on origin, if any, is lifted;
//   - there is no candidate: holds are unchanged (nothing automation would
//     do differently).
//
// Holds of other origins are kept. The input is not modified; the result is
// sorted by origin. Call it when the user's Promotion is accepted, so the
// hold is in place before auto-promotion could race it.
func ApplyManualPromotion(
	holds []Hold,
	origin kargoapi.FreightOrigin,
	promoted, candidate, actor string,
	now time.Time,
) []Hold {
	switch {
	case candidate == "":
		return sortedHolds(slices.Clone(holds))
	case promoted == candidate:
		return LiftHold(holds, origin)
	}
	out := LiftHold(holds, origin)
	out = append(out, Hold{Origin: origin, Freight: promoted, Actor: actor, Since: now})
	return sortedHolds(out)
}

// LiftHold returns holds without the hold on origin (a user resuming
// auto-promotion of that origin). The input is not modified.
func LiftHold(holds []Hold, origin kargoapi.FreightOrigin) []Hold {
	out := make([]Hold, 0, len(holds))
	for _, h := range holds {
		if h.Origin != origin {
			out = append(out, h)
		}
	}
	return sortedHolds(out)
}

// HoldFor returns the hold on origin, if there is one.
func HoldFor(holds []Hold, origin kargoapi.FreightOrigin) (Hold, bool) {
	for _, h := range holds {
		if h.Origin == origin {
			return h, true
		}
	}
	return Hold{}, false
}

func sortedHolds(holds []Hold) []Hold {
	slices.SortFunc(holds, func(a, b Hold) int { return strings.Compare(a.Origin.String(), b.Origin.String()) })
	return holds
}

// AutoPromotionInput is what ShouldAutoPromote decides from, for one origin
// of one Stage.
type AutoPromotionInput struct {
	// Project is the Project's ProjectConfig; nil when it has none.
	Project *kargoapi.ProjectConfig
	// Stage is the Stage to promote into.
	Stage *kargoapi.Stage
	// Origin is the origin to decide for.
	Origin kargoapi.FreightOrigin
	// Freight is the candidates: the Project's Freight (of any origin; the
	// others are ignored).
	Freight []kargoapi.Freight
	// Upstream maps Stage names to the Stages upstream of Stage (read by
	// selectionPolicy MatchUpstream).
	Upstream map[string]*kargoapi.Stage
	// Promotions are the Promotions into Stage, in any order (Promotions
	// into other Stages are ignored).
	Promotions []kargoapi.Promotion
	// Holds are the Stage's auto-promotion holds.
	Holds []Hold
}

// AutoPromotionDecision says whether to auto-promote now, and why.
type AutoPromotionDecision struct {
	// Promote reports whether auto-promotion should create a Promotion of
	// Freight now.
	Promote bool
	// Freight is the auto-promotion candidate, when there is one (whether or
	// not it is to be promoted).
	Freight *kargoapi.Freight
	// Reason says why Freight is to be promoted, or why nothing is: the
	// "blocked because" sentence shown to users.
	Reason string
	// Wait, when positive, is how long until Freight of the origin that is
	// now soaking upstream becomes available, and so until the decision may
	// change without any other event. A reconciler can requeue after it.
	Wait time.Duration
}

// ShouldAutoPromote decides whether auto-promotion should promote Freight of
// in.Origin into in.Stage at now. The rules, in the order they are checked:
//
//  1. a control-flow Stage is never promoted into (its Freight passes
//     through; see PassThrough);
//  2. the Stage must request Freight of the origin;
//  3. the Project's promotion policies must enable auto-promotion for the
//     Stage (AutoPromotionEnabled);
//  4. no hold may be on the origin (ApplyManualPromotion);
//  5. there must be a candidate (Candidate);
//  6. the Stage must not already use the candidate;
//  7. the candidate must have no earlier Promotion into the Stage: one still
//     pending or running is awaited; a Failed or Errored one is not retried;
//     an Aborted one is not redone against the user who aborted it; and a
//     Succeeded one whose Freight the Stage has since left is not promoted
//     back (Kargo creates at most one Promotion per Stage and Freight).
//
// The error reports a promotion policy that does not compile.
func ShouldAutoPromote(in AutoPromotionInput, now time.Time) (AutoPromotionDecision, error) {
	stage := in.Stage
	if stage == nil {
		return AutoPromotionDecision{Reason: "no Stage was given"}, nil
	}
	if IsControlFlow(stage) {
		return AutoPromotionDecision{Reason: fmt.Sprintf(
			"Stage %q is a control-flow Stage (it has no promotion steps): nothing is promoted into it; "+
				"Freight available to it is verified in it at once and passes on downstream", stage.Name)}, nil
	}
	if requestFor(stage, in.Origin) == nil {
		return AutoPromotionDecision{Reason: fmt.Sprintf(
			"Stage %q does not request Freight from %s", stage.Name, describeOrigin(in.Origin))}, nil
	}
	if reason, err := autoPromotionOff(in.Project, stage); err != nil || reason != "" {
		return AutoPromotionDecision{Reason: reason}, err
	}

	cand, noCandidate, wait := candidate(stage, in.Origin, in.Freight, in.Upstream, now)
	d := AutoPromotionDecision{Freight: cand, Wait: wait}
	prefix := fmt.Sprintf("auto-promotion of Freight from %s into Stage %q", describeOrigin(in.Origin), stage.Name)

	if h, held := HoldFor(in.Holds, in.Origin); held {
		d.Reason = holdMessage(prefix, h, cand)
		return d, nil
	}
	if cand == nil {
		d.Reason = prefix + " is waiting: " + noCandidate
		return d, nil
	}
	if usesFreight(stage, in.Origin, cand.Name) {
		d.Reason = fmt.Sprintf("%s has nothing to do: Stage %q already uses the candidate, %s",
			prefix, stage.Name, describeFreight(cand))
		return d, nil
	}
	if p := latestPromotion(in.Promotions, stage.Name, cand.Name); p != nil {
		d.Reason = earlierPromotionMessage(prefix, stage.Name, cand, p)
		return d, nil
	}
	d.Promote = true
	d.Reason = fmt.Sprintf("%s: promote the candidate, %s", prefix, describeFreight(cand))
	return d, nil
}

// autoPromotionOff returns why the Project's policies do not enable
// auto-promotion for stage, or "" when they do.
func autoPromotionOff(project *kargoapi.ProjectConfig, stage *kargoapi.Stage) (string, error) {
	i, err := matchingPolicy(project, stage)
	if err != nil {
		return "", err
	}
	const lead = "auto-promotion is not enabled for Stage %q: "
	switch {
	case project == nil:
		return fmt.Sprintf(lead+"the Project has no ProjectConfig; add one with a promotion policy that selects %q "+
			"and sets autoPromotionEnabled: true", stage.Name, stage.Name), nil
	case i < 0:
		return fmt.Sprintf(lead+"no promotion policy of ProjectConfig %q selects it; add one that does, "+
			"with autoPromotionEnabled: true", stage.Name, project.Name), nil
	case !project.Spec.PromotionPolicies[i].AutoPromotionEnabled:
		return fmt.Sprintf(lead+"the first policy of ProjectConfig %q that selects it, %s, does not set "+
			"autoPromotionEnabled: true", stage.Name, project.Name, describePolicy(&project.Spec.PromotionPolicies[i], i)), nil
	}
	return "", nil
}

func holdMessage(prefix string, h Hold, cand *kargoapi.Freight) string {
	by := ""
	if h.Actor != "" {
		by = " by " + h.Actor
	}
	msg := fmt.Sprintf("%s is on hold since %s: Freight %q was promoted%s instead of the auto-promotion candidate",
		prefix, h.Since.UTC().Format(time.RFC3339), h.Freight, by)
	if cand != nil {
		return msg + fmt.Sprintf("; promote the candidate, %s, to lift the hold", describeFreight(cand))
	}
	return msg + "; promote the candidate (once there is one) or lift the hold to resume"
}

// usesFreight reports whether stage's current freight collection holds the
// Freight named name for origin.
func usesFreight(stage *kargoapi.Stage, origin kargoapi.FreightOrigin, name string) bool {
	cur := stage.Status.FreightHistory.Current()
	if cur == nil {
		return false
	}
	ref, ok := cur.Freight[origin.String()]
	return ok && ref.Name == name
}

// promotedFreight returns the name of the Freight a Promotion promotes.
func promotedFreight(p *kargoapi.Promotion) string {
	if p.Spec.Freight != "" {
		return p.Spec.Freight
	}
	if p.Status.Freight != nil {
		return p.Status.Freight.Name
	}
	return ""
}

// latestPromotion returns the newest Promotion (creationTimestamp, then
// name) of the Freight named freight into the Stage named stage, or nil.
func latestPromotion(promotions []kargoapi.Promotion, stage, freight string) *kargoapi.Promotion {
	var latest *kargoapi.Promotion
	for i := range promotions {
		p := &promotions[i]
		if p.Spec.Stage != stage || promotedFreight(p) != freight {
			continue
		}
		if latest == nil {
			latest = p
			continue
		}
		if c := p.CreationTimestamp.Time.Compare(latest.CreationTimestamp.Time); c > 0 || (c == 0 && p.Name > latest.Name) {
			latest = p
		}
	}
	return latest
}

func earlierPromotionMessage(prefix, stage string, cand *kargoapi.Freight, p *kargoapi.Promotion) string {
	f := describeFreight(cand)
	phase := p.Status.Phase
	why := ""
	if p.Status.Message != "" {
		why = " (" + p.Status.Message + ")"
	}
	switch phase {
	case kargoapi.PromotionPhaseFailed, kargoapi.PromotionPhaseErrored:
		return fmt.Sprintf("%s is stopped: Promotion %q of the candidate, %s, %s%s, and a failed Promotion is not "+
			"retried automatically; fix the cause and promote it by hand, or wait for newer Freight",
			prefix, p.Name, f, strings.ToLower(string(phase)), why)
	case kargoapi.PromotionPhaseAborted:
		return fmt.Sprintf("%s is stopped: Promotion %q of the candidate, %s, was aborted, and auto-promotion does "+
			"not redo it; promote it by hand, or wait for newer Freight", prefix, p.Name, f)
	case kargoapi.PromotionPhaseSucceeded:
		return fmt.Sprintf("%s is stopped: the candidate, %s, was promoted before (Promotion %q) and Stage %q has "+
			"moved off it since; auto-promotion does not move it back, so promote it by hand, or wait for newer Freight",
			prefix, f, p.Name, stage)
	}
	if phase == "" {
		phase = kargoapi.PromotionPhasePending
	}
	return fmt.Sprintf("%s is waiting: Promotion %q of the candidate, %s, is %s",
		prefix, p.Name, f, strings.ToLower(string(phase)))
}
