package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/pipeline"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/store"
)

// Promotion names are "<stage>.<ULID>.<first 7 characters of the Freight>",
// lowercase, at most 253 characters.
const (
	promotionNameMax      = 253
	promotionShortFreight = 7
)

// admitPromotion: on create, the Promotion names its Freight either with
// spec.freight (a name, or an alias, which is replaced by the name) or with
// spec.origin alone, which is resolved to the Freight auto-promotion would
// pick from that origin (pipeline.Candidate) and replaced by spec.freight;
// the Freight must be available to the Stage (pipeline.Availability: from
// its Warehouse directly, verified and soaked upstream, or approved);
// promotion to spec.target is refused as not supported yet; the Stage must
// exist and have promotion steps; the name is generated; the Stage's vars,
// then its template's vars, and its template's steps are copied into the
// spec, with steps that reference a (Cluster)PromotionTask replaced by the
// task's steps; the creator is recorded in the create-actor annotation, and
// for a user (not Caravan itself) the auto-promotion candidate of the
// Freight's origin at that moment in AnnotationKeyAutoPromotionCandidate,
// from which the Stage controller places and lifts auto-promotion holds; the
// Promotion is owned by its Stage and carries the Stage's shard label. On
// update the spec and both annotations do not change.
func admitPromotion(ctx context.Context, r *request, old, p *kargoapi.Promotion) (field.ErrorList, error) {
	kargoapi.SetDefaults(p)
	if r.op == Update {
		return updatePromotion(r, old, p), nil
	}
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if p.Spec.Target != nil {
		errs = append(errs, field.Forbidden(spec.Child("target"),
			"promotion to a Target is not supported yet: remove spec.target and promote into a Stage"))
	}
	if p.Spec.Freight == "" && p.Spec.Origin == nil {
		errs = append(errs, field.Required(spec.Child("freight"),
			"set it to the name or alias of the Freight to promote, or set spec.origin to promote the newest "+
				"Freight of that origin available to the Stage"))
	}
	if p.Spec.Stage == "" {
		errs = append(errs, field.Required(spec.Child("stage"), "set it to the name of the Stage to promote into"))
	}
	if len(errs) > 0 {
		return errs, nil
	}
	if p.Name == "" {
		// The name it would get, so that a refusal names a Promotion rather
		// than adding "metadata.name: Required value" to the reasons.
		p.Name = promotionName(p.Spec.Stage, orString(p.Spec.Freight, "origin"))
	}

	stage, serrs, err := promotionStage(ctx, r, p)
	if err != nil || len(serrs) > 0 {
		return serrs, err
	}
	now := r.opts.Clock.Now()
	var freight *kargoapi.Freight
	var ferrs field.ErrorList
	if p.Spec.Freight == "" {
		freight, ferrs, err = promotionByOrigin(ctx, r, stage, *p.Spec.Origin, now)
		if err != nil || len(ferrs) > 0 {
			return ferrs, err
		}
		p.Spec.Origin = nil
	} else {
		freight, ferrs, err = promotionFreight(ctx, r, p)
		if err != nil || len(ferrs) > 0 {
			return ferrs, err
		}
		if d := pipeline.Availability(stage, freight, now); !d.Available {
			return field.ErrorList{field.Invalid(spec.Child("freight"), p.Spec.Freight, unavailableMessage(stage, freight, d))}, nil
		}
	}
	p.Spec.Freight = freight.Name

	p.Name = promotionName(p.Spec.Stage, p.Spec.Freight)
	fromStage := len(p.Spec.Steps) == 0
	copyTemplate(p, stage)
	if terrs, err := inflateTasks(ctx, r, p, fromStage); err != nil || len(terrs) > 0 {
		return terrs, err
	}
	p.Annotations = setKey(p.Annotations, kargoapi.AnnotationKeyCreateActor, formatActor(r.actor))
	p.Annotations = deleteKey(p.Annotations, AnnotationKeyAutoPromotionCandidate)
	if !isControlPlane(r.actor) {
		cand, err := originCandidate(ctx, r, stage, freight.Origin, now)
		if err != nil {
			return nil, err
		}
		if cand != nil {
			p.Annotations = setKey(p.Annotations, AnnotationKeyAutoPromotionCandidate, cand.Name)
		}
	}
	if stage.Spec.Shard != "" {
		p.Labels = setKey(p.Labels, kargoapi.LabelKeyShard, stage.Spec.Shard)
	} else {
		p.Labels = deleteKey(p.Labels, kargoapi.LabelKeyShard)
	}
	p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(stage, kargoapi.GroupVersion.WithKind("Stage"))}
	enrichAbortRequest(r, nil, p)
	return kargoapi.ValidatePromotion(p), nil
}

// updatePromotion keeps the spec, the create-actor annotation and the
// auto-promotion candidate annotation immutable.
func updatePromotion(r *request, old, p *kargoapi.Promotion) field.ErrorList {
	for _, key := range []string{kargoapi.AnnotationKeyCreateActor, AnnotationKeyAutoPromotionCandidate} {
		if v, ok := old.Annotations[key]; ok {
			p.Annotations = setKey(p.Annotations, key, v)
		} else {
			p.Annotations = deleteKey(p.Annotations, key)
		}
	}
	enrichAbortRequest(r, old, p)
	if !apiequality.Semantic.DeepEqual(old.Spec, p.Spec) {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"),
			"a Promotion's spec is immutable: create a new Promotion instead (an unfinished one can be aborted with the "+
				kargoapi.AnnotationKeyAbort+" annotation)")}
	}
	return nil
}

// promotionStage returns the Stage the Promotion names, which must exist and
// have promotion steps.
func promotionStage(ctx context.Context, r *request, p *kargoapi.Promotion) (*kargoapi.Stage, field.ErrorList, error) {
	stagePath := field.NewPath("spec", "stage")
	u, err := r.lk.Get(ctx, "Stage", p.Namespace, p.Spec.Stage)
	if apierrors.IsNotFound(err) {
		return nil, field.ErrorList{notFound(stagePath, p.Spec.Stage, fmt.Sprintf(
			"Stage %q does not exist in project %q: create it first, or correct spec.stage", p.Spec.Stage, p.Namespace))}, nil
	}
	if err != nil {
		return nil, nil, internalError("get stage %q: %v", p.Spec.Stage, err)
	}
	var stage kargoapi.Stage
	if err := decodeLenient(u, &stage); err != nil {
		return nil, nil, internalError("decode stage %q: %v", p.Spec.Stage, err)
	}
	if stage.Spec.PromotionTemplate == nil || len(stage.Spec.PromotionTemplate.Spec.Steps) == 0 {
		return nil, field.ErrorList{field.Invalid(stagePath, p.Spec.Stage, fmt.Sprintf(
			"Stage %q has no promotion steps: add spec.promotionTemplate.spec.steps to the Stage before promoting into it",
			p.Spec.Stage))}, nil
	}
	return &stage, nil, nil
}

// inflateTasks replaces the Promotion's steps that reference a
// (Cluster)PromotionTask with the task's steps (promotion.InflateSteps), so
// the stored Promotion carries the steps it runs. PromotionTasks are read
// from the Promotion's project, ClusterPromotionTasks cluster-wide.
// fromStage says whether the steps were copied from the Stage, which decides
// the field an error names.
func inflateTasks(ctx context.Context, r *request, p *kargoapi.Promotion, fromStage bool) (field.ErrorList, error) {
	hasTask := false
	for _, s := range p.Spec.Steps {
		hasTask = hasTask || s.Task != nil
	}
	if !hasTask {
		return nil, nil
	}
	var storeErr error
	getTask := func(ctx context.Context, kind, name string) (*kargoapi.PromotionTaskSpec, error) {
		ns := p.Namespace
		if kind == kargoapi.PromotionTaskKindClusterPromotionTask {
			ns = ""
		}
		u, err := r.lk.Get(ctx, kind, ns, name)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			storeErr = err
			return nil, err
		}
		var spec struct {
			Spec kargoapi.PromotionTaskSpec `json:"spec"`
		}
		if err := decodeLenient(u, &spec); err != nil {
			storeErr = err
			return nil, err
		}
		return &spec.Spec, nil
	}
	steps, err := promotion.InflateSteps(ctx, p.Spec.Steps, getTask, p.Spec.Vars...)
	if storeErr != nil {
		return nil, internalError("inflate promotion tasks: %v", storeErr)
	}
	var terr *promotion.TaskError
	if errors.As(err, &terr) {
		if fromStage {
			return field.ErrorList{field.Invalid(field.NewPath("spec", "stage"), p.Spec.Stage, fmt.Sprintf(
				"Stage %q: spec.promotionTemplate.spec.steps[%d] runs %s %q, which cannot be inflated: %v",
				p.Spec.Stage, terr.Index, terr.Kind, terr.Name, terr.Err))}, nil
		}
		return field.ErrorList{field.Invalid(field.NewPath("spec", "steps").Index(terr.Index).Child("task"), terr.Name,
			fmt.Sprintf("%s %q cannot be inflated: %v", terr.Kind, terr.Name, terr.Err))}, nil
	}
	if err != nil {
		return nil, internalError("inflate promotion tasks: %v", err)
	}
	p.Spec.Steps = steps
	return nil, nil
}

// promotionFreight resolves spec.freight, a Freight name or alias, to the
// Freight.
func promotionFreight(ctx context.Context, r *request, p *kargoapi.Promotion) (*kargoapi.Freight, field.ErrorList, error) {
	freightPath := field.NewPath("spec", "freight")
	u, err := r.lk.Get(ctx, "Freight", p.Namespace, p.Spec.Freight)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, internalError("get freight %q: %v", p.Spec.Freight, err)
	}
	if err != nil {
		byAlias, err := freightByAlias(ctx, r.lk, p.Namespace, p.Spec.Freight)
		if err != nil {
			return nil, nil, err
		}
		if len(byAlias) != 1 {
			return nil, field.ErrorList{notFound(freightPath, p.Spec.Freight, fmt.Sprintf(
				"no Freight named or aliased %q exists in project %q: set spec.freight to an existing Freight's name or alias",
				p.Spec.Freight, p.Namespace))}, nil
		}
		u = &byAlias[0]
	}
	f := &kargoapi.Freight{}
	if err := decodeLenient(u, f); err != nil {
		return nil, nil, internalError("decode freight %q: %v", u.GetName(), err)
	}
	return f, nil, nil
}

// promotionName returns "<stage>.<ULID>.<freight[:7]>" in lowercase, the
// stage part shortened (without a trailing '-' or '.') so that the whole name
// fits in 253 characters.
func promotionName(stage, freight string) string {
	short := freight
	if len(short) > promotionShortFreight {
		short = short[:promotionShortFreight]
	}
	id := ulid.Make().String()
	maxStage := promotionNameMax - len(id) - len(short) - 2
	if len(stage) > maxStage {
		stage = strings.TrimRight(stage[:maxStage], "-.")
	}
	return strings.ToLower(stage + "." + id + "." + short)
}

// copyTemplate copies the Stage's vars, then its template's vars, ahead of
// any vars the manifest gives (dropping exact duplicates of copied ones, so
// that re-applying an exported Promotion does not double them), and the
// template's steps when the manifest gives none.
func copyTemplate(p *kargoapi.Promotion, stage *kargoapi.Stage) {
	tmpl := stage.Spec.PromotionTemplate.Spec
	vars := make([]kargoapi.ExpressionVariable, 0, len(stage.Spec.Vars)+len(tmpl.Vars)+len(p.Spec.Vars))
	vars = append(vars, stage.Spec.Vars...)
	vars = append(vars, tmpl.Vars...)
	copied := make(map[kargoapi.ExpressionVariable]bool, len(vars))
	for _, v := range vars {
		copied[v] = true
	}
	for _, v := range p.Spec.Vars {
		if !copied[v] {
			vars = append(vars, v)
		}
	}
	if len(vars) == 0 {
		vars = nil
	}
	p.Spec.Vars = vars
	if len(p.Spec.Steps) == 0 {
		p.Spec.Steps = append([]kargoapi.PromotionStep(nil), tmpl.Steps...)
	}
}

// enrichAbortRequest records who asked, when the Promotion's abort annotation
// is new or changed: the actor, or controlPlane for Caravan itself.
func enrichAbortRequest(r *request, old, p *kargoapi.Promotion) {
	v, ok := p.Annotations[kargoapi.AnnotationKeyAbort]
	if !ok {
		return
	}
	req, ok := kargoapi.ParseAbortPromotionRequest(v)
	if !ok {
		return
	}
	if old != nil {
		if ov, had := old.Annotations[kargoapi.AnnotationKeyAbort]; had {
			if oreq, ok := kargoapi.ParseAbortPromotionRequest(ov); ok && oreq == req {
				return
			}
		}
	}
	req.ControlPlane = isControlPlane(r.actor)
	if !req.ControlPlane {
		req.Actor = formatActor(r.actor)
	}
	p.Annotations[kargoapi.AnnotationKeyAbort] = marshalAnnotation(req, v)
}

// AnnotationKeyAutoPromotionCandidate records on a Promotion a user made
// which Freight auto-promotion would have promoted into the Stage from the
// same origin when the Promotion was admitted (absent when there was no
// candidate). The Stage controller places an auto-promotion hold when the
// promoted Freight differs from it and lifts the hold when it is the same
// (pipeline.ApplyManualPromotion), so the hold reflects the moment of the
// user's choice, not a later one.
const AnnotationKeyAutoPromotionCandidate = "caravan.akuity.io/auto-promotion-candidate"

// unavailableMessage explains why freight may not be promoted into stage,
// and what would change that.
func unavailableMessage(stage *kargoapi.Stage, freight *kargoapi.Freight, d pipeline.Decision) string {
	msg := d.Reason
	requested := false
	for _, req := range stage.Spec.RequestedFreight {
		requested = requested || req.Origin == freight.Origin
	}
	if !requested {
		return msg + "; promote Freight of an origin the Stage requests, or add this origin to its spec.requestedFreight"
	}
	ref := freight.Alias
	if ref == "" {
		ref = freight.Name
	}
	if d.Wait > 0 {
		msg += "; wait until it has soaked"
	} else {
		msg += "; promote it through the upstream Stages first"
	}
	return msg + fmt.Sprintf(", or approve it for Stage %q (caravan approve --project %s --freight %s --stage %s)",
		stage.Name, stage.Namespace, ref, stage.Name)
}

// promotionByOrigin resolves a Promotion by origin to the Freight
// auto-promotion would pick from origin for stage at now.
func promotionByOrigin(ctx context.Context, r *request, stage *kargoapi.Stage, origin kargoapi.FreightOrigin,
	now time.Time) (*kargoapi.Freight, field.ErrorList, error) {
	originPath := field.NewPath("spec", "origin")
	if origin.Kind == "" {
		origin.Kind = kargoapi.FreightOriginKindWarehouse
	}
	cand, reason, err := candidateFor(ctx, r, stage, origin, now)
	if err != nil {
		return nil, nil, err
	}
	if cand != nil {
		return cand, nil, nil
	}
	lead := fmt.Sprintf("no Freight from %s %q is available to Stage %q", origin.Kind, origin.Name, stage.Name)
	if !strings.HasPrefix(reason, "no Freight from ") {
		reason = lead + ": " + reason
	}
	return nil, field.ErrorList{field.Invalid(originPath, origin.String(), reason)}, nil
}

// originCandidate returns the auto-promotion candidate of origin for stage at
// now, or nil when there is none (or the Stage does not request origin).
func originCandidate(ctx context.Context, r *request, stage *kargoapi.Stage, origin kargoapi.FreightOrigin,
	now time.Time) (*kargoapi.Freight, error) {
	requested := false
	for _, req := range stage.Spec.RequestedFreight {
		requested = requested || req.Origin == origin
	}
	if !requested {
		return nil, nil
	}
	cand, _, err := candidateFor(ctx, r, stage, origin, now)
	return cand, err
}

// candidateFor reads the Freight of origin (and, for selectionPolicy
// MatchUpstream, the upstream Stage) and returns pipeline.Candidate's answer.
func candidateFor(ctx context.Context, r *request, stage *kargoapi.Stage, origin kargoapi.FreightOrigin,
	now time.Time) (*kargoapi.Freight, string, error) {
	sel := fields.AndSelectors(
		fields.OneTermEqualSelector("origin.kind", string(origin.Kind)),
		fields.OneTermEqualSelector("origin.name", origin.Name),
	)
	list, err := r.lk.List(ctx, "Freight", stage.Namespace, store.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, "", internalError("list freight of %s: %v", origin.String(), err)
	}
	freight := make([]kargoapi.Freight, len(list.Items))
	for i := range list.Items {
		if err := decodeLenient(&list.Items[i], &freight[i]); err != nil {
			return nil, "", internalError("decode freight %q: %v", list.Items[i].GetName(), err)
		}
	}
	upstream := map[string]*kargoapi.Stage{}
	for _, req := range stage.Spec.RequestedFreight {
		opts := req.Sources.AutoPromotionOptions
		if req.Origin != origin || opts == nil || opts.SelectionPolicy != kargoapi.AutoPromotionSelectionPolicyMatchUpstream {
			continue
		}
		for _, name := range req.Sources.Stages {
			u, err := r.lk.Get(ctx, "Stage", stage.Namespace, name)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, "", internalError("get stage %q: %v", name, err)
			}
			up := &kargoapi.Stage{}
			if err := decodeLenient(u, up); err != nil {
				return nil, "", internalError("decode stage %q: %v", name, err)
			}
			upstream[name] = up
		}
	}
	cand, reason := pipeline.Candidate(stage, origin, freight, upstream, now)
	return cand, reason, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
