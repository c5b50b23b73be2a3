package admission

import (
	"context"
	"encoding/json"

	"k8s.io/apimachinery/pkg/util/validation/field"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// admitProject: a DNS-1123 label that is not one of the reserved namespaces.
func admitProject(_ context.Context, r *request, _, p *kargoapi.Project) (field.ErrorList, error) {
	var errs field.ErrorList
	if r.op == Create && r.opts.reserved(p.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), p.Name,
			"this name is reserved for the namespace of shared Secrets and ConfigMaps: choose another project name"))
	}
	if !r.ratchet {
		errs = append(errs, kargoapi.ValidateProject(p)...)
	}
	return errs, nil
}

// admitProjectConfig: named after its project, plus the pure rules.
func admitProjectConfig(_ context.Context, r *request, _, pc *kargoapi.ProjectConfig) (field.ErrorList, error) {
	kargoapi.SetDefaults(pc)
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidateProjectConfig(pc), nil
}

// admitClusterConfig: named "cluster", plus the pure rules.
func admitClusterConfig(_ context.Context, r *request, _, cc *kargoapi.ClusterConfig) (field.ErrorList, error) {
	kargoapi.SetDefaults(cc)
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidateClusterConfig(cc), nil
}

// admitWarehouse applies defaults, keeps the shard label in sync with
// spec.shard, and runs the pure rules.
func admitWarehouse(_ context.Context, r *request, _, w *kargoapi.Warehouse) (field.ErrorList, error) {
	kargoapi.SetDefaults(w)
	w.Labels = syncShard(w.Labels, w.Spec.Shard)
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidateWarehouse(w), nil
}

// admitStage applies defaults, keeps the shard label in sync with
// spec.shard, records who asked in new reverify and abort annotations, and
// runs the pure rules.
func admitStage(_ context.Context, r *request, old, s *kargoapi.Stage) (field.ErrorList, error) {
	kargoapi.SetDefaults(s)
	s.Labels = syncShard(s.Labels, s.Spec.Shard)
	var oldAnn map[string]string
	if old != nil {
		oldAnn = old.Annotations
	}
	enrichVerificationRequest(r, oldAnn, s.Annotations, kargoapi.AnnotationKeyReverify)
	enrichVerificationRequest(r, oldAnn, s.Annotations, kargoapi.AnnotationKeyAbort)
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidateStage(s), nil
}

func admitPromotionTask(_ context.Context, r *request, _, t *kargoapi.PromotionTask) (field.ErrorList, error) {
	kargoapi.SetDefaults(t)
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidatePromotionTask(t), nil
}

func admitClusterPromotionTask(_ context.Context, r *request, _, t *kargoapi.ClusterPromotionTask) (field.ErrorList, error) {
	kargoapi.SetDefaults(t)
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidateClusterPromotionTask(t), nil
}

func admitTarget(_ context.Context, r *request, _, t *kargoapi.Target) (field.ErrorList, error) {
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidateTarget(t), nil
}

func admitPromotionRequest(_ context.Context, r *request, _, pr *kargoapi.PromotionRequest) (field.ErrorList, error) {
	if r.ratchet {
		return nil, nil
	}
	return kargoapi.ValidatePromotionRequest(pr), nil
}

// syncShard mirrors spec.shard to the kargo.akuity.io/shard label, as Kargo's
// webhooks do.
func syncShard(labels map[string]string, shard string) map[string]string {
	if shard != "" {
		return setKey(labels, kargoapi.LabelKeyShard, shard)
	}
	return deleteKey(labels, kargoapi.LabelKeyShard)
}

// enrichVerificationRequest records who asked in a Stage's reverify or abort
// annotation when it is new or changed, in Kargo's JSON form.
func enrichVerificationRequest(r *request, oldAnn, ann map[string]string, key string) {
	v, ok := ann[key]
	if !ok {
		return
	}
	req, ok := kargoapi.ParseVerificationRequest(v)
	if !ok {
		return
	}
	if ov, had := oldAnn[key]; had {
		if oreq, ok := kargoapi.ParseVerificationRequest(ov); ok && oreq == req {
			return
		}
	}
	req.ControlPlane = isControlPlane(r.actor)
	if !req.ControlPlane {
		req.Actor = formatActor(r.actor)
	}
	ann[key] = marshalAnnotation(req, v)
}

// marshalAnnotation encodes an annotation's JSON form, keeping the written
// value if that fails.
func marshalAnnotation(v any, written string) string {
	b, err := json.Marshal(v)
	if err != nil {
		return written
	}
	return string(b)
}

// handlers maps each kind to its admission.
var handlers = map[string]handler{
	"Project":                 typedHandler(admitProject),
	"ProjectConfig":           typedHandler(admitProjectConfig),
	"ClusterConfig":           typedHandler(admitClusterConfig),
	"Warehouse":               typedHandler(admitWarehouse),
	"Freight":                 typedHandler(admitFreight),
	"Stage":                   typedHandler(admitStage),
	"Promotion":               typedHandler(admitPromotion),
	"PromotionTask":           typedHandler(admitPromotionTask),
	"ClusterPromotionTask":    typedHandler(admitClusterPromotionTask),
	"Target":                  typedHandler(admitTarget),
	"PromotionRequest":        typedHandler(admitPromotionRequest),
	"AnalysisTemplate":        typedHandler(admitAnalysisTemplate),
	"ClusterAnalysisTemplate": typedHandler(admitClusterAnalysisTemplate),
	"AnalysisRun":             typedHandler(admitAnalysisRun),
	"Secret":                  typedHandler(admitSecret),
	"ConfigMap":               typedHandler(admitConfigMap),
	"Event":                   typedHandler(admitEvent),
}
