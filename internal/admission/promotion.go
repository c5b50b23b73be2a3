package admission

import (
	"context"
	"fmt"
	"strings"

	"github.com/oklog/ulid/v2"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
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
// the spec; the creator is recorded in the create-actor annotation; the
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
	copyTemplate(p, stage)
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
	for i, step := range stage.Spec.PromotionTemplate.Spec.Steps {
		if step.Task != nil {
			return nil, field.ErrorList{field.Invalid(stagePath, p.Spec.Stage, fmt.Sprintf(
				"step %d of Stage %q runs the task %q, and promoting into Stages whose steps run tasks is not supported yet: "+
					"write the task's steps into the Stage's promotionTemplate", i, p.Spec.Stage, step.Task.Name))}, nil
		}
	}
	return &stage, nil, nil
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
