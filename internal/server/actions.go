package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/pipeline"
	"github.com/caravan-dev/caravan/internal/store"
)

// Action paths: POSTs to a verb under an object, for the actions whose
// outcome the server must compute (DESIGN.md §2). Plain writes (refresh,
// abort, reverify annotations) need none.
//
//	POST /apis/kargo.akuity.io/v1alpha1/namespaces/{project}/freights/{name}/approve
//	     {"stage": S}: records the Freight (named by name or alias) as
//	     approved for Stage S in status.approvedFor, with a FreightApproved
//	     Event carrying the actor; answers the Freight.
//	POST /apis/kargo.akuity.io/v1alpha1/namespaces/{project}/stages/{name}/promote-downstream
//	     {"freight": F}: promotes Freight F (name or alias), verified in the
//	     Stage, into every Stage immediately downstream of it that requests
//	     F's origin and to which F is available; answers a
//	     PromoteDownstreamResult.
const (
	ActionApprove           = "approve"
	ActionPromoteDownstream = "promote-downstream"
)

// Event reasons of the actions, Kargo's.
const (
	EventReasonFreightApproved  = "FreightApproved"
	EventReasonPromotionCreated = "PromotionCreated"
)

// actionComponent names the API server in the Events it emits.
const actionComponent = "api-server"

// maxActionAttempts bounds the read-modify-write retries of an approval.
const maxActionAttempts = 5

// PromoteDownstreamResult answers promote-downstream: the Promotions
// created, and the downstream Stages skipped with the reason.
type PromoteDownstreamResult struct {
	// Promotions are the Promotions created, as stored.
	Promotions []map[string]any `json:"promotions"`
	// Skipped are the downstream Stages no Promotion was created for.
	Skipped []SkippedStage `json:"skipped"`
}

// SkippedStage is a downstream Stage promote-downstream did not promote.
type SkippedStage struct {
	Stage  string `json:"stage"`
	Reason string `json:"reason"`
}

// serveAction serves an action path and reports whether the path was one.
func (s *Server) serveAction(w http.ResponseWriter, r *http.Request) bool {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	info := kinds.ByKind("Stage")
	if len(segs) != 8 || segs[0] != "apis" || segs[1] != info.Group || segs[2] != info.Version || segs[3] != "namespaces" {
		return false
	}
	ns, resource, name, action := segs[4], segs[5], segs[6], segs[7]
	var serve func(context.Context, string, string, map[string]any) (int, any, error)
	var field string
	switch {
	case resource == kinds.ByKind("Freight").Resource && action == ActionApprove:
		serve, field = s.approve, "stage"
	case resource == info.Resource && action == ActionPromoteDownstream:
		serve, field = s.promoteDownstream, "freight"
	default:
		return false
	}
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w, r, "POST", "an action")
		return true
	}
	body, err := s.actionBody(w, r, action, field)
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	code, out, err := serve(r.Context(), ns, name, body)
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	writeJSON(w, code, out)
	return true
}

// actionBody reads an action's body: a JSON (or YAML) object whose only
// key is field, a non-empty string.
func (s *Server) actionBody(w http.ResponseWriter, r *http.Request, action, field string) (map[string]any, error) {
	usage := fmt.Sprintf(`the body of %s is {"%s": "<name>"}`, action, field)
	b, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	v, err := decodeValue(b)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error() + ": " + usage)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, apierrors.NewBadRequest(usage)
	}
	for k := range m {
		if k != field {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unknown field %q: %s", k, usage))
		}
	}
	if str, _ := m[field].(string); str == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s is missing or empty: %s", field, usage))
	}
	return m, nil
}

// approve records Freight as approved for a Stage (Kargo's ApproveFreight):
// a status write of approvedFor[stage], and a FreightApproved Event with the
// actor. Approving again changes nothing.
func (s *Server) approve(ctx context.Context, ns, ref string, body map[string]any) (int, any, error) {
	stageName := body["stage"].(string)
	stage, err := s.typedStage(ctx, ns, stageName)
	if err != nil {
		return 0, nil, err
	}
	for attempt := 1; ; attempt++ {
		obj, f, err := s.freightByRef(ctx, ns, ref)
		if err != nil {
			return 0, nil, err
		}
		if !requests(stage, f.Origin) {
			return 0, nil, unprocessable("Freight", f.Name, fmt.Sprintf("Stage %q does not request Freight from %s %q, so "+
				"approving Freight %q for it would change nothing: approve Freight of an origin the Stage requests",
				stageName, f.Origin.Kind, f.Origin.Name, f.Name))
		}
		if !pipeline.RecordApproved(f, stageName, time.Now()) {
			return http.StatusOK, obj.Object, nil
		}
		raw, err := json.Marshal(f.Status)
		if err != nil {
			return 0, nil, fmt.Errorf("encode status of freight %s: %w", f.Name, err)
		}
		var status map[string]any
		if err := json.Unmarshal(raw, &status); err != nil {
			return 0, nil, fmt.Errorf("encode status of freight %s: %w", f.Name, err)
		}
		obj.Object["status"] = status
		out, err := s.store.UpdateStatus(ctx, obj)
		if apierrors.IsConflict(err) && attempt < maxActionAttempts {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		actor := actorName(ctx)
		ann := map[string]string{
			kargoapi.AnnotationKeyEventProject:           ns,
			kargoapi.AnnotationKeyEventFreightName:       f.Name,
			kargoapi.AnnotationKeyEventFreightAlias:      f.Alias,
			kargoapi.AnnotationKeyEventFreightCreateTime: f.CreationTimestamp.UTC().Format(time.RFC3339),
			kargoapi.AnnotationKeyEventStageName:         stageName,
			kargoapi.AnnotationKeyEventActor:             actor,
		}
		msg := fmt.Sprintf("Freight approved for Stage %q by %q", stageName, actor)
		if err := s.emitEvent(ctx, out, f.Name+"."+stageName, EventReasonFreightApproved, msg, ann); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, out.Object, nil
	}
}

// promoteDownstream promotes Freight verified in a Stage into the Stages
// immediately downstream of it (Kargo's PromoteDownstream), skipping
// control-flow Stages and those to which the Freight is not available.
func (s *Server) promoteDownstream(ctx context.Context, ns, stageName string, body map[string]any) (int, any, error) {
	if _, err := s.typedStage(ctx, ns, stageName); err != nil {
		return 0, nil, err
	}
	_, f, err := s.freightByRef(ctx, ns, body["freight"].(string))
	if err != nil {
		return 0, nil, err
	}
	if !pipeline.VerifiedIn(f, stageName) {
		return 0, nil, unprocessable("Stage", stageName, fmt.Sprintf("Freight %q is not verified in Stage %q, so it "+
			"cannot be promoted downstream from it: promote it into %q first and let it be verified there, or approve it "+
			"for the downstream Stages (caravan approve)", f.Name, stageName, stageName))
	}
	list, err := s.store.List(ctx, "Stage", ns, store.ListOptions{})
	if err != nil {
		return 0, nil, err
	}
	stages := make([]kargoapi.Stage, len(list.Items))
	for i := range list.Items {
		if err := decodeTyped(&list.Items[i], &stages[i]); err != nil {
			return 0, nil, err
		}
	}
	var downstream []*kargoapi.Stage
	for _, name := range pipeline.Downstream(stages, stageName) {
		i := slices.IndexFunc(stages, func(st kargoapi.Stage) bool { return st.Name == name })
		st := &stages[i]
		for _, req := range st.Spec.RequestedFreight {
			if req.Origin == f.Origin && slices.Contains(req.Sources.Stages, stageName) {
				downstream = append(downstream, st)
				break
			}
		}
	}
	if len(downstream) == 0 {
		return 0, nil, notFoundMsg("stages", stageName, fmt.Sprintf("no Stage downstream of %q requests Freight from %s %q "+
			"from it: nothing to promote (list %q under a Stage's requestedFreight sources.stages to make it downstream)",
			stageName, f.Origin.Kind, f.Origin.Name, stageName))
	}
	res := PromoteDownstreamResult{Promotions: []map[string]any{}, Skipped: []SkippedStage{}}
	now := time.Now()
	for _, st := range downstream {
		if pipeline.IsControlFlow(st) {
			res.Skipped = append(res.Skipped, SkippedStage{Stage: st.Name, Reason: fmt.Sprintf("Stage %q is a control-flow "+
				"Stage (it has no promotion steps): Freight verified upstream passes through it on its own", st.Name)})
			continue
		}
		if d := pipeline.Availability(st, f, now); !d.Available {
			res.Skipped = append(res.Skipped, SkippedStage{Stage: st.Name, Reason: d.Reason})
			continue
		}
		created, err := s.createPromotion(ctx, ns, st.Name, f)
		var status apierrors.APIStatus
		switch {
		case err == nil:
			res.Promotions = append(res.Promotions, created.Object)
		case errors.As(err, &status) && status.Status().Code < http.StatusInternalServerError:
			res.Skipped = append(res.Skipped, SkippedStage{Stage: st.Name, Reason: status.Status().Message})
		default:
			return 0, nil, err
		}
	}
	return http.StatusOK, res, nil
}

// createPromotion creates a Promotion of f into stage as the caller, with a
// PromotionCreated Event.
func (s *Server) createPromotion(ctx context.Context, ns, stage string, f *kargoapi.Freight) (*unstructured.Unstructured, error) {
	info := kinds.ByKind("Promotion")
	created, err := s.store.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": info.APIVersion(),
		"kind":       info.Kind,
		"metadata":   map[string]any{"namespace": ns},
		"spec":       map[string]any{"stage": stage, "freight": f.Name},
	}})
	if err != nil {
		return nil, err
	}
	actor := actorName(ctx)
	ann := map[string]string{
		kargoapi.AnnotationKeyEventActor:               actor,
		kargoapi.AnnotationKeyEventProject:             ns,
		kargoapi.AnnotationKeyEventPromotionName:       created.GetName(),
		kargoapi.AnnotationKeyEventPromotionCreateTime: created.GetCreationTimestamp().UTC().Format(time.RFC3339),
		kargoapi.AnnotationKeyEventFreightName:         f.Name,
		kargoapi.AnnotationKeyEventFreightAlias:        f.Alias,
		kargoapi.AnnotationKeyEventStageName:           stage,
	}
	msg := fmt.Sprintf("Promotion created for Stage %q by %q", stage, actor)
	if err := s.emitEvent(ctx, created, created.GetName(), EventReasonPromotionCreated, msg, ann); err != nil {
		return nil, err
	}
	return created, nil
}

// typedStage reads a Stage: 404 with a hint when it does not exist.
func (s *Server) typedStage(ctx context.Context, ns, name string) (*kargoapi.Stage, error) {
	obj, err := s.store.Get(ctx, "Stage", ns, name)
	if apierrors.IsNotFound(err) {
		return nil, notFoundMsg("stages", name, fmt.Sprintf("Stage %q does not exist in project %q: see the Stages with "+
			"`caravan get stages -p %s`", name, ns, ns))
	}
	if err != nil {
		return nil, err
	}
	st := &kargoapi.Stage{}
	if err := decodeTyped(obj, st); err != nil {
		return nil, err
	}
	return st, nil
}

// freightByRef reads Freight by name, else by alias: 404 with a hint when
// neither exists.
func (s *Server) freightByRef(ctx context.Context, ns, ref string) (*unstructured.Unstructured, *kargoapi.Freight, error) {
	obj, err := s.store.Get(ctx, "Freight", ns, ref)
	if apierrors.IsNotFound(err) {
		list, lerr := s.store.List(ctx, "Freight", ns, store.ListOptions{FieldSelector: fields.OneTermEqualSelector("alias", ref)})
		if lerr != nil {
			return nil, nil, lerr
		}
		if len(list.Items) != 1 {
			return nil, nil, notFoundMsg("freights", ref, fmt.Sprintf("no Freight named or aliased %q exists in project %q: "+
				"see the Freight with `caravan get freight -p %s`", ref, ns, ns))
		}
		obj, err = &list.Items[0], nil
	}
	if err != nil {
		return nil, nil, err
	}
	f := &kargoapi.Freight{}
	if err := decodeTyped(obj, f); err != nil {
		return nil, nil, err
	}
	return obj, f, nil
}

// emitEvent creates a v1 Event about obj; about names what it reports, so
// that the same action repeated does not emit twice.
func (s *Server) emitEvent(ctx context.Context, obj *unstructured.Unstructured, about, reason, message string, ann map[string]string) error {
	annotations := make(map[string]any, len(ann))
	for k, v := range ann {
		if v != "" {
			annotations[k] = v
		}
	}
	suffix := "." + strings.ToLower(reason)
	if len(about)+len(suffix) > 253 {
		about = strings.TrimRight(about[:253-len(suffix)], ".-")
	}
	now := time.Now().UTC().Format(time.RFC3339)
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Event",
		"metadata":   map[string]any{"name": about + suffix, "namespace": obj.GetNamespace(), "annotations": annotations},
		"involvedObject": map[string]any{
			"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "namespace": obj.GetNamespace(),
			"name": obj.GetName(), "uid": string(obj.GetUID()), "resourceVersion": obj.GetResourceVersion(),
		},
		"reason":             reason,
		"message":            message,
		"type":               "Normal",
		"source":             map[string]any{"component": actionComponent},
		"reportingComponent": actionComponent,
		"reportingInstance":  "caravan",
		"firstTimestamp":     now,
		"lastTimestamp":      now,
		"count":              int64(1),
	}}
	if _, err := s.store.Create(ctx, ev); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create event %s: %w", about+suffix, err)
	}
	return nil
}

// requests reports whether the Stage requests Freight of origin.
func requests(stage *kargoapi.Stage, origin kargoapi.FreightOrigin) bool {
	return slices.ContainsFunc(stage.Spec.RequestedFreight, func(r kargoapi.FreightRequest) bool { return r.Origin == origin })
}

// actorName is the caller as Events record it.
func actorName(ctx context.Context) string {
	if a, ok := identity.FromContext(ctx); ok {
		return a.String()
	}
	return ""
}

// notFoundMsg is a 404 NotFound about a resource, with the message as is.
func notFoundMsg(resource, name, msg string) error {
	err := apierrors.NewNotFound(kargoapi.GroupVersion.WithResource(resource).GroupResource(), name)
	err.ErrStatus.Message = msg
	return err
}

// unprocessable is a 422 Invalid about an object, with the message as is.
func unprocessable(kind, name, msg string) error {
	err := apierrors.NewInvalid(kargoapi.GroupVersion.WithKind(kind).GroupKind(), name, nil)
	err.ErrStatus.Message = msg
	return err
}

// decodeTyped decodes a stored object into a typed one.
func decodeTyped(obj *unstructured.Unstructured, into any) error {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("decode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}
