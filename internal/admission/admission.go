package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"

	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// Operation is the kind of write being admitted.
type Operation string

// Operations, named as in Kubernetes AdmissionReview requests.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Lookup is what admission reads of other objects. store.Store satisfies it;
// in Kubernetes mode an informer-backed reader will.
type Lookup interface {
	// Get returns the object, or a NotFound error.
	Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error)
	// List returns the matching objects.
	List(ctx context.Context, kind, namespace string, opts store.ListOptions) (*unstructured.UnstructuredList, error)
}

// Options configure admission. The zero value is ready to use.
type Options struct {
	// SharedResourcesNamespace is the reserved namespace of Secrets and
	// ConfigMaps that every project may read. Default:
	// kinds.SharedResourcesNamespace.
	SharedResourcesNamespace string
	// SystemResourcesNamespace is the reserved namespace of Secrets and
	// ConfigMaps that cluster-scoped objects reference. Default:
	// kinds.SystemResourcesNamespace.
	SystemResourcesNamespace string
	// Clock tells admission the time, for rules that depend on it (a
	// Promotion's Freight must have soaked upstream). Default: the real
	// clock.
	Clock clock.PassiveClock
}

func (o Options) withDefaults() Options {
	if o.SharedResourcesNamespace == "" {
		o.SharedResourcesNamespace = kinds.SharedResourcesNamespace
	}
	if o.SystemResourcesNamespace == "" {
		o.SystemResourcesNamespace = kinds.SystemResourcesNamespace
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

// Admitter defaults and validates writes without storing them. It is safe
// for concurrent use.
type Admitter struct {
	lookup Lookup
	opts   Options

	randMu sync.Mutex
	rand   *rand.Rand
}

// NewAdmitter returns an Admitter that reads other objects through lookup.
func NewAdmitter(lookup Lookup, opts Options) *Admitter {
	return &Admitter{
		lookup: lookup,
		opts:   opts.withDefaults(),
		rand:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// request is one write being admitted, as the per-kind functions see it.
type request struct {
	op    Operation
	info  *kinds.Info
	actor identity.Actor
	opts  Options
	lk    Lookup
	// ratchet is true for an update that leaves the desired state as stored:
	// pure field validation is skipped for it.
	ratchet bool
	// adm gives per-kind functions the Admitter's random source.
	adm *Admitter
}

// Admit defaults and validates obj for op (Create or Update; old is the
// stored object for Update, nil for Create) and returns the object to store.
// obj is not modified. Errors are apimachinery StatusErrors: 400 for an
// undecodable object, 404 for a missing project, 422 for invalid fields, 403
// or 409 for what other objects forbid.
func (a *Admitter) Admit(ctx context.Context, op Operation, old, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, badRequest("no object given", nil)
	}
	info, err := kindInfo(obj)
	if err != nil {
		return nil, err
	}
	switch op {
	case Create:
		old = nil
	case Update:
		if old == nil {
			return nil, internalError("admit update of %s %q: the stored object is missing", info.Kind, obj.GetName())
		}
	default:
		return nil, internalError("admit %s: unsupported operation %q", info.Kind, op)
	}
	obj = obj.DeepCopy()
	if !info.Namespaced {
		obj.SetNamespace("")
	}
	if op == Create {
		if obj.GetName() == "" && obj.GetGenerateName() != "" && !info.ServerNamed {
			obj.SetName(a.generateName(obj.GetGenerateName()))
		}
		if err := a.checkNamespace(ctx, info, obj.GetNamespace(), obj.GetName()); err != nil {
			return nil, err
		}
	}
	h, ok := handlers[info.Kind]
	if !ok {
		return nil, internalError("admit %s: no admission handler", info.Kind)
	}
	r := &request{op: op, info: info, actor: actorOf(ctx), opts: a.opts, lk: a.lookup, adm: a}
	if op == Update {
		r.ratchet = apiequality.Semantic.DeepEqual(desiredState(obj), desiredState(old))
	}

	typed := h.newTyped()
	if r.ratchet {
		err = decodeLenient(&unstructured.Unstructured{Object: withoutStatus(obj)}, typed)
		if err != nil {
			return nil, badRequest(describeDecodeError(info, obj, err), nil)
		}
	} else if err := decodeStrict(info, obj, typed); err != nil {
		return nil, err
	}
	var oldTyped any
	if old != nil {
		oldTyped = h.newTyped()
		if err := decodeLenient(old, oldTyped); err != nil {
			return nil, internalError("decode stored %s %q: %v", info.Kind, old.GetName(), err)
		}
	}
	errs, err := h.admit(ctx, r, oldTyped, typed)
	if err != nil {
		return nil, err
	}
	out, err := encode(obj, typed)
	if err != nil {
		return nil, internalError("%v", err)
	}
	errs = mergeErrors(validateMeta(info, out), errs)
	if len(errs) > 0 {
		return nil, invalid(info, out.GetName(), errs)
	}
	return out, nil
}

// AdmitDelete reports whether the object may be deleted: nil, or a
// StatusError (403 for Freight in use).
func (a *Admitter) AdmitDelete(ctx context.Context, kind, namespace, name string) error {
	info := kinds.ByKind(kind)
	if info == nil {
		return badRequest(fmt.Sprintf("unknown kind %q", kind), nil)
	}
	if info.Kind == "Freight" {
		return checkFreightDeletable(ctx, a.lookup, info, namespace, name)
	}
	return nil
}

// kindInfo resolves the object's kind and checks its apiVersion.
func kindInfo(obj *unstructured.Unstructured) (*kinds.Info, error) {
	kind := obj.GetKind()
	if kind == "" {
		return nil, badRequest("object has no kind: set kind (e.g. \"Stage\") and apiVersion (e.g. \"kargo.akuity.io/v1alpha1\")", nil)
	}
	info := kinds.ByKind(kind)
	if info == nil {
		return nil, badRequest(fmt.Sprintf("kind %q is not served by Caravan: use one of the Kargo, Argo Rollouts analysis or core kinds (%s)",
			kind, kindList()), nil)
	}
	if av := obj.GetAPIVersion(); av != info.APIVersion() {
		return nil, badRequest(fmt.Sprintf("%s %q has apiVersion %q: set apiVersion to %q", kind, obj.GetName(), av, info.APIVersion()), nil)
	}
	return info, nil
}

func kindList() string {
	names := make([]string, 0, len(kinds.All()))
	for _, k := range kinds.All() {
		names = append(names, k.Kind)
	}
	return strings.Join(names, ", ")
}

// generateName appends five random characters to prefix, as kube-apiserver
// does for metadata.generateName.
func (a *Admitter) generateName(prefix string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	const maxPrefix = 253 - 5
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	a.randMu.Lock()
	defer a.randMu.Unlock()
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[a.rand.IntN(len(alphabet))]
	}
	return prefix + string(b)
}

// withRand runs f with the Admitter's random source.
func (a *Admitter) withRand(f func(r *rand.Rand)) {
	a.randMu.Lock()
	defer a.randMu.Unlock()
	f(a.rand)
}

// handler admits one kind: newTyped allocates its typed struct; admit
// applies defaults, runs validation and cross-object checks, and sets
// server-computed fields on obj (old is nil on create). Field errors are
// returned as a list (answered with 422); any other refusal as an error.
type handler struct {
	newTyped func() any
	admit    func(ctx context.Context, r *request, old, obj any) (field.ErrorList, error)
}

// typedHandler adapts a per-kind function on typed objects to a handler.
func typedHandler[T any](admit func(ctx context.Context, r *request, old, obj *T) (field.ErrorList, error)) handler {
	return handler{
		newTyped: func() any { return new(T) },
		admit: func(ctx context.Context, r *request, old, obj any) (field.ErrorList, error) {
			var o *T
			if old != nil {
				o = old.(*T)
			}
			return admit(ctx, r, o, obj.(*T))
		},
	}
}

// actorOf returns who performs the request: the context's actor, else the
// controller.
func actorOf(ctx context.Context) identity.Actor {
	if a, ok := identity.FromContext(ctx); ok {
		return a
	}
	return identity.Controller
}

// isControlPlane reports whether the actor is Caravan itself.
func isControlPlane(a identity.Actor) bool {
	return a.Name == identity.Controller.Name
}

// formatActor renders the actor in Kargo's recorded forms: "admin",
// "email:…", "subject:…" as identity gives them, and "controller:<name>"
// for Caravan's own controllers.
func formatActor(a identity.Actor) string {
	if isControlPlane(a) {
		return "controller:" + a.Name
	}
	return a.String()
}

// mergeErrors puts the metadata errors first, leaving out those about a field
// the kind's own errors already describe (the api validators check names in
// their own words).
func mergeErrors(metaErrs, kindErrs field.ErrorList) field.ErrorList {
	covered := make(map[string]bool, len(kindErrs))
	for _, e := range kindErrs {
		covered[e.Field] = true
	}
	out := make(field.ErrorList, 0, len(metaErrs)+len(kindErrs))
	for _, e := range metaErrs {
		if !covered[e.Field] {
			out = append(out, e)
		}
	}
	return append(out, kindErrs...)
}
