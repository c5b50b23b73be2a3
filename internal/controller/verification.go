package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/analysis"
	"github.com/caravan-dev/caravan/internal/expr"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// VerificationControllerName names the component that emits verification
// Events, and is the actor ("controller:<name>") of verifications nobody
// asked for by name, as in Kargo, whose Stage controller runs them.
const VerificationControllerName = "stage-controller"

// Reasons of the v1 Events a finished verification emits, Kargo's: one Event
// per Freight of the verified collection, about that Freight.
const (
	EventReasonFreightVerificationSucceeded    = "FreightVerificationSucceeded"
	EventReasonFreightVerificationFailed       = "FreightVerificationFailed"
	EventReasonFreightVerificationErrored      = "FreightVerificationErrored"
	EventReasonFreightVerificationAborted      = "FreightVerificationAborted"
	EventReasonFreightVerificationInconclusive = "FreightVerificationInconclusive"
	EventReasonFreightVerificationUnknown      = "FreightVerificationUnknown"
)

// Annotations Caravan puts on the AnalysisRuns it creates, so that a
// verification whose record in the Stage's status was lost (a failed status
// write, a restart) finds its run again instead of starting a second one.
const (
	// AnnotationKeyVerificationID is the ID of the verification the run
	// implements.
	AnnotationKeyVerificationID = "caravan.akuity.io/verification-id"
	// AnnotationKeyReverifyOf is the ID of the verification the run repeats,
	// on runs started by a kargo.akuity.io/reverify request.
	AnnotationKeyReverifyOf = "caravan.akuity.io/reverify-of"
)

// DefaultVerificationPoll is how soon Verifier.Reconcile asks to be called
// again while a verification runs. It is a fallback: the Stage's runner
// should also watch AnalysisRuns (StageKeysOfAnalysisRun), whose status
// changes then wake the Stage at once.
const DefaultVerificationPoll = 10 * time.Second

// VerifierOptions are the dependencies of a Verifier. Store is required.
type VerifierOptions struct {
	// Store is the admission-wrapped store: AnalysisRuns are created through
	// it, and templates, Freight and Secrets read from it.
	Store store.Store
	// Clock tells the time of starts and ends; time.Now when nil.
	Clock func() time.Time
	// Logger receives the verifier's records; slog.Default() when nil.
	Logger *slog.Logger
	// SharedNamespace is what sharedSecret() and sharedConfigMap() read in
	// the expressions of a Stage's verification args.
	SharedNamespace string
}

// Verifier runs the verifications of Stages (Kargo's Stage controller's
// verification part): it turns a Stage's spec.verification into AnalysisRuns
// and their outcome into the VerificationInfo records of the Stage's current
// freight collection. It writes no Stage status itself: the Stage reconciler
// records what Reconcile returns. It is safe for concurrent use.
type Verifier struct {
	store   store.Store
	clock   func() time.Time
	log     *slog.Logger
	shared  string
	lookups *PromotionLookups
}

// NewVerifier returns a Verifier with the given dependencies.
func NewVerifier(opts VerifierOptions) *Verifier {
	v := &Verifier{store: opts.Store, clock: opts.Clock, log: opts.Logger, shared: opts.SharedNamespace}
	if v.clock == nil {
		v.clock = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.lookups = NewPromotionLookups(opts.Store, opts.SharedNamespace)
	return v
}

// Reconcile advances the verification of the Stage's current freight
// collection (stage.Status.FreightHistory.Current()) by one step and returns
// its record, how soon to call again (0: not until the Stage changes), or an
// error when the store failed (nothing was decided; try again later).
//
// The Stage reconciler writes the returned info into the collection's
// verificationHistory, newest first: it replaces the entry with the same ID,
// or goes first when its ID is new. A nil info means there is nothing to
// record. What happens, in order:
//
//   - no current collection, or a Promotion running (currentPromotion set):
//     nothing; the Promotion's end wakes the Stage.
//   - the newest verification has not finished and the
//     kargo.akuity.io/abort annotation names its ID (the plain ID or Kargo's
//     JSON form {"id", "actor", "controlPlane"}): its AnalysisRun gets
//     spec.terminate (Argo Rollouts' way to stop a run) and the verification
//     is Aborted, by the annotation's actor. A run that completed before the
//     abort keeps its own outcome.
//   - the newest verification has not finished: its AnalysisRun's phase,
//     message and completion time (a run whose spec.terminate was set by
//     anyone is Aborted).
//   - the newest verification has finished: nothing, unless the
//     kargo.akuity.io/reverify annotation names its ID, which starts a new
//     verification whose actor is the annotation's.
//   - no verification yet, or a reverify: a Stage without spec.verification
//     (or with no templates) is verified at once (Successful); otherwise an
//     AnalysisRun is built from the referenced AnalysisTemplates and
//     ClusterAnalysisTemplates and the Stage's args (expressions evaluated
//     over ctx.project, ctx.stage, vars and the collection's Freight) and
//     created in the Stage's project, named <stage>.<ULID>.<collection ID's
//     first 7>, labelled with the Stage and the collection, owned by the
//     collection's Freight. The verification is Pending with a new ULID as
//     its ID. A run already made for this collection (or this reverify) is
//     adopted instead, with the ID it records. A template that does not
//     exist, args that do not evaluate or a spec that does not build make
//     the verification Error at once, with a message saying how to fix it.
//
// Every verification that finishes emits one v1 Event per Freight of the
// collection (reasons FreightVerificationSucceeded|Failed|Errored|Aborted|
// Inconclusive, Kargo's annotations; the actor is the verification's, or
// controller:stage-controller).
func (v *Verifier) Reconcile(ctx context.Context, stage *kargoapi.Stage) (*kargoapi.VerificationInfo, time.Duration, error) {
	cur := stage.Status.FreightHistory.Current()
	if cur == nil || len(cur.Freight) == 0 || stage.Status.CurrentPromotion != nil {
		return nil, 0, nil
	}
	var last *kargoapi.VerificationInfo
	if len(cur.VerificationHistory) > 0 {
		last = &cur.VerificationHistory[0]
	}
	if last != nil && !last.Phase.IsTerminal() {
		if req, ok := stageRequest(stage, kargoapi.AnnotationKeyAbort); ok && req.ID == last.ID {
			return v.abort(ctx, stage, cur, last, req)
		}
		return v.observe(ctx, stage, cur, last)
	}
	var reverify *kargoapi.VerificationRequest
	if last != nil {
		req, ok := stageRequest(stage, kargoapi.AnnotationKeyReverify)
		if !ok || req.ID != last.ID {
			return nil, 0, nil
		}
		reverify = &req
	}
	return v.start(ctx, stage, cur, reverify)
}

// stageRequest reads the reverify or abort annotation of a Stage.
func stageRequest(stage *kargoapi.Stage, key string) (kargoapi.VerificationRequest, bool) {
	return kargoapi.ParseVerificationRequest(stage.Annotations[key])
}

// logger is the logger a Runner put in ctx, else the verifier's own.
func (v *Verifier) logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return v.log
}

// now is the clock's time, to the second as stored.
func (v *Verifier) now() *metav1.Time {
	return &metav1.Time{Time: v.clock().UTC().Truncate(time.Second)}
}

// start begins a verification of cur: reverify is the request that asked for
// it, nil for the collection's first.
func (v *Verifier) start(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	reverify *kargoapi.VerificationRequest) (*kargoapi.VerificationInfo, time.Duration, error) {
	now := v.now()
	info := &kargoapi.VerificationInfo{ID: newVerificationID(now.Time), StartTime: now}
	if reverify != nil {
		info.Actor = reverify.Actor
	}
	if ver := stage.Spec.Verification; ver == nil || len(ver.AnalysisTemplates) == 0 {
		info.Phase = kargoapi.VerificationPhaseSuccessful
		info.FinishTime = now
		v.emit(ctx, stage, cur, info, nil)
		return info, 0, nil
	}

	run, err := v.findRun(ctx, stage, cur, reverify)
	if err != nil {
		return nil, 0, err
	}
	if run != nil {
		if id := run.Annotations[AnnotationKeyVerificationID]; id != "" {
			info.ID = id
		}
		if !run.CreationTimestamp.IsZero() {
			info.StartTime = run.CreationTimestamp.DeepCopy()
		}
		return v.finishObserving(ctx, stage, cur, v.fromRun(info, run), run)
	}

	obj, problem, err := v.buildRun(ctx, stage, cur, info, reverify)
	if err != nil {
		return nil, 0, err
	}
	if problem != "" {
		return v.fail(ctx, stage, cur, info, problem), 0, nil
	}
	created, err := v.store.Create(ctx, obj)
	switch {
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err):
		return v.fail(ctx, stage, cur, info, fmt.Sprintf("the AnalysisRun built from spec.verification was refused: %v", err)), 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("create analysisrun for stage %s/%s: %w", stage.Namespace, stage.Name, err)
	}
	info.Phase = kargoapi.VerificationPhasePending
	info.AnalysisRun = &kargoapi.AnalysisRunReference{Namespace: created.GetNamespace(), Name: created.GetName()}
	v.logger(ctx).Info("started verification", "stage", stage.Name, "verification", info.ID,
		"analysisRun", created.GetName(), "freightCollection", cur.ID)
	return info, DefaultVerificationPoll, nil
}

// fail ends a verification that could not start with phase Error.
func (v *Verifier) fail(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	info *kargoapi.VerificationInfo, message string) *kargoapi.VerificationInfo {
	info.Phase = kargoapi.VerificationPhaseError
	info.Message = message
	info.FinishTime = v.now()
	v.logger(ctx).Warn("verification could not start", "stage", stage.Name, "verification", info.ID, "message", message)
	v.emit(ctx, stage, cur, info, nil)
	return info
}

// observe reports the state of the running verification last.
func (v *Verifier) observe(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	last *kargoapi.VerificationInfo) (*kargoapi.VerificationInfo, time.Duration, error) {
	info := last.DeepCopy()
	if info.AnalysisRun == nil {
		return v.fail(ctx, stage, cur, info, "the verification has no AnalysisRun to follow: "+
			reverifyHint(stage)), 0, nil
	}
	_, run, err := v.readRun(ctx, info.AnalysisRun)
	if err != nil {
		return nil, 0, err
	}
	if run == nil {
		return v.fail(ctx, stage, cur, info, fmt.Sprintf("AnalysisRun %q was deleted before it completed: %s",
			info.AnalysisRun.Name, reverifyHint(stage))), 0, nil
	}
	return v.finishObserving(ctx, stage, cur, v.fromRun(info, run), run)
}

// finishObserving emits the Events of a verification that has finished, and
// says when to look again at one that has not.
func (v *Verifier) finishObserving(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	info *kargoapi.VerificationInfo, run *rolloutsapi.AnalysisRun) (*kargoapi.VerificationInfo, time.Duration, error) {
	if !info.Phase.IsTerminal() {
		return info, DefaultVerificationPoll, nil
	}
	v.logger(ctx).Info("verification finished", "stage", stage.Name, "verification", info.ID,
		"phase", info.Phase, "message", info.Message)
	v.emit(ctx, stage, cur, info, run)
	return info, 0, nil
}

// abort stops the running verification last, as req asks.
func (v *Verifier) abort(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	last *kargoapi.VerificationInfo, req kargoapi.VerificationRequest) (*kargoapi.VerificationInfo, time.Duration, error) {
	info := last.DeepCopy()
	var run *rolloutsapi.AnalysisRun
	if info.AnalysisRun != nil {
		var err error
		run, err = v.terminate(ctx, info.AnalysisRun)
		if err != nil {
			return nil, 0, err
		}
		if run != nil && run.Status.Phase.Completed() && !run.Spec.Terminate {
			// The run finished before the abort arrived: that is its outcome.
			return v.finishObserving(ctx, stage, cur, v.fromRun(info, run), run)
		}
	}
	info.Actor = requestActor(req)
	info.Phase = kargoapi.VerificationPhaseAborted
	info.Message = "Verification aborted by " + info.Actor
	info.FinishTime = v.now()
	if info.AnalysisRun != nil && run != nil {
		info.AnalysisRun.Phase = string(run.Status.Phase)
	}
	v.logger(ctx).Info("verification aborted", "stage", stage.Name, "verification", info.ID, "actor", info.Actor)
	v.emit(ctx, stage, cur, info, run)
	return info, 0, nil
}

// terminate sets spec.terminate on the AnalysisRun ref names, unless it has
// completed or is already terminating, and returns the run as it then is
// (nil when it no longer exists).
func (v *Verifier) terminate(ctx context.Context, ref *kargoapi.AnalysisRunReference) (*rolloutsapi.AnalysisRun, error) {
	for attempt := 1; ; attempt++ {
		obj, run, err := v.readRun(ctx, ref)
		if run == nil || err != nil || run.Spec.Terminate || run.Status.Phase.Completed() {
			return run, err
		}
		if err := unstructured.SetNestedField(obj.Object, true, "spec", "terminate"); err != nil {
			return nil, fmt.Errorf("terminate analysisrun %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		_, err = v.store.Update(ctx, obj)
		if apierrors.IsConflict(err) && attempt < 5 {
			continue // its status moved on meanwhile: look again
		}
		if err != nil {
			return nil, fmt.Errorf("terminate analysisrun %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		run.Spec.Terminate = true
		return run, nil
	}
}

// requestActor is who made a reverify or abort request, as recorded.
func requestActor(req kargoapi.VerificationRequest) string {
	if req.Actor != "" {
		return req.Actor
	}
	return "controller:" + VerificationControllerName
}

// reverifyHint tells how to run a verification again.
func reverifyHint(stage *kargoapi.Stage) string {
	return fmt.Sprintf("run it again with `caravan verify stage %s --project %s`", stage.Name, stage.Namespace)
}

// fromRun is info updated with the state of its AnalysisRun.
func (v *Verifier) fromRun(info *kargoapi.VerificationInfo, run *rolloutsapi.AnalysisRun) *kargoapi.VerificationInfo {
	out := info.DeepCopy()
	out.AnalysisRun = &kargoapi.AnalysisRunReference{Namespace: run.Namespace, Name: run.Name, Phase: string(run.Status.Phase)}
	out.Message = run.Status.Message
	switch {
	case run.Spec.Terminate:
		out.Phase = kargoapi.VerificationPhaseAborted
		if out.Message == "" || run.Status.Phase == rolloutsapi.AnalysisPhaseSuccessful {
			out.Message = fmt.Sprintf("Verification aborted: AnalysisRun %q was terminated", run.Name)
		}
	case run.Status.Phase == "":
		out.Phase = kargoapi.VerificationPhasePending
	default:
		out.Phase = kargoapi.VerificationPhase(run.Status.Phase)
	}
	if out.Phase.IsTerminal() {
		switch {
		case run.Status.CompletedAt != nil:
			out.FinishTime = run.Status.CompletedAt.DeepCopy()
		case out.FinishTime == nil:
			out.FinishTime = v.now()
		}
	}
	return out
}

// readRun reads the AnalysisRun ref names, as stored and decoded; nils when
// it does not exist.
func (v *Verifier) readRun(ctx context.Context, ref *kargoapi.AnalysisRunReference) (*unstructured.Unstructured, *rolloutsapi.AnalysisRun, error) {
	obj, err := v.store.Get(ctx, "AnalysisRun", ref.Namespace, ref.Name)
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get analysisrun %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	run := &rolloutsapi.AnalysisRun{}
	if err := decodeObject(obj, run); err != nil {
		return nil, nil, fmt.Errorf("decode analysisrun %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return obj, run, nil
}

// findRun returns the newest AnalysisRun already made for this verification
// of cur: for the collection's first verification, any run of the Stage and
// collection (as Kargo adopts); for a reverify, the run that repeats the
// verification it names. Nil when there is none.
func (v *Verifier) findRun(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	reverify *kargoapi.VerificationRequest) (*rolloutsapi.AnalysisRun, error) {
	sel := labels.SelectorFromSet(labels.Set{
		kargoapi.LabelKeyStage:             labelValue(stage.Name),
		kargoapi.LabelKeyFreightCollection: cur.ID,
	})
	list, err := v.store.List(ctx, "AnalysisRun", stage.Namespace, store.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list analysisruns of stage %s/%s: %w", stage.Namespace, stage.Name, err)
	}
	var found []rolloutsapi.AnalysisRun
	for i := range list.Items {
		obj := &list.Items[i]
		if full := obj.GetAnnotations()[annotationKeyStageName]; full != "" && full != stage.Name {
			continue
		}
		if reverify != nil && obj.GetAnnotations()[AnnotationKeyReverifyOf] != reverify.ID {
			continue
		}
		run := rolloutsapi.AnalysisRun{}
		if err := decodeObject(obj, &run); err != nil {
			return nil, fmt.Errorf("decode analysisrun %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		found = append(found, run)
	}
	if len(found) == 0 {
		return nil, nil
	}
	// Newest first: by creation time, then by name, whose ULID sorts by time.
	sort.Slice(found, func(i, j int) bool {
		ti, tj := found[i].CreationTimestamp.Time, found[j].CreationTimestamp.Time
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return found[i].Name > found[j].Name
	})
	return &found[0], nil
}

// buildRun builds the AnalysisRun of verification info of cur. A problem
// the user must fix is returned as a message; an error means the store
// failed.
func (v *Verifier) buildRun(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	info *kargoapi.VerificationInfo, reverify *kargoapi.VerificationRequest) (*unstructured.Unstructured, string, error) {
	ver := stage.Spec.Verification
	templates, problem, err := v.templates(ctx, stage)
	if problem != "" || err != nil {
		return nil, problem, err
	}
	args, problem, err := v.evaluateArgs(ctx, stage, cur)
	if problem != "" || err != nil {
		return nil, problem, err
	}
	spec, err := analysis.BuildRun(templates, args)
	if err != nil {
		return nil, "build the AnalysisRun from spec.verification: " + err.Error(), nil
	}
	owners, problem, err := v.owners(ctx, stage, cur)
	if problem != "" || err != nil {
		return nil, problem, err
	}

	run := &rolloutsapi.AnalysisRun{
		TypeMeta: metav1.TypeMeta{APIVersion: kinds.ByKind("AnalysisRun").APIVersion(), Kind: "AnalysisRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            analysisRunName(stage.Name, info.ID, cur.ID),
			Namespace:       stage.Namespace,
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: owners,
		},
		Spec: *spec,
	}
	if md := ver.AnalysisRunMetadata; md != nil {
		for k, val := range md.Labels {
			run.Labels[k] = val
		}
		for k, val := range md.Annotations {
			run.Annotations[k] = val
		}
	}
	run.Labels[kargoapi.LabelKeyStage] = labelValue(stage.Name)
	run.Labels[kargoapi.LabelKeyFreightCollection] = cur.ID
	if labelValue(stage.Name) != stage.Name {
		run.Annotations[annotationKeyStageName] = stage.Name
	}
	// A run the Promotion brought about carries its name, as in Kargo.
	if (reverify == nil || reverify.Actor == "") && stage.Status.LastPromotion != nil {
		run.Labels[kargoapi.LabelKeyPromotion] = labelValue(stage.Status.LastPromotion.Name)
		run.Annotations[kargoapi.AnnotationKeyPromotion] = stage.Status.LastPromotion.Name
	}
	run.Annotations[AnnotationKeyVerificationID] = info.ID
	if reverify != nil {
		run.Annotations[AnnotationKeyReverifyOf] = reverify.ID
	}
	m, err := toMap(run)
	if err != nil {
		return nil, "", fmt.Errorf("encode analysisrun %s: %w", run.Name, err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return &unstructured.Unstructured{Object: m}, "", nil
}

// templates reads the templates spec.verification references.
func (v *Verifier) templates(ctx context.Context, stage *kargoapi.Stage) ([]analysis.Template, string, error) {
	refs := stage.Spec.Verification.AnalysisTemplates
	out := make([]analysis.Template, 0, len(refs))
	for i, ref := range refs {
		kind, ns := ref.Kind, stage.Namespace
		switch kind {
		case "", kargoapi.AnalysisTemplateKindAnalysisTemplate:
			kind = kargoapi.AnalysisTemplateKindAnalysisTemplate
		case kargoapi.AnalysisTemplateKindClusterAnalysisTemplate:
			ns = ""
		default:
			return nil, fmt.Sprintf("spec.verification.analysisTemplates[%d] has kind %q: use AnalysisTemplate or ClusterAnalysisTemplate",
				i, ref.Kind), nil
		}
		obj, err := v.store.Get(ctx, kind, ns, ref.Name)
		if apierrors.IsNotFound(err) {
			where := fmt.Sprintf("in project %q", stage.Namespace)
			if ns == "" {
				where = "(cluster-wide)"
			}
			return nil, fmt.Sprintf("%s %q not found %s: create it, or correct spec.verification.analysisTemplates[%d] of Stage %q",
				kind, ref.Name, where, i, stage.Name), nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("get %s %q: %w", strings.ToLower(kind), ref.Name, err)
		}
		t := &rolloutsapi.AnalysisTemplate{} // a ClusterAnalysisTemplate has the same shape
		if err := decodeObject(obj, t); err != nil {
			return nil, fmt.Sprintf("%s %q cannot be read: %v", kind, ref.Name, err), nil
		}
		out = append(out, analysis.Template{Kind: kind, Name: ref.Name, Spec: &t.Spec})
	}
	return out, "", nil
}

// evaluateArgs evaluates the Stage's verification args, Kargo's way: each
// value is a template of ${{ }} expressions over ctx.project, ctx.stage,
// vars (the Stage's spec.vars, evaluated in order) and the functions
// imageFrom, commitFrom and chartFrom over the collection's Freight, plus
// configMap, secret and the other data functions. An empty value leaves the
// template's default in place. A value must come out as a string; one that
// carries a value read from a Secret is refused, since the run's spec is
// stored in the clear (valueFrom.secretKeyRef is the way to pass secrets).
func (v *Verifier) evaluateArgs(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection) ([]rolloutsapi.Argument, string, error) {
	var secrets []string
	origins := make([]expr.Origin, 0, len(cur.Freight))
	for _, key := range slices.Sorted(maps.Keys(cur.Freight)) {
		ref := cur.Freight[key]
		origins = append(origins, expr.Origin{Origin: ref.Origin, Freight: expr.ReferenceArtifacts(ref)})
	}
	fns := append(expr.FreightFunctions(origins...), expr.DataFunctions(ctx, v.lookups, expr.DataScope{
		Project:         stage.Namespace,
		SharedNamespace: v.shared,
		OnSecret:        func(s string) { secrets = append(secrets, s) },
	})...)
	vars := map[string]any{}
	env := map[string]any{
		"ctx":  map[string]any{"project": stage.Namespace, "stage": stage.Name},
		"vars": vars,
	}
	for i, sv := range stage.Spec.Vars {
		val, err := expr.EvaluateTemplate(sv.Value, env, expr.WithFunctions(fns...))
		if err != nil {
			return nil, fmt.Sprintf("evaluate spec.vars[%d] (%s): %v", i, sv.Name, err), nil
		}
		vars[sv.Name] = val
	}
	var out []rolloutsapi.Argument
	for i, a := range stage.Spec.Verification.Args {
		if a.Value == "" {
			continue
		}
		where := fmt.Sprintf("spec.verification.args[%d] (%s)", i, a.Name)
		val, err := expr.EvaluateTemplate(a.Value, env, expr.WithFunctions(fns...))
		if err != nil {
			return nil, fmt.Sprintf("evaluate %s: %v", where, err), nil
		}
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Sprintf("%s evaluates to %s, not a string: an argument's value is text; "+
				"wrap the expression in quote(), e.g. ${{ quote(...) }}", where, describeValue(val)), nil
		}
		for _, secret := range secrets {
			if len(secret) >= 4 && strings.Contains(s, secret) {
				return nil, fmt.Sprintf("%s carries a value read from a Secret, which the AnalysisRun would store in the clear: "+
					"declare the argument in the AnalysisTemplate with valueFrom.secretKeyRef instead", where), nil
			}
		}
		out = append(out, rolloutsapi.Argument{Name: a.Name, Value: &s})
	}
	return out, "", nil
}

// describeValue names the kind of an expression's result in a message,
// without quoting it (it may have come from a Secret).
func describeValue(val any) string {
	switch val.(type) {
	case nil:
		return "nothing (nil)"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	}
	return "a number"
}

// owners are the owner references of a run of cur: each of its Freight.
func (v *Verifier) owners(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection) ([]metav1.OwnerReference, string, error) {
	names := cur.FreightNames()
	slices.Sort(names)
	out := make([]metav1.OwnerReference, 0, len(names))
	block := true
	for _, name := range names {
		obj, err := v.store.Get(ctx, "Freight", stage.Namespace, name)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("Freight %q of the Stage's current freight collection no longer exists: "+
				"promote existing Freight to the Stage", name), nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("get freight %s/%s: %w", stage.Namespace, name, err)
		}
		out = append(out, metav1.OwnerReference{
			APIVersion:         kargoapi.GroupVersion.String(),
			Kind:               "Freight",
			Name:               name,
			UID:                obj.GetUID(),
			BlockOwnerDeletion: &block,
		})
	}
	return out, "", nil
}

// emit records the end of a verification as one v1 Event per Freight of
// the collection. The Event's name is derived from the Freight, the
// verification and the reason, so a repeated end does not emit twice.
// Failing to emit is logged, not returned: the verification stands.
func (v *Verifier) emit(ctx context.Context, stage *kargoapi.Stage, cur *kargoapi.FreightCollection,
	info *kargoapi.VerificationInfo, run *rolloutsapi.AnalysisRun) {
	reason, message := EventReasonFreightVerificationUnknown, info.Message
	switch info.Phase {
	case kargoapi.VerificationPhaseSuccessful:
		reason, message = EventReasonFreightVerificationSucceeded, "Freight verification succeeded"
	case kargoapi.VerificationPhaseFailed:
		reason = EventReasonFreightVerificationFailed
	case kargoapi.VerificationPhaseError:
		reason = EventReasonFreightVerificationErrored
	case kargoapi.VerificationPhaseAborted:
		reason = EventReasonFreightVerificationAborted
	case kargoapi.VerificationPhaseInconclusive:
		reason = EventReasonFreightVerificationInconclusive
	}
	if message == "" {
		message = "Freight verification " + string(info.Phase)
	}
	actor := info.Actor
	if actor == "" {
		actor = "controller:" + VerificationControllerName
	}
	names := cur.FreightNames()
	slices.Sort(names)
	for _, name := range names {
		obj, err := v.store.Get(ctx, "Freight", stage.Namespace, name)
		if err != nil {
			v.logger(ctx).Warn("cannot emit verification event", "freight", name, "error", err.Error())
			continue
		}
		ann := map[string]any{
			kargoapi.AnnotationKeyEventActor:              actor,
			kargoapi.AnnotationKeyEventProject:            stage.Namespace,
			kargoapi.AnnotationKeyEventStageName:          stage.Name,
			kargoapi.AnnotationKeyEventFreightName:        name,
			kargoapi.AnnotationKeyEventFreightCreateTime:  obj.GetCreationTimestamp().UTC().Format(time.RFC3339),
			kargoapi.AnnotationKeyEventVerificationStart:  formatTime(info.StartTime),
			kargoapi.AnnotationKeyEventVerificationFinish: formatTime(info.FinishTime),
		}
		if alias, _, _ := unstructured.NestedString(obj.Object, "alias"); alias != "" {
			ann[kargoapi.AnnotationKeyEventFreightAlias] = alias
		}
		if info.AnalysisRun != nil {
			ann[kargoapi.AnnotationKeyEventAnalysisRunName] = info.AnalysisRun.Name
		}
		if run != nil {
			ann[kargoapi.AnnotationKeyEventPromotionName] = run.Annotations[kargoapi.AnnotationKeyPromotion]
		}
		for k, val := range ann {
			if val == "" {
				delete(ann, k)
			}
		}
		now := v.now().Format(time.RFC3339)
		ev := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1",
			"kind":       "Event",
			"metadata": map[string]any{
				"name":        verificationEventName(name, info.ID, reason),
				"namespace":   stage.Namespace,
				"annotations": ann,
			},
			"involvedObject": map[string]any{
				"apiVersion":      kargoapi.GroupVersion.String(),
				"kind":            "Freight",
				"namespace":       stage.Namespace,
				"name":            name,
				"uid":             string(obj.GetUID()),
				"resourceVersion": obj.GetResourceVersion(),
			},
			"reason":             reason,
			"message":            message,
			"type":               "Normal",
			"source":             map[string]any{"component": VerificationControllerName},
			"reportingComponent": VerificationControllerName,
			"reportingInstance":  "caravan",
			"action":             "Verify",
			"firstTimestamp":     now,
			"lastTimestamp":      now,
			"count":              int64(1),
		}}
		if _, err := v.store.Create(ctx, ev); err != nil && !apierrors.IsAlreadyExists(err) {
			v.logger(ctx).Warn("cannot emit verification event", "freight", name, "error", err.Error())
		}
	}
}

// formatTime is t in RFC 3339, or "" for nil.
func formatTime(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// verificationEventName is "<freight>.<verification id>.<reason>", in
// lowercase and within 253 characters.
func verificationEventName(freight, id, reason string) string {
	name := strings.ToLower(freight + "." + sanitizeName(id) + "." + reason)
	if len(name) > 253 {
		name = strings.TrimRight(name[:253], ".-")
	}
	return name
}

// sanitizeName keeps the characters a DNS subdomain allows.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, s)
}

// newVerificationID returns a new ULID, lowercase, made at t.
func newVerificationID(t time.Time) string {
	return strings.ToLower(ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String())
}

// maxRunStagePrefix is the longest stage name part of an AnalysisRun's name:
// 253 - len("." + ULID + "." + 7 characters), as in Kargo.
const maxRunStagePrefix = 253 - 1 - 26 - 1 - 7

// analysisRunName is Kargo's "<stage>.<ulid>.<collection id[:7]>", in
// lowercase; the ULID is the verification's.
func analysisRunName(stage, id, collection string) string {
	if len(stage) > maxRunStagePrefix {
		stage = stage[:maxRunStagePrefix]
	}
	if len(collection) > 7 {
		collection = collection[:7]
	}
	return strings.ToLower(stage + "." + sanitizeName(id) + "." + collection)
}

// labelValue is s when it fits a label's value (63 characters); else its
// first 54 characters, "-" and 8 hex digits of its SHA-256.
func labelValue(s string) string {
	if len(s) <= 63 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return strings.TrimRight(s[:54], ".-_") + "-" + hex.EncodeToString(sum[:4])
}
