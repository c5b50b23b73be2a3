package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// Candidate returns the Freight of origin that auto-promotion would promote
// to stage at now, or nil and the reason there is none.
//
// With selectionPolicy NewestFreight (the default) the candidate is the
// newest Freight of origin available to the Stage: the latest
// creationTimestamp, ties broken by the greater name (as Kargo sorts). With
// MatchUpstream it is the Freight of origin that the single upstream Stage
// uses now (the current collection of its freightHistory), provided it is
// available to the Stage. upstream maps Stage names to Stages; only
// MatchUpstream reads it.
//
// freight may hold Freight of any origin; the others are ignored. Candidate
// does not look at holds, policies or earlier Promotions: ShouldAutoPromote
// does.
func Candidate(
	stage *kargoapi.Stage,
	origin kargoapi.FreightOrigin,
	freight []kargoapi.Freight,
	upstream map[string]*kargoapi.Stage,
	now time.Time,
) (*kargoapi.Freight, string) {
	c, reason, _ := candidate(stage, origin, freight, upstream, now)
	return c, reason
}

// candidate is Candidate that also returns how long until some Freight of
// origin now soaking upstream becomes available (zero: none is soaking), so a
// reconciler knows when the candidate may change.
func candidate(
	stage *kargoapi.Stage,
	origin kargoapi.FreightOrigin,
	freight []kargoapi.Freight,
	upstream map[string]*kargoapi.Stage,
	now time.Time,
) (*kargoapi.Freight, string, time.Duration) {
	if stage == nil {
		return nil, "no Stage was given", 0
	}
	req := requestFor(stage, origin)
	if req == nil {
		return nil, fmt.Sprintf("Stage %q does not request Freight from %s", stage.Name, describeOrigin(origin)), 0
	}
	if opts := req.Sources.AutoPromotionOptions; opts != nil &&
		opts.SelectionPolicy == kargoapi.AutoPromotionSelectionPolicyMatchUpstream {
		return matchUpstream(stage, req, freight, upstream, now)
	}
	return newestAvailable(stage, origin, freight, now)
}

// newestAvailable implements NewestFreight.
func newestAvailable(
	stage *kargoapi.Stage,
	origin kargoapi.FreightOrigin,
	freight []kargoapi.Freight,
	now time.Time,
) (*kargoapi.Freight, string, time.Duration) {
	ofOrigin := make([]*kargoapi.Freight, 0, len(freight))
	for i := range freight {
		if freight[i].Origin == origin {
			ofOrigin = append(ofOrigin, &freight[i])
		}
	}
	if len(ofOrigin) == 0 {
		return nil, fmt.Sprintf("%s has produced no Freight yet", describeOrigin(origin)), 0
	}
	slices.SortFunc(ofOrigin, newestFirst)
	var wait time.Duration
	var newestDetail string
	for i, f := range ofOrigin {
		ok, detail, w := availability(stage, f, now)
		if ok {
			return f, "", wait
		}
		if w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
		if i == 0 {
			newestDetail = detail
		}
	}
	return nil, fmt.Sprintf("no Freight from %s is available to Stage %q; the newest, %s, is %s",
		describeOrigin(origin), stage.Name, describeFreight(ofOrigin[0]), newestDetail), wait
}

// newestFirst orders Freight newest first: later creationTimestamp first,
// then the greater name.
func newestFirst(a, b *kargoapi.Freight) int {
	if c := b.CreationTimestamp.Time.Compare(a.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(b.Name, a.Name)
}

// matchUpstream implements MatchUpstream.
func matchUpstream(
	stage *kargoapi.Stage,
	req *kargoapi.FreightRequest,
	freight []kargoapi.Freight,
	upstream map[string]*kargoapi.Stage,
	now time.Time,
) (*kargoapi.Freight, string, time.Duration) {
	if n := len(req.Sources.Stages); n != 1 || req.Sources.Direct {
		direct := ""
		if req.Sources.Direct {
			direct = " and direct: true"
		}
		return nil, fmt.Sprintf("selectionPolicy MatchUpstream needs exactly one upstream Stage and no direct source, "+
			"but Stage %q requests Freight from %s with %d upstream Stages%s: fix the Stage or use NewestFreight",
			stage.Name, describeOrigin(req.Origin), n, direct), 0
	}
	upName := req.Sources.Stages[0]
	up := upstream[upName]
	if up == nil {
		return nil, fmt.Sprintf("upstream Stage %q, whose Freight Stage %q follows (selectionPolicy MatchUpstream), does not exist",
			upName, stage.Name), 0
	}
	var ref kargoapi.FreightReference
	found := false
	if cur := up.Status.FreightHistory.Current(); cur != nil {
		ref, found = cur.Freight[req.Origin.String()]
	}
	if !found || ref.Name == "" {
		return nil, fmt.Sprintf("upstream Stage %q uses no Freight from %s yet, and Stage %q follows it (selectionPolicy MatchUpstream)",
			upName, describeOrigin(req.Origin), stage.Name), 0
	}
	var f *kargoapi.Freight
	for i := range freight {
		if freight[i].Name == ref.Name {
			f = &freight[i]
			break
		}
	}
	if f == nil {
		return nil, fmt.Sprintf("Freight %q, which upstream Stage %q uses, was not found", ref.Name, upName), 0
	}
	if ok, detail, wait := availability(stage, f, now); !ok {
		return nil, fmt.Sprintf("%s, which upstream Stage %q uses (selectionPolicy MatchUpstream), is not available to Stage %q: %s",
			describeFreight(f), upName, stage.Name, detail), wait
	}
	return f, "", 0
}
