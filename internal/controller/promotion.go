package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/clock"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store"
)

// PromotionControllerName names the Promotion controller in Events and in
// the actor of aborts Caravan makes on its own ("controller:<name>"), as
// Kargo names its own.
const PromotionControllerName = "promotion-controller"

// Reasons of the v1 Events a Promotion's end emits, Kargo's.
const (
	EventReasonPromotionSucceeded = "PromotionSucceeded"
	EventReasonPromotionFailed    = "PromotionFailed"
	EventReasonPromotionErrored   = "PromotionErrored"
	EventReasonPromotionAborted   = "PromotionAborted"
)

// ConditionPromoting on a Stage: a Promotion into it is running. True with
// reason ReasonActivePromotion while it runs; removed when it ends.
// Negative polarity.
const (
	ConditionPromoting    = "Promoting"
	ReasonActivePromotion = "ActivePromotion"
)

// Defaults of the Promotion reconciler.
const (
	// DefaultPromotionTurnPoll is how often a Pending Promotion that waits
	// for an earlier one of its Stage looks again, should the wake-up that
	// the earlier one's end sends be lost.
	DefaultPromotionTurnPoll = 30 * time.Second
	// DefaultStepRetryAfter paces a waiting step that did not say when to
	// look again.
	DefaultStepRetryAfter = 10 * time.Second
)

// PromotionEngine runs the steps of one Promotion (*promotion.Engine
// implements it). It updates status in place, calls save after every step,
// and returns Done once the Promotion has reached a terminal phase.
type PromotionEngine interface {
	Run(ctx context.Context, in promotion.Input, status *kargoapi.PromotionStatus,
		save func(context.Context, *kargoapi.PromotionStatus) error) (promotion.RunResult, error)
}

// PromotionOptions are the dependencies of a PromotionReconciler. Store,
// Engine and WorkDir are required.
type PromotionOptions struct {
	// Store is the admission-wrapped store.
	Store store.Store
	// Engine runs the steps.
	Engine PromotionEngine
	// WorkDir holds the workspaces, one per running Promotion, at
	// <WorkDir>/<project>/<promotion>. A workspace is a cache: it is kept
	// while the Promotion runs (across restarts) and removed when it ends.
	WorkDir string
	// Clock tells the time of starts and ends; the real clock when nil.
	Clock clock.PassiveClock
	// TurnPoll is DefaultPromotionTurnPoll when zero.
	TurnPoll time.Duration
}

// PromotionReconciler runs Promotions (Kargo's Promotion controller plus
// the Stage bookkeeping Kargo's Stage controller does when one ends). A
// pass over one Promotion runs these named steps:
//
//  1. load: read the Promotion; a missing one frees its Stage (should it
//     have been running) and wakes the next Promotion of the Stage.
//  2. settle: a terminal Promotion whose Stage does not yet know about it
//     (the server stopped between the two writes) gets its bookkeeping;
//     otherwise nothing happens to it.
//  3. abort: the kargo.akuity.io/abort annotation ends a Pending or a
//     waiting Running Promotion as Aborted at once; a Running one whose
//     steps are executing stops at the next step boundary.
//  4. turn: a Stage runs one Promotion at a time, in creation (name)
//     order: a Pending Promotion waits (status message says for which)
//     while another of its Stage is Running or an earlier one has not
//     ended.
//  5. start: phase Running, freight, freightCollection (the Stage's
//     current collection with the target Freight in its origin's place),
//     startedAt; a fresh workspace; the Stage's currentPromotion.
//  6. run: the engine runs the steps from status.currentStep (from the
//     first when the workspace is gone, to rebuild it), writing the status
//     before each step and when it stops: the progress record a restart
//     resumes from. A step that waits requeues the Promotion after its
//     retry-after instead of holding a worker.
//  7. finish: finishedAt and the terminal status; a v1 Event (reason
//     PromotionSucceeded|Failed|Errored|Aborted) carrying the actor, the
//     Freight and the Stage; on success the Freight's currentlyIn and the
//     Stage's freightHistory; the Stage's lastPromotion, its
//     currentPromotion cleared; the workspace removed; the next Promotion
//     of the Stage woken.
//
// Every pass records the kargo.akuity.io/refresh annotation's value in
// status.lastHandledRefresh. Finishing is idempotent, in that order, so a
// restart between its writes completes it without doing anything twice.
type PromotionReconciler struct {
	store    store.Store
	engine   PromotionEngine
	workDir  string
	clock    clock.PassiveClock
	turnPoll time.Duration
	// enqueue wakes another Promotion; set by NewPromotionRunner.
	enqueue func(Key)
}

// NewPromotionReconciler returns a reconciler with the given dependencies.
func NewPromotionReconciler(opts PromotionOptions) (*PromotionReconciler, error) {
	if opts.Store == nil || opts.Engine == nil || opts.WorkDir == "" {
		return nil, errors.New("create promotion reconciler: Store, Engine and WorkDir are required")
	}
	r := &PromotionReconciler{
		store:    opts.Store,
		engine:   opts.Engine,
		workDir:  opts.WorkDir,
		clock:    opts.Clock,
		turnPoll: opts.TurnPoll,
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.turnPoll <= 0 {
		r.turnPoll = DefaultPromotionTurnPoll
	}
	return r, nil
}

// NewPromotionRunner returns the runner of rec over every Promotion in s.
// opts.Workers bounds how many Promotions (of different Stages) run at
// once.
func NewPromotionRunner(s store.Store, rec *PromotionReconciler, opts RunnerOptions) (*Runner, error) {
	opts.Kind = "Promotion"
	opts.Reconciler = rec
	if opts.Name == "" {
		opts.Name = "promotion"
	}
	r, err := NewRunner(s, opts)
	if err != nil {
		return nil, err
	}
	rec.enqueue = r.Enqueue
	return r, nil
}

// WorkspacePath is where the workspace of a Promotion lives.
func (r *PromotionReconciler) WorkspacePath(project, promotion string) string {
	return filepath.Join(r.workDir, project, promotion)
}

// promotionPass carries one reconcile of one Promotion through its steps.
type promotionPass struct {
	key   Key
	obj   *unstructured.Unstructured // the stored Promotion, as last written
	promo *kargoapi.Promotion
	// status is the working status.
	status kargoapi.PromotionStatus
	// freight is the target Freight, once read.
	freight *kargoapi.Freight
}

// Reconcile runs one pass over the Promotion key names.
func (r *PromotionReconciler) Reconcile(ctx context.Context, key Key) (Result, error) {
	p, err := r.load(ctx, key)
	if p == nil || err != nil {
		return Result{}, err
	}
	if p.status.Phase.IsTerminal() {
		return Result{}, r.settle(ctx, p)
	}
	if req, ok := abortRequest(p.promo); ok {
		return Result{}, r.abort(ctx, p, req)
	}
	if p.status.Phase != kargoapi.PromotionPhaseRunning {
		blocker, err := r.turn(ctx, p)
		if err != nil {
			return Result{}, err
		}
		if blocker != "" {
			return Result{RequeueAfter: r.turnPoll}, r.wait(ctx, p, blocker)
		}
		if done, err := r.start(ctx, p); done || err != nil {
			return Result{}, err
		}
	}
	return r.run(ctx, p)
}

// load reads and decodes the Promotion; nil when there is nothing to do.
func (r *PromotionReconciler) load(ctx context.Context, key Key) (*promotionPass, error) {
	obj, err := r.store.Get(ctx, "Promotion", key.Namespace, key.Name)
	if apierrors.IsNotFound(err) {
		return nil, r.gone(ctx, key)
	}
	if err != nil {
		return nil, fmt.Errorf("get promotion %s: %w", key, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return nil, nil
	}
	promo := &kargoapi.Promotion{}
	if err := decodeObject(obj, promo); err != nil {
		return nil, retry.Terminal(fmt.Errorf("decode promotion %s: %w", key, err))
	}
	return &promotionPass{key: key, obj: obj, promo: promo, status: *promo.Status.DeepCopy()}, nil
}

// gone handles a Promotion that no longer exists: its workspace is
// removed; should its Stage still name it as the current one (it was
// deleted while running), the Stage is freed; the next Promotion of the
// Stage is woken. The Stage is
// recovered from the name, "<stage>.<ULID>.<freight>".
func (r *PromotionReconciler) gone(ctx context.Context, key Key) error {
	parts := strings.Split(key.Name, ".")
	if len(parts) < 3 {
		return nil
	}
	stage := strings.Join(parts[:len(parts)-2], ".")
	if err := os.RemoveAll(r.WorkspacePath(key.Namespace, key.Name)); err != nil {
		LoggerFrom(ctx).Warn("cannot remove the workspace of a deleted promotion", logKeyError, err.Error())
	}
	err := r.updateStage(ctx, key.Namespace, stage, func(st *kargoapi.Stage) bool {
		if st.Status.CurrentPromotion == nil || st.Status.CurrentPromotion.Name != key.Name {
			return false
		}
		st.Status.CurrentPromotion = nil
		conditionSet{conds: &st.Status.Conditions}.remove(ConditionPromoting)
		return true
	})
	if err != nil {
		return err
	}
	r.wakeNext(ctx, key.Namespace, stage, key.Name)
	return nil
}

// settle completes the bookkeeping of a terminal Promotion whose Stage has
// not recorded it yet, and records a new refresh token.
func (r *PromotionReconciler) settle(ctx context.Context, p *promotionPass) error {
	if err := r.recordRefresh(ctx, p); err != nil {
		return err
	}
	stage, err := r.getStage(ctx, p.key.Namespace, p.promo.Spec.Stage)
	if err != nil || stage == nil || !needsBookkeeping(stage, p.promo.Name) {
		return err
	}
	LoggerFrom(ctx).Info("completing the bookkeeping of a finished promotion", "phase", string(p.status.Phase))
	return r.bookkeep(ctx, p)
}

// needsBookkeeping reports whether the Stage has yet to record the end of
// the Promotion named name: it still names it as current, or its last
// Promotion is an earlier one.
func needsBookkeeping(stage *kargoapi.Stage, name string) bool {
	if cur := stage.Status.CurrentPromotion; cur != nil && cur.Name == name {
		return true
	}
	last := stage.Status.LastPromotion
	return last == nil || last.Name < name
}

// abortRequest returns the Promotion's abort request, if it has one: Kargo's
// forms of the annotation (the action word "terminate", or an
// AbortPromotionRequest in JSON) and, for convenience, the Promotion's own
// name.
func abortRequest(promo *kargoapi.Promotion) (kargoapi.AbortPromotionRequest, bool) {
	v, ok := promo.Annotations[kargoapi.AnnotationKeyAbort]
	if !ok {
		return kargoapi.AbortPromotionRequest{}, false
	}
	if req, ok := kargoapi.ParseAbortPromotionRequest(v); ok {
		return req, true
	}
	if strings.TrimSpace(v) == promo.Name {
		return kargoapi.AbortPromotionRequest{Action: kargoapi.PromotionAbortActionTerminate}, true
	}
	return kargoapi.AbortPromotionRequest{}, false
}

// abortActor is who aborted, as Events record it: the actor admission
// recorded in the request, else (Caravan itself, or an annotation whose
// form carries no actor) the controller, as in Kargo.
func abortActor(req kargoapi.AbortPromotionRequest) string {
	if req.Actor != "" {
		return req.Actor
	}
	return "controller:" + PromotionControllerName
}

// abortMessagePrefix starts the message of an aborted Promotion.
const abortMessagePrefix = "Promotion terminated "

// abortMessage is the message of an aborted Promotion, Kargo's: "Promotion
// terminated by <actor>", or "… per user request" when a user's annotation
// did not say who.
func abortMessage(req kargoapi.AbortPromotionRequest) string {
	if req.Actor == "" && !req.ControlPlane {
		return abortMessagePrefix + "per user request"
	}
	return abortMessagePrefix + "by " + abortActor(req)
}

// joinNonEmpty is "head (detail)", or head when detail is empty.
func joinNonEmpty(head, detail string) string {
	if detail == "" {
		return head
	}
	return head + " (" + detail + ")"
}

// abort ends a Promotion that is not executing steps right now.
func (r *PromotionReconciler) abort(ctx context.Context, p *promotionPass, req kargoapi.AbortPromotionRequest) error {
	LoggerFrom(ctx).Info("aborting promotion", "phase", string(p.status.Phase), "actor", abortActor(req))
	p.status.Phase = kargoapi.PromotionPhaseAborted
	p.status.Message = abortMessage(req)
	if i := int(p.status.CurrentStep); i >= 0 && i < len(p.status.StepExecutionMetadata) {
		if md := &p.status.StepExecutionMetadata[i]; md.Status == kargoapi.PromotionStepStatusRunning {
			md.Status = kargoapi.PromotionStepStatusAborted
			md.FinishedAt = r.now()
		}
	}
	return r.finish(ctx, p)
}

// turn returns the Promotion that p must wait for, or "" when it is p's
// turn: no other Promotion of the Stage is Running, and none created
// earlier has yet to end.
func (r *PromotionReconciler) turn(ctx context.Context, p *promotionPass) (string, error) {
	promos, err := r.stagePromotions(ctx, p.key.Namespace, p.promo.Spec.Stage)
	if err != nil {
		return "", err
	}
	for _, o := range promos {
		if o.name == p.promo.Name || o.phase.IsTerminal() {
			continue
		}
		if o.phase == kargoapi.PromotionPhaseRunning || o.name < p.promo.Name {
			return o.name, nil
		}
	}
	return "", nil
}

// stagePromotion is the part of a Promotion the queue needs.
type stagePromotion struct {
	name  string
	phase kargoapi.PromotionPhase
}

// stagePromotions lists the Promotions of a Stage (by the indexed
// spec.stage field), sorted by name: creation order.
func (r *PromotionReconciler) stagePromotions(ctx context.Context, ns, stage string) ([]stagePromotion, error) {
	list, err := r.store.List(ctx, "Promotion", ns, store.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.stage", stage),
	})
	if err != nil {
		return nil, fmt.Errorf("list promotions of stage %s/%s: %w", ns, stage, err)
	}
	out := make([]stagePromotion, 0, len(list.Items))
	for i := range list.Items {
		u := &list.Items[i]
		if u.GetDeletionTimestamp() != nil {
			continue
		}
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		out = append(out, stagePromotion{name: u.GetName(), phase: kargoapi.PromotionPhase(phase)})
	}
	slices.SortFunc(out, func(a, b stagePromotion) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// wakeNext enqueues the Promotions of the Stage that have not ended, other
// than except: the first starts, the others update what they wait for.
func (r *PromotionReconciler) wakeNext(ctx context.Context, ns, stage, except string) {
	if r.enqueue == nil {
		return
	}
	promos, err := r.stagePromotions(ctx, ns, stage)
	if err != nil {
		LoggerFrom(ctx).Warn("cannot wake the next promotion of the stage", "stage", stage, logKeyError, err.Error())
		return
	}
	for _, o := range promos {
		if o.name != except && !o.phase.IsTerminal() {
			r.enqueue(Key{Namespace: ns, Name: o.name})
		}
	}
}

// wait records that p waits for blocker (when the status does not say so
// already).
func (r *PromotionReconciler) wait(ctx context.Context, p *promotionPass, blocker string) error {
	msg := fmt.Sprintf("waiting for Promotion %s to end: Stage %s runs one Promotion at a time, in the order they were created",
		blocker, p.promo.Spec.Stage)
	refresh := p.promo.Annotations[kargoapi.AnnotationKeyRefresh]
	if p.status.Phase == kargoapi.PromotionPhasePending && p.status.Message == msg && p.status.LastHandledRefresh == refresh {
		return nil
	}
	p.status.Phase = kargoapi.PromotionPhasePending
	p.status.Message = msg
	p.status.LastHandledRefresh = refresh
	return r.writeStatus(ctx, p, &p.status)
}

// recordRefresh writes a new refresh token into status.lastHandledRefresh.
func (r *PromotionReconciler) recordRefresh(ctx context.Context, p *promotionPass) error {
	refresh := p.promo.Annotations[kargoapi.AnnotationKeyRefresh]
	if refresh == p.status.LastHandledRefresh {
		return nil
	}
	p.status.LastHandledRefresh = refresh
	return r.writeStatus(ctx, p, &p.status)
}

// start moves a Pending Promotion to Running. done reports that it ended
// instead (Errored: its Stage or Freight is gone).
func (r *PromotionReconciler) start(ctx context.Context, p *promotionPass) (done bool, err error) {
	ns := p.key.Namespace
	stage, err := r.getStage(ctx, ns, p.promo.Spec.Stage)
	if err != nil {
		return false, err
	}
	if stage == nil {
		return true, r.fail(ctx, p, fmt.Sprintf("Stage %q does not exist in project %q: create it again, or promote into another Stage",
			p.promo.Spec.Stage, ns))
	}
	freight, err := r.getFreight(ctx, ns, p.promo.Spec.Freight)
	if err != nil {
		return false, err
	}
	if freight == nil {
		return true, r.fail(ctx, p, fmt.Sprintf("Freight %q does not exist in project %q: it was deleted after the Promotion was made; promote other Freight",
			p.promo.Spec.Freight, ns))
	}
	p.freight = freight
	target := freightReference(freight)
	now := r.now()
	p.status = kargoapi.PromotionStatus{
		Phase:              kargoapi.PromotionPhaseRunning,
		StartedAt:          now,
		Freight:            &target,
		FreightCollection:  targetCollection(stage, target),
		LastHandledRefresh: p.promo.Annotations[kargoapi.AnnotationKeyRefresh],
	}
	if err := r.freshWorkspace(ns, p.promo.Name); err != nil {
		return false, err
	}
	if err := r.writeStatus(ctx, p, &p.status); err != nil {
		return false, err
	}
	LoggerFrom(ctx).Info("started promotion", "stage", p.promo.Spec.Stage, "freight", freight.Name)
	err = r.updateStage(ctx, ns, p.promo.Spec.Stage, func(st *kargoapi.Stage) bool {
		ref := target.DeepCopy()
		st.Status.CurrentPromotion = &kargoapi.PromotionReference{Name: p.promo.Name, Freight: ref}
		conditionSet{conds: &st.Status.Conditions, generation: st.Generation, now: *now}.set(
			ConditionPromoting, metav1.ConditionTrue, ReasonActivePromotion,
			fmt.Sprintf("Promotion %q is currently %s", p.promo.Name, kargoapi.PromotionPhaseRunning))
		return true
	})
	return false, err
}

// targetCollection is the Stage's current freight collection, limited to
// the origins it still requests, with target in its origin's place.
func targetCollection(stage *kargoapi.Stage, target kargoapi.FreightReference) *kargoapi.FreightCollection {
	col := &kargoapi.FreightCollection{}
	if cur := stage.Status.FreightHistory.Current(); cur != nil {
		for _, req := range stage.Spec.RequestedFreight {
			if ref, ok := cur.Freight[req.Origin.String()]; ok {
				col.UpdateOrPush(*ref.DeepCopy())
			}
		}
	}
	col.UpdateOrPush(target)
	return col
}

// freightReference copies the identifying parts of Freight.
func freightReference(f *kargoapi.Freight) kargoapi.FreightReference {
	c := f.DeepCopy()
	return kargoapi.FreightReference{
		Name: c.Name, Origin: c.Origin, Commits: c.Commits, Images: c.Images, Charts: c.Charts, Artifacts: c.Artifacts,
	}
}

// freshWorkspace empties (or makes) the workspace of a Promotion.
func (r *PromotionReconciler) freshWorkspace(project, name string) error {
	dir := r.WorkspacePath(project, name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear workspace %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create workspace %s: %w", dir, err)
	}
	return nil
}

// run executes the Promotion's steps from status.currentStep.
func (r *PromotionReconciler) run(ctx context.Context, p *promotionPass) (Result, error) {
	ns := p.key.Namespace
	if p.status.Freight == nil {
		return Result{}, r.fail(ctx, p, "the Promotion is Running but its status names no Freight; create a new Promotion")
	}
	if p.freight == nil {
		f, err := r.getFreight(ctx, ns, p.promo.Spec.Freight)
		if err != nil {
			return Result{}, err
		}
		p.freight = f // nil when deleted meanwhile: the status still has its reference
	}
	dir := r.WorkspacePath(ns, p.promo.Name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) && p.status.CurrentStep > 0 {
		// The workspace is a cache, and it is gone (another machine, a
		// cleaned disk): the steps run again from the first to rebuild it.
		// Each sees a later attempt, and those with external effects check
		// whether they already happened.
		LoggerFrom(ctx).Info("the workspace of the running promotion is gone; running its steps again from the first",
			"step", p.status.CurrentStep)
		replayFromStart(&p.status)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("create workspace %s: %w", dir, err)
	}
	var col kargoapi.FreightCollection
	if p.status.FreightCollection != nil {
		col = *p.status.FreightCollection.DeepCopy()
	}
	in := promotion.Input{
		Project:       ns,
		Stage:         p.promo.Spec.Stage,
		Promotion:     p.promo.Name,
		Actor:         p.promo.Annotations[kargoapi.AnnotationKeyCreateActor],
		Vars:          p.promo.Spec.Vars,
		Steps:         p.promo.Spec.Steps,
		Freight:       col,
		TargetFreight: *p.status.Freight.DeepCopy(),
		WorkDir:       dir,
		Aborted:       func() bool { return r.abortedNow(ctx, p.key) },
	}
	save := func(ctx context.Context, st *kargoapi.PromotionStatus) error {
		// The refresh token that woke this pass is handled by it.
		st.LastHandledRefresh = p.promo.Annotations[kargoapi.AnnotationKeyRefresh]
		if st.Phase == kargoapi.PromotionPhaseAborted && !strings.HasPrefix(st.Message, abortMessagePrefix) {
			// Say who aborted, as Kargo does, and where it stopped.
			if req, ok := r.abortRequestNow(ctx, p.key); ok {
				st.Message = joinNonEmpty(abortMessage(req), st.Message)
			}
		}
		return r.writeStatus(ctx, p, st)
	}
	res, err := r.engine.Run(ctx, in, &p.status, save)
	switch {
	case ctx.Err() != nil:
		// Stopping: the status saved after the last step is the record a
		// restart resumes from.
		return Result{}, ctx.Err()
	case apierrors.IsNotFound(err):
		return Result{}, nil // deleted while running
	case err != nil && retry.IsTerminal(err):
		return Result{}, r.fail(ctx, p, err.Error())
	case err != nil:
		return Result{}, fmt.Errorf("run promotion %s: %w", p.key, err)
	case !res.Done:
		wait := res.RetryAfter
		if wait <= 0 {
			wait = DefaultStepRetryAfter
		}
		return Result{RequeueAfter: wait}, nil
	}
	if !p.status.Phase.IsTerminal() {
		return Result{}, r.fail(ctx, p, fmt.Sprintf("the promotion engine finished in phase %q, which is not a final phase", p.status.Phase))
	}
	// The engine saved the terminal status (with finishedAt) through save.
	LoggerFrom(ctx).Info("promotion ended", "phase", string(p.status.Phase), "message", p.status.Message)
	return Result{}, r.bookkeep(ctx, p)
}

// replayFromStart makes the engine run every step again, from the first:
// the steps' recorded ends are forgotten, their attempt counts (and the
// outputs in status.state) kept.
func replayFromStart(st *kargoapi.PromotionStatus) {
	st.CurrentStep = 0
	for i := range st.StepExecutionMetadata {
		md := &st.StepExecutionMetadata[i]
		md.Status, md.Message = "", ""
		md.StartedAt, md.FinishedAt = nil, nil
		md.ErrorCount = 0
	}
}

// abortedNow reports whether the Promotion has been asked to abort since
// the pass began; the engine asks at every step boundary.
func (r *PromotionReconciler) abortedNow(ctx context.Context, key Key) bool {
	_, ok := r.abortRequestNow(ctx, key)
	return ok
}

func (r *PromotionReconciler) abortRequestNow(ctx context.Context, key Key) (kargoapi.AbortPromotionRequest, bool) {
	obj, err := r.store.Get(ctx, "Promotion", key.Namespace, key.Name)
	if err != nil {
		return kargoapi.AbortPromotionRequest{}, false
	}
	promo := &kargoapi.Promotion{ObjectMeta: metav1.ObjectMeta{Name: obj.GetName(), Annotations: obj.GetAnnotations()}}
	return abortRequest(promo)
}

// fail ends the Promotion as Errored with msg.
func (r *PromotionReconciler) fail(ctx context.Context, p *promotionPass, msg string) error {
	p.status.Phase = kargoapi.PromotionPhaseErrored
	p.status.Message = msg
	return r.finish(ctx, p)
}

// writeStatus writes st as the Promotion's status. A conflict (the Promotion's metadata changed meanwhile, e.g. an
// abort annotation) is resolved by writing over the newer version: the
// status is the controller's alone.
func (r *PromotionReconciler) writeStatus(ctx context.Context, p *promotionPass, st *kargoapi.PromotionStatus) error {
	status, err := toMap(st)
	if err != nil {
		return fmt.Errorf("encode status of promotion %s: %w", p.key, err)
	}
	obj := p.obj.DeepCopy()
	for attempt := 1; ; attempt++ {
		obj.Object["status"] = status
		out, err := r.store.UpdateStatus(ctx, obj)
		if err == nil {
			p.obj = out
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 5 {
			return fmt.Errorf("update status of promotion %s: %w", p.key, err)
		}
		latest, gerr := r.store.Get(ctx, "Promotion", p.key.Namespace, p.key.Name)
		if gerr != nil {
			return fmt.Errorf("update status of promotion %s: %w", p.key, gerr)
		}
		if latest.GetUID() != p.obj.GetUID() {
			return apierrors.NewNotFound(kargoapi.GroupVersion.WithResource("promotions").GroupResource(), p.key.Name)
		}
		obj = latest
	}
}

// getStage returns the Stage, or nil when it does not exist.
func (r *PromotionReconciler) getStage(ctx context.Context, ns, name string) (*kargoapi.Stage, error) {
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

// getFreight returns the Freight, or nil when it does not exist.
func (r *PromotionReconciler) getFreight(ctx context.Context, ns, name string) (*kargoapi.Freight, error) {
	obj, err := r.store.Get(ctx, "Freight", ns, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get freight %s/%s: %w", ns, name, err)
	}
	f := &kargoapi.Freight{}
	if err := decodeObject(obj, f); err != nil {
		return nil, fmt.Errorf("decode freight %s/%s: %w", ns, name, err)
	}
	return f, nil
}

// updateStage applies mutate to the Stage's status and writes it, again on
// a conflict; mutate returns false when there is nothing to write. A
// missing Stage is left alone.
func (r *PromotionReconciler) updateStage(ctx context.Context, ns, name string, mutate func(*kargoapi.Stage) bool) error {
	return updateStatus(ctx, r.store, "Stage", ns, name, func(obj *unstructured.Unstructured) (any, bool, error) {
		st := &kargoapi.Stage{}
		if err := decodeObject(obj, st); err != nil {
			return nil, false, err
		}
		if !mutate(st) {
			return nil, false, nil
		}
		return st.Status, true, nil
	})
}

// updateFreight is updateStage for a Freight's status.
func (r *PromotionReconciler) updateFreight(ctx context.Context, ns, name string, mutate func(*kargoapi.Freight) bool) error {
	return updateStatus(ctx, r.store, "Freight", ns, name, func(obj *unstructured.Unstructured) (any, bool, error) {
		f := &kargoapi.Freight{}
		if err := decodeObject(obj, f); err != nil {
			return nil, false, err
		}
		if !mutate(f) {
			return nil, false, nil
		}
		return f.Status, true, nil
	})
}

// now is the clock's time as a metav1.Time, to the second as stored.
func (r *PromotionReconciler) now() *metav1.Time {
	return &metav1.Time{Time: r.clock.Now().UTC().Truncate(time.Second)}
}
