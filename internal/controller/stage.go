package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/clock"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/pipeline"
	"github.com/caravan-dev/caravan/internal/store"
)

// DefaultStageWorkers is how many Stages are reconciled at once, Kargo's
// default.
const DefaultStageWorkers = 4

// StageControllerName names the Stage controller in Events and in the actor
// they record ("controller:stage-controller"), as Kargo names its own.
const StageControllerName = "stage-controller"

// Stage condition types, besides Ready, Reconciling and Promoting.
const (
	// ConditionVerified: the Stage's current Freight passed verification.
	// True once the newest verification of the current freight collection
	// is Successful; Unknown while it is pending, running or inconclusive;
	// False when it failed, errored or was aborted. Absent without current
	// Freight. Positive polarity.
	ConditionVerified = "Verified"
	// ConditionAutoPromotion: what auto-promotion does for the Stage, per
	// origin. True (UpToDate, PromotionCreated) when it has nothing left to
	// do; False with the "blocked because" sentence otherwise (Disabled,
	// OnHold, Waiting, InvalidPolicy). Absent for control-flow Stages.
	// Caravan's own. Positive polarity.
	ConditionAutoPromotion = "AutoPromotion"
)

// Stage condition reasons.
const (
	ReasonStageVerified            = "Verified"
	ReasonVerificationPending      = "VerificationPending"
	ReasonVerificationRunning      = "VerificationRunning"
	ReasonVerificationInconclusive = "VerificationInconclusive"
	ReasonVerifying                = "Verifying"
	ReasonNoFreight                = "NoFreight"
	ReasonControlFlow              = "ControlFlow"
	ReasonReconcileError           = "ReconcileError"
	ReasonRetryAfterError          = "RetryAfterError"
	ReasonAutoPromotionDisabled    = "Disabled"
	ReasonAutoPromotionInvalid     = "InvalidPolicy"
	ReasonAutoPromotionOnHold      = "OnHold"
	ReasonAutoPromotionWaiting     = "Waiting"
	ReasonAutoPromotionUpToDate    = "UpToDate"
	ReasonAutoPromotionCreated     = "PromotionCreated"
)

// What the Stage controller's Events say (Kargo's reason and message), and
// how it recognises Caravan's own actors.
const (
	stageEventPromotionCreated    = "PromotionCreated"
	stageNoVerificationMessage    = "the Stage has no verification: its Freight is verified once promoted"
	stageControllerActorPrefix    = "controller:"
	stageAutoPromotionEventFormat = "Automatically promoted Freight from origin %q for Stage %q"
)

// StageVerifier runs the verification of a Stage's current freight
// collection (*Verifier implements it): it starts or advances the
// AnalysisRun and returns the newest VerificationInfo, and how long until it
// wants to look again (zero: when the AnalysisRun changes).
type StageVerifier interface {
	Reconcile(ctx context.Context, stage *kargoapi.Stage) (*kargoapi.VerificationInfo, time.Duration, error)
}

// StageOptions are the dependencies of a StageReconciler. Store is required.
type StageOptions struct {
	// Store is the admission-wrapped store: Promotions created through it
	// are named, checked for availability and filled from their Stage.
	Store store.Store
	// Verifier runs spec.verification. When nil (a nil interface, not a nil
	// *Verifier), Stages are verified on a successful Promotion, as if they
	// had no verification.
	Verifier StageVerifier
	// Clock tells the time; the real clock when nil.
	Clock clock.PassiveClock
}

// StageReconciler links Stages into a pipeline (Kargo's Stage controllers,
// regular and control-flow): it moves verified Freight on and auto-promotes
// it. A pass over one Stage runs these named steps in order and ends in one
// status write:
//
//  1. load: read the Stage, the Freight of the origins it requests, its
//     Promotions, its Project's ProjectConfig and, for selectionPolicy
//     MatchUpstream, its upstream Stages.
//  2. currentlyIn: make the Freight's status.currentlyIn agree with the
//     current freight collection (pipeline.SyncCurrentlyIn); skipped while a
//     Promotion runs, whose end records it.
//  3. verify: a control-flow Stage (no steps) verifies at once the Freight
//     available to it (pipeline.PassThrough). Otherwise the current
//     collection is verified by the Verifier when the Stage has
//     spec.verification (called until a verification is terminal, or while
//     the reverify annotation names the newest one), else at once; the
//     result goes into freightHistory[0].verificationHistory and, when
//     Successful, every Freight of the collection becomes verifiedIn the
//     Stage. The Verifier emits the Events of the verifications it runs;
//     for the others this step emits FreightVerificationSucceeded.
//  4. freight status: the changes steps 2 and 3 made to Freight status are
//     written, each applied again to the Freight as stored.
//  5. holds: the Promotions users made (create-actor not Caravan) place and
//     lift auto-promotion holds, per origin, in creation order
//     (pipeline.ApplyManualPromotion, against the candidate admission
//     recorded on each).
//  6. auto-promote: status.autoPromotionEnabled from the ProjectConfig;
//     for each requested origin pipeline.ShouldAutoPromote decides, and a
//     Promotion is created through admission as Caravan (with a
//     PromotionCreated Event). Freight soaking upstream requeues the Stage
//     for when it will have soaked.
//  7. status: freightSummary, autoPromotionHolds, observedGeneration,
//     lastHandledRefresh and the conditions Ready, Reconciling, Verified and
//     AutoPromotion, whose messages say what blocks the Stage.
//
// Triggers (NewStageRunner): Freight newly verified in, or approved for, a
// Stage, or new from a Warehouse, wakes the Stages it may now flow into;
// a Promotion whose phase changes wakes its Stage; a ProjectConfig change
// wakes every Stage of its project; an AnalysisRun change wakes the Stage in
// its kargo.akuity.io/stage label; a Stage whose current Freight changes
// wakes the Stages downstream of it.
type StageReconciler struct {
	store    store.Store
	verifier StageVerifier
	clock    clock.PassiveClock
	index    *pipelineIndex
	// freight, set by NewStageRunner, serves Freight from the runner's
	// informer; without a runner, passes read the store.
	freight *freightCache
}

// NewStageReconciler returns a reconciler with the given dependencies.
func NewStageReconciler(opts StageOptions) (*StageReconciler, error) {
	if opts.Store == nil {
		return nil, errors.New("create stage reconciler: Store is required")
	}
	r := &StageReconciler{store: opts.Store, verifier: opts.Verifier, clock: opts.Clock, index: newPipelineIndex()}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	return r, nil
}

// stagePass carries one reconcile of one Stage through its steps.
type stagePass struct {
	key    Key
	obj    *unstructured.Unstructured
	stage  *kargoapi.Stage
	now    time.Time
	status kargoapi.StageStatus
	conds  conditionSet

	freight    []kargoapi.Freight
	promotions []kargoapi.Promotion
	project    *kargoapi.ProjectConfig
	upstream   map[string]*kargoapi.Stage
	holds      []pipeline.Hold

	// freightOps are the status changes to write, per Freight name.
	freightOps map[string][]freightOp
	// requeue is the earliest time-based wake-up wanted (zero: none).
	requeue time.Duration
}

// freightOp changes a Freight's status, reporting whether it changed it;
// event, when set, is emitted once the change is written.
type freightOp struct {
	apply func(*kargoapi.Freight) bool
	event func(context.Context, *kargoapi.Freight) error
}

func (p *stagePass) wakeAfter(d time.Duration) {
	if d > 0 && (p.requeue == 0 || d < p.requeue) {
		p.requeue = d
	}
}

func (p *stagePass) addOp(name string, op freightOp) {
	p.freightOps[name] = append(p.freightOps[name], op)
}

// Reconcile runs one pass over the Stage key names.
func (r *StageReconciler) Reconcile(ctx context.Context, key Key) (Result, error) {
	p, err := r.load(ctx, key)
	if p == nil || err != nil {
		return Result{}, err
	}
	steps := []struct {
		name string
		run  func(context.Context, *stagePass) error
	}{
		{"currentlyIn", r.syncCurrentlyIn},
		{"verify", r.verify},
		{"freight status", r.writeFreight},
		{"holds", r.applyHolds},
		{"auto-promote", r.autoPromote},
	}
	for _, s := range steps {
		if err := s.run(ctx, p); err != nil {
			LoggerFrom(ctx).Debug("stage step failed", "step", s.name, logKeyError, err.Error())
			r.summarize(p, err)
			if werr := r.writeStatus(ctx, p); werr != nil && !apierrors.IsConflict(werr) {
				LoggerFrom(ctx).Warn("cannot record the error in the stage's status", logKeyError, werr.Error())
			}
			return Result{RequeueAfter: p.requeue}, err
		}
	}
	r.summarize(p, nil)
	if err := r.writeStatus(ctx, p); err != nil {
		return Result{}, err
	}
	return Result{RequeueAfter: p.requeue}, nil
}

// load reads the Stage and what its pass decides from; nil when there is
// nothing to do.
func (r *StageReconciler) load(ctx context.Context, key Key) (*stagePass, error) {
	obj, err := r.store.Get(ctx, "Stage", key.Namespace, key.Name)
	if apierrors.IsNotFound(err) {
		r.index.forgetStage(key)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get stage %s: %w", key, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return nil, nil
	}
	stage := &kargoapi.Stage{}
	if err := decodeObject(obj, stage); err != nil {
		return nil, fmt.Errorf("decode stage %s: %w", key, err)
	}
	now := r.clock.Now()
	p := &stagePass{key: key, obj: obj, stage: stage, now: now, status: *stage.Status.DeepCopy(),
		freightOps: map[string][]freightOp{}, upstream: map[string]*kargoapi.Stage{}}
	p.conds = conditionSet{conds: &p.status.Conditions, generation: stage.Generation, now: metav1.NewTime(now)}
	if p.freight, err = r.listFreight(ctx, stage); err != nil {
		return nil, err
	}
	if p.promotions, err = r.listPromotions(ctx, stage); err != nil {
		return nil, err
	}
	if p.project, err = r.getProjectConfig(ctx, key.Namespace); err != nil {
		return nil, err
	}
	for _, req := range stage.Spec.RequestedFreight {
		if o := req.Sources.AutoPromotionOptions; o == nil || o.SelectionPolicy != kargoapi.AutoPromotionSelectionPolicyMatchUpstream {
			continue
		}
		for _, name := range req.Sources.Stages {
			up, err := r.getStage(ctx, key.Namespace, name)
			if err != nil {
				return nil, err
			}
			if up != nil {
				p.upstream[name] = up
			}
		}
	}
	return p, nil
}

// listFreight returns the Freight of every origin the Stage requests: from
// the runner's cache, else from the store by the indexed origin fields.
func (r *StageReconciler) listFreight(ctx context.Context, stage *kargoapi.Stage) ([]kargoapi.Freight, error) {
	var out []kargoapi.Freight
	seen := map[kargoapi.FreightOrigin]bool{}
	for _, req := range stage.Spec.RequestedFreight {
		if seen[req.Origin] {
			continue
		}
		seen[req.Origin] = true
		if r.freight != nil {
			fs, err := r.freight.list(stage.Namespace, req.Origin)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
			continue
		}
		sel := fields.AndSelectors(
			fields.OneTermEqualSelector("origin.kind", string(req.Origin.Kind)),
			fields.OneTermEqualSelector("origin.name", req.Origin.Name),
		)
		items, _, err := r.store.ListRaw(ctx, "Freight", stage.Namespace, store.ListOptions{FieldSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("list freight of %s in %s: %w", req.Origin.String(), stage.Namespace, err)
		}
		for _, raw := range items {
			var f kargoapi.Freight
			if err := json.Unmarshal(raw, &f); err != nil {
				return nil, fmt.Errorf("decode freight in %s: %w", stage.Namespace, err)
			}
			if f.DeletionTimestamp == nil {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// listPromotions returns the Stage's Promotions, by the indexed spec.stage.
func (r *StageReconciler) listPromotions(ctx context.Context, stage *kargoapi.Stage) ([]kargoapi.Promotion, error) {
	items, _, err := r.store.ListRaw(ctx, "Promotion", stage.Namespace, store.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.stage", stage.Name),
	})
	if err != nil {
		return nil, fmt.Errorf("list promotions of stage %s/%s: %w", stage.Namespace, stage.Name, err)
	}
	out := make([]kargoapi.Promotion, 0, len(items))
	for _, raw := range items {
		var p kargoapi.Promotion
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("decode promotion of stage %s/%s: %w", stage.Namespace, stage.Name, err)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b kargoapi.Promotion) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// getProjectConfig returns the ProjectConfig of a project, or nil.
func (r *StageReconciler) getProjectConfig(ctx context.Context, project string) (*kargoapi.ProjectConfig, error) {
	obj, err := r.store.Get(ctx, "ProjectConfig", project, project)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get projectconfig %s: %w", project, err)
	}
	pc := &kargoapi.ProjectConfig{}
	if err := decodeObject(obj, pc); err != nil {
		return nil, fmt.Errorf("decode projectconfig %s: %w", project, err)
	}
	return pc, nil
}

// getStage returns a Stage, or nil when it does not exist.
func (r *StageReconciler) getStage(ctx context.Context, ns, name string) (*kargoapi.Stage, error) {
	obj, err := r.store.Get(ctx, "Stage", ns, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get stage %s/%s: %w", ns, name, err)
	}
	st := &kargoapi.Stage{}
	if err := decodeObject(obj, st); err != nil {
		return nil, fmt.Errorf("decode stage %s/%s: %w", ns, name, err)
	}
	return st, nil
}

// syncCurrentlyIn records which Freight the Stage uses now.
func (r *StageReconciler) syncCurrentlyIn(_ context.Context, p *stagePass) error {
	if pipeline.IsControlFlow(p.stage) || p.stage.Status.CurrentPromotion != nil {
		return nil
	}
	stage, now := p.stage, p.now
	for _, name := range pipeline.SyncCurrentlyIn(stage, p.freight, now) {
		p.addOp(name, freightOp{apply: func(f *kargoapi.Freight) bool {
			one := []kargoapi.Freight{*f}
			changed := len(pipeline.SyncCurrentlyIn(stage, one, now)) > 0
			*f = one[0]
			return changed
		}})
	}
	return nil
}

// verify runs step 3 (see StageReconciler).
func (r *StageReconciler) verify(ctx context.Context, p *stagePass) error {
	if pipeline.IsControlFlow(p.stage) {
		p.status.FreightHistory = nil
		p.status.CurrentPromotion, p.status.LastPromotion, p.status.Health = nil, nil, nil
		for _, name := range pipeline.PassThrough(p.stage, p.freight, p.now) {
			r.markVerified(p, name, p.now, true)
		}
		return nil
	}
	cur := p.status.FreightHistory.Current()
	if cur == nil {
		p.conds.remove(ConditionVerified)
		return nil
	}
	latest := newestVerification(cur)
	byVerifier := p.stage.Spec.Verification != nil && r.verifier != nil
	switch {
	case byVerifier:
		if !needsVerifier(p.stage, latest) {
			break
		}
		info, wait, err := r.verifier.Reconcile(ctx, p.stage)
		if err != nil {
			return fmt.Errorf("verify freight collection %s of stage %s: %w", cur.ID, p.key, err)
		}
		if info != nil {
			recordVerification(cur, *info)
		}
		p.wakeAfter(wait)
	case latest == nil || latest.Phase != kargoapi.VerificationPhaseSuccessful:
		at := metav1.NewTime(p.now.UTC().Truncate(time.Second))
		recordVerification(cur, kargoapi.VerificationInfo{
			StartTime: &at, FinishTime: &at, Phase: kargoapi.VerificationPhaseSuccessful, Message: stageNoVerificationMessage,
		})
	}
	latest = newestVerification(cur)
	setVerified(p, cur, latest)
	if latest == nil || latest.Phase != kargoapi.VerificationPhaseSuccessful {
		return nil
	}
	at := p.now
	if latest.FinishTime != nil {
		at = latest.FinishTime.Time
	}
	for _, ref := range cur.Freight {
		// The Verifier emits the Events of the verifications it runs.
		r.markVerified(p, ref.Name, at, !byVerifier)
	}
	return nil
}

// markVerified queues recording Freight name as verified in the Stage at
// at and, with event, a FreightVerificationSucceeded Event once written.
func (r *StageReconciler) markVerified(p *stagePass, name string, at time.Time, event bool) {
	stage := p.stage
	op := freightOp{apply: func(f *kargoapi.Freight) bool { return pipeline.RecordVerified(f, stage.Name, at) }}
	if event {
		op.event = func(ctx context.Context, f *kargoapi.Freight) error {
			ann := freightEventAnnotations(f, stage.Name)
			ann[kargoapi.AnnotationKeyEventVerificationStart] = at.UTC().Format(time.RFC3339)
			ann[kargoapi.AnnotationKeyEventVerificationFinish] = at.UTC().Format(time.RFC3339)
			reason := EventReasonFreightVerificationSucceeded
			return r.emit(ctx, freightRef(f), eventName(f.Name+"."+stage.Name, reason), reason, "Freight verification succeeded", ann)
		}
	}
	p.addOp(name, op)
}

// newestVerification is the collection's newest verification, or nil.
func newestVerification(c *kargoapi.FreightCollection) *kargoapi.VerificationInfo {
	if len(c.VerificationHistory) == 0 {
		return nil
	}
	return &c.VerificationHistory[0]
}

// needsVerifier reports whether the Verifier has work: no verification yet,
// one not finished, or a reverify request naming the newest.
func needsVerifier(stage *kargoapi.Stage, latest *kargoapi.VerificationInfo) bool {
	if latest == nil || !latest.Phase.IsTerminal() {
		return true
	}
	req, ok := kargoapi.ParseVerificationRequest(stage.Annotations[kargoapi.AnnotationKeyReverify])
	return ok && req.ID == latest.ID
}

// recordVerification puts info at the head of the collection's history, in
// place of the entry with its ID, keeping at most VerificationHistoryLimit.
func recordVerification(c *kargoapi.FreightCollection, info kargoapi.VerificationInfo) {
	h := c.VerificationHistory
	if info.ID != "" {
		h = slices.DeleteFunc(slices.Clone(h), func(v kargoapi.VerificationInfo) bool { return v.ID == info.ID })
	}
	h = append([]kargoapi.VerificationInfo{info}, h...)
	if len(h) > kargoapi.VerificationHistoryLimit {
		h = h[:kargoapi.VerificationHistoryLimit]
	}
	c.VerificationHistory = h
}

// setVerified sets the Verified condition from the newest verification.
func setVerified(p *stagePass, cur *kargoapi.FreightCollection, v *kargoapi.VerificationInfo) {
	if v == nil {
		p.conds.set(ConditionVerified, metav1.ConditionUnknown, ReasonVerificationPending,
			fmt.Sprintf("the verification of freight collection %s has not started yet", cur.ID))
		return
	}
	msg := v.Message
	switch v.Phase {
	case kargoapi.VerificationPhaseSuccessful:
		if msg == "" {
			msg = fmt.Sprintf("freight collection %s was verified", cur.ID)
		}
		p.conds.set(ConditionVerified, metav1.ConditionTrue, ReasonStageVerified, msg)
	case kargoapi.VerificationPhaseFailed, kargoapi.VerificationPhaseError, kargoapi.VerificationPhaseAborted:
		p.conds.set(ConditionVerified, metav1.ConditionFalse, "Verification"+string(v.Phase), orDefault(msg,
			fmt.Sprintf("the verification of freight collection %s ended %s; re-run it with the %s annotation",
				cur.ID, v.Phase, kargoapi.AnnotationKeyReverify)))
	case kargoapi.VerificationPhaseInconclusive:
		p.conds.set(ConditionVerified, metav1.ConditionUnknown, ReasonVerificationInconclusive, orDefault(msg,
			"the verification was inconclusive"))
	case kargoapi.VerificationPhaseRunning:
		p.conds.set(ConditionVerified, metav1.ConditionUnknown, ReasonVerificationRunning, orDefault(msg,
			fmt.Sprintf("freight collection %s is being verified", cur.ID)))
	default:
		p.conds.set(ConditionVerified, metav1.ConditionUnknown, ReasonVerificationPending, orDefault(msg,
			fmt.Sprintf("the verification of freight collection %s is pending", cur.ID)))
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeFreight writes the queued Freight status changes, each on the
// Freight as now stored, and emits their Events.
func (r *StageReconciler) writeFreight(ctx context.Context, p *stagePass) error {
	names := make([]string, 0, len(p.freightOps))
	for name := range p.freightOps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ops := p.freightOps[name]
		var written *kargoapi.Freight
		applied := make([]bool, len(ops))
		err := updateStatus(ctx, r.store, "Freight", p.key.Namespace, name, func(obj *unstructured.Unstructured) (any, bool, error) {
			f := &kargoapi.Freight{}
			if err := decodeObject(obj, f); err != nil {
				return nil, false, err
			}
			changed := false
			for i, op := range ops {
				applied[i] = op.apply(f)
				changed = changed || applied[i]
			}
			written = f
			return f.Status, changed, nil
		})
		if err != nil {
			return err
		}
		for i, op := range ops {
			if applied[i] && op.event != nil && written != nil {
				if err := op.event(ctx, written); err != nil {
					return err
				}
			}
		}
		// Keep the pass's view of the Freight current for the steps after.
		if written != nil {
			for i := range p.freight {
				if p.freight[i].Name == name {
					p.freight[i].Status = *written.Status.DeepCopy()
				}
			}
		}
	}
	return nil
}

// userHold is a hold with the Promotion that placed it and the candidate
// it was placed against.
type userHold struct {
	promotion, candidate string
}

// applyHolds recomputes the Stage's holds from the Promotions users made,
// oldest first: each either places a hold on its origin (it promoted
// something other than the candidate admission recorded) or lifts it.
func (r *StageReconciler) applyHolds(_ context.Context, p *stagePass) error {
	var users []kargoapi.Promotion
	for _, promo := range p.promotions {
		_, recorded := promo.Annotations[admission.AnnotationKeyAutoPromotionCandidate]
		if recorded && !strings.HasPrefix(promo.Annotations[kargoapi.AnnotationKeyCreateActor], stageControllerActorPrefix) {
			users = append(users, promo)
		}
	}
	origins := map[string]kargoapi.FreightOrigin{}
	if len(users) > 0 {
		for _, f := range p.freight {
			origins[f.Name] = f.Origin
		}
	}
	var holds []pipeline.Hold
	placedBy := map[kargoapi.FreightOrigin]userHold{}
	for _, promo := range users {
		actor := promo.Annotations[kargoapi.AnnotationKeyCreateActor]
		cand := promo.Annotations[admission.AnnotationKeyAutoPromotionCandidate]
		origin, known := origins[promo.Spec.Freight]
		if !known {
			continue
		}
		holds = pipeline.ApplyManualPromotion(holds, origin, promo.Spec.Freight, cand, actor, promo.CreationTimestamp.Time)
		if h, ok := pipeline.HoldFor(holds, origin); ok && h.Freight == promo.Spec.Freight && h.Since.Equal(promo.CreationTimestamp.Time) {
			placedBy[origin] = userHold{promotion: promo.Name, candidate: cand}
		}
	}
	p.holds = holds
	var out map[string]kargoapi.AutoPromotionHold
	for _, h := range holds {
		if out == nil {
			out = map[string]kargoapi.AutoPromotionHold{}
		}
		by := placedBy[h.Origin]
		since := metav1.NewTime(h.Since)
		out[h.Origin.String()] = kargoapi.AutoPromotionHold{
			FreightName: h.Freight, Origin: h.Origin, PromotionName: by.promotion, Actor: h.Actor, CreatedAt: &since,
			Reason: fmt.Sprintf("%s promoted Freight %q instead of the auto-promotion candidate %q; promoting the "+
				"candidate of %s lifts the hold", orDefault(h.Actor, "a user"), h.Freight, by.candidate, h.Origin.String()),
		}
	}
	p.status.AutoPromotionHolds = out
	return nil
}

// autoPromote runs step 6 (see StageReconciler).
func (r *StageReconciler) autoPromote(ctx context.Context, p *stagePass) error {
	enabled, err := pipeline.AutoPromotionEnabled(p.project, p.stage)
	p.status.AutoPromotionEnabled = enabled
	if pipeline.IsControlFlow(p.stage) {
		p.conds.remove(ConditionAutoPromotion)
		return nil
	}
	if err != nil {
		p.conds.set(ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionInvalid,
			fmt.Sprintf("auto-promotion is off: %v; fix the ProjectConfig", err))
		return nil
	}
	var msgs []string
	ok, created, reason := true, false, ""
	worst := func(why string) { // a hold outranks the other reasons
		ok = false
		if reason == "" || why == ReasonAutoPromotionOnHold {
			reason = why
		}
	}
	seen := map[kargoapi.FreightOrigin]bool{}
	for _, req := range p.stage.Spec.RequestedFreight {
		if seen[req.Origin] {
			continue
		}
		seen[req.Origin] = true
		d, err := pipeline.ShouldAutoPromote(pipeline.AutoPromotionInput{
			Project: p.project, Stage: p.stage, Origin: req.Origin, Freight: p.freight,
			Upstream: p.upstream, Promotions: p.promotions, Holds: p.holds,
		}, p.now)
		if err != nil {
			return fmt.Errorf("decide auto-promotion of stage %s: %w", p.key, err)
		}
		p.wakeAfter(d.Wait)
		switch {
		case !enabled:
			worst(ReasonAutoPromotionDisabled)
		case d.Promote:
			name, err := r.createPromotion(ctx, p, d.Freight)
			if err != nil {
				if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
					return err
				}
				worst(ReasonAutoPromotionWaiting)
				msgs = append(msgs, fmt.Sprintf("%s, but the Promotion was refused: %v", d.Reason, err))
				continue
			}
			created = true
			msgs = append(msgs, fmt.Sprintf("%s (Promotion %s)", d.Reason, name))
			continue
		case d.Freight != nil && usesFreight(p.stage, req.Origin, d.Freight.Name):
		case hasHold(p.holds, req.Origin):
			worst(ReasonAutoPromotionOnHold)
		default:
			worst(ReasonAutoPromotionWaiting)
		}
		msgs = append(msgs, d.Reason)
	}
	msg := strings.Join(msgs, "; ")
	switch {
	case !ok:
		p.conds.set(ConditionAutoPromotion, metav1.ConditionFalse, reason, msg)
	case created:
		p.conds.set(ConditionAutoPromotion, metav1.ConditionTrue, ReasonAutoPromotionCreated, msg)
	default:
		p.conds.set(ConditionAutoPromotion, metav1.ConditionTrue, ReasonAutoPromotionUpToDate, msg)
	}
	return nil
}

func hasHold(holds []pipeline.Hold, origin kargoapi.FreightOrigin) bool {
	_, ok := pipeline.HoldFor(holds, origin)
	return ok
}

// usesFreight reports whether the Stage's current collection holds the
// Freight named name for origin.
func usesFreight(stage *kargoapi.Stage, origin kargoapi.FreightOrigin, name string) bool {
	cur := stage.Status.FreightHistory.Current()
	if cur == nil {
		return false
	}
	ref, ok := cur.Freight[origin.String()]
	return ok && ref.Name == name
}

// createPromotion creates a Promotion of freight into the Stage through
// admission, as Caravan, and records a PromotionCreated Event.
func (r *StageReconciler) createPromotion(ctx context.Context, p *stagePass, freight *kargoapi.Freight) (string, error) {
	info := kinds.ByKind("Promotion")
	promo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": info.APIVersion(),
		"kind":       info.Kind,
		"metadata":   map[string]any{"namespace": p.key.Namespace},
		"spec":       map[string]any{"stage": p.stage.Name, "freight": freight.Name},
	}}
	created, err := r.store.Create(ctx, promo)
	if err != nil {
		return "", fmt.Errorf("create promotion of freight %s into stage %s: %w", freight.Name, p.key, err)
	}
	LoggerFrom(ctx).Info("auto-promoting", "promotion", created.GetName(), "freight", freight.Name)
	ann := freightEventAnnotations(freight, p.stage.Name)
	ann[kargoapi.AnnotationKeyEventPromotionName] = created.GetName()
	ann[kargoapi.AnnotationKeyEventPromotionCreateTime] = created.GetCreationTimestamp().UTC().Format(time.RFC3339)
	ref := eventObjectRef{kind: "Promotion", name: created.GetName(), namespace: created.GetNamespace(),
		uid: string(created.GetUID()), resourceVersion: created.GetResourceVersion()}
	msg := fmt.Sprintf(stageAutoPromotionEventFormat, freight.Origin.String(), p.stage.Name)
	if err := r.emit(ctx, ref, eventName(created.GetName(), stageEventPromotionCreated), stageEventPromotionCreated, msg, ann); err != nil {
		return "", err
	}
	return created.GetName(), nil
}

// summarize sets freightSummary, observedGeneration, lastHandledRefresh and
// the Ready and Reconciling conditions, as Kargo summarizes them: an error,
// then a running Promotion, a failed last Promotion, no Freight yet, and
// verification, in that order, make the Stage not Ready.
func (r *StageReconciler) summarize(p *stagePass, err error) {
	st := &p.status
	st.ObservedGeneration = p.stage.Generation
	st.LastHandledRefresh = p.stage.Annotations[kargoapi.AnnotationKeyRefresh]
	if err != nil {
		p.conds.set(ConditionReady, metav1.ConditionFalse, ReasonReconcileError, err.Error())
		p.conds.set(ConditionReconciling, metav1.ConditionTrue, ReasonRetryAfterError, "retrying with backoff after an error")
		return
	}
	if pipeline.IsControlFlow(p.stage) {
		st.FreightSummary = "N/A"
		p.conds.remove(ConditionReconciling)
		p.conds.remove(ConditionVerified)
		p.conds.set(ConditionReady, metav1.ConditionTrue, ReasonControlFlow, fmt.Sprintf("Stage %q has no promotion "+
			"steps: Freight available to it is verified in it at once and passes on downstream", p.stage.Name))
		return
	}
	cur := st.FreightHistory.Current()
	st.FreightSummary = freightSummary(len(p.stage.Spec.RequestedFreight), cur)
	verified := meta.FindStatusCondition(st.Conditions, ConditionVerified)
	if v := newestVerification(orEmpty(cur)); v != nil && !v.Phase.IsTerminal() {
		p.conds.set(ConditionReconciling, metav1.ConditionTrue, ReasonVerifying, verified.Message)
	} else {
		p.conds.remove(ConditionReconciling)
	}
	auto := meta.FindStatusCondition(st.Conditions, ConditionAutoPromotion)
	last := st.LastPromotion
	switch promoting := meta.FindStatusCondition(st.Conditions, ConditionPromoting); {
	case promoting != nil && promoting.Status == metav1.ConditionTrue:
		p.conds.set(ConditionReady, metav1.ConditionFalse, promoting.Reason, promoting.Message)
	case last != nil && last.Status != nil && last.Status.Phase.IsTerminal() && last.Status.Phase != kargoapi.PromotionPhaseSucceeded:
		p.conds.set(ConditionReady, metav1.ConditionFalse, "LastPromotion"+string(last.Status.Phase),
			fmt.Sprintf("the last Promotion, %s, ended %s: %s", last.Name, last.Status.Phase, last.Status.Message))
	case cur == nil:
		msg := fmt.Sprintf("no Freight has been promoted into Stage %q yet", p.stage.Name)
		if auto != nil && auto.Status == metav1.ConditionFalse {
			msg += ": " + auto.Message
		}
		p.conds.set(ConditionReady, metav1.ConditionFalse, ReasonNoFreight, msg)
	case verified == nil || verified.Status != metav1.ConditionTrue:
		reason, msg := ReasonVerificationPending, "the current Freight is not verified yet"
		if verified != nil {
			reason, msg = verified.Reason, verified.Message
		}
		p.conds.set(ConditionReady, metav1.ConditionFalse, reason, msg)
	default:
		p.conds.set(ConditionReady, metav1.ConditionTrue, verified.Reason, verified.Message)
	}
}

func orEmpty(c *kargoapi.FreightCollection) *kargoapi.FreightCollection {
	if c == nil {
		return &kargoapi.FreightCollection{}
	}
	return c
}

// writeStatus is the pass's one status write, made only when the status
// changed. It carries the resourceVersion the pass read, so a Promotion's
// concurrent bookkeeping is never overwritten: a conflict makes the runner
// run the pass again at once, from the newer Stage.
func (r *StageReconciler) writeStatus(ctx context.Context, p *stagePass) error {
	if apiequality.Semantic.DeepEqual(p.status, p.stage.Status) {
		return nil
	}
	m, err := toMap(p.status)
	if err != nil {
		return fmt.Errorf("encode status of stage %s: %w", p.key, err)
	}
	obj := p.obj.DeepCopy()
	obj.Object["status"] = m
	_, err = r.store.UpdateStatus(ctx, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of stage %s: %w", p.key, err)
	}
	return nil
}
