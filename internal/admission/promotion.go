package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/oklog/ulid/v2"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion"
)

// Promotion names are "<stage>.<ULID>.<first 7 characters of the Freight>",
// lowercase, at most 253 characters.
const (
	promotionNameMax      = 253
	promotionShortFreight = 7
)

// admitPromotion: on create, spec.freight must name existing Freight (by
// name, or by alias, which is replaced by the name); promotion by
// spec.origin and to spec.target is refused as not supported yet; the Stage
// must exist and have promotion steps; the name is generated; the Stage's
// vars, then its template's vars, and its template's steps are copied into
// the spec, with steps that reference a (Cluster)PromotionTask replaced by
// the task's steps; the creator is recorded in the create-actor annotation; the
// Promotion is owned by its Stage and carries the Stage's shard label. On
// update the spec and the create-actor annotation do not change.
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
	if p.Spec.Freight == "" {
		if p.Spec.Origin != nil {
			errs = append(errs, field.Forbidden(spec.Child("origin"),
				"promotion by origin is not supported yet: set spec.freight to the name or alias of the Freight to promote"))
		} else {
			errs = append(errs, field.Required(spec.Child("freight"),
				"set it to the name or alias of the Freight to promote"))
		}
	}
	if p.Spec.Stage == "" {
		errs = append(errs, field.Required(spec.Child("stage"), "set it to the name of the Stage to promote into"))
	}
	if len(errs) > 0 {
		return errs, nil
	}

	stage, serrs, err := promotionStage(ctx, r, p)
	if err != nil || len(serrs) > 0 {
		return serrs, err
	}
	freight, ferrs, err := promotionFreight(ctx, r, p)
	if err != nil || len(ferrs) > 0 {
		return ferrs, err
	}
	p.Spec.Freight = freight

	p.Name = promotionName(p.Spec.Stage, p.Spec.Freight)
	fromStage := len(p.Spec.Steps) == 0
	copyTemplate(p, stage)
	if terrs, err := inflateTasks(ctx, r, p, fromStage); err != nil || len(terrs) > 0 {
		return terrs, err
	}
	p.Annotations = setKey(p.Annotations, kargoapi.AnnotationKeyCreateActor, formatActor(r.actor))
	if stage.Spec.Shard != "" {
		p.Labels = setKey(p.Labels, kargoapi.LabelKeyShard, stage.Spec.Shard)
	} else {
		p.Labels = deleteKey(p.Labels, kargoapi.LabelKeyShard)
	}
	p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(stage, kargoapi.GroupVersion.WithKind("Stage"))}
	enrichAbortRequest(r, nil, p)
	return kargoapi.ValidatePromotion(p), nil
}

// updatePromotion keeps the spec and create-actor annotation immutable.
func updatePromotion(r *request, old, p *kargoapi.Promotion) field.ErrorList {
	if v, ok := old.Annotations[kargoapi.AnnotationKeyCreateActor]; ok {
		p.Annotations = setKey(p.Annotations, kargoapi.AnnotationKeyCreateActor, v)
	} else {
		p.Annotations = deleteKey(p.Annotations, kargoapi.AnnotationKeyCreateActor)
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
// Freight's name.
func promotionFreight(ctx context.Context, r *request, p *kargoapi.Promotion) (string, field.ErrorList, error) {
	freightPath := field.NewPath("spec", "freight")
	_, err := r.lk.Get(ctx, "Freight", p.Namespace, p.Spec.Freight)
	if err == nil {
		return p.Spec.Freight, nil, nil
	}
	if !apierrors.IsNotFound(err) {
		return "", nil, internalError("get freight %q: %v", p.Spec.Freight, err)
	}
	byAlias, err := freightByAlias(ctx, r.lk, p.Namespace, p.Spec.Freight)
	if err != nil {
		return "", nil, err
	}
	if len(byAlias) == 1 {
		return byAlias[0].GetName(), nil, nil
	}
	return "", field.ErrorList{notFound(freightPath, p.Spec.Freight, fmt.Sprintf(
		"no Freight named or aliased %q exists in project %q: set spec.freight to an existing Freight's name or alias",
		p.Spec.Freight, p.Namespace))}, nil
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
