package admission

import (
	"context"
	"encoding/json"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/store"
)

// updateAttempts bounds the retries of an unconditional Update whose stored
// object changed between admission and commit.
const updateAttempts = 5

// Store is a store.Store that admits every write before the store it wraps
// commits it.
type Store struct {
	next store.Store
	adm  *Admitter

	// nsLocks serializes Freight writes per namespace, so that alias
	// uniqueness holds between the check and the commit.
	nsLocksMu sync.Mutex
	nsLocks   map[string]*sync.Mutex
}

var _ store.Store = (*Store)(nil)

// New returns next wrapped with admission: Create, Update and Delete are
// defaulted and validated (see the package documentation) before next
// commits them; reads and UpdateStatus pass through. Other objects are read
// from next.
func New(next store.Store, opts Options) store.Store {
	return &Store{next: next, adm: NewAdmitter(next, opts), nsLocks: map[string]*sync.Mutex{}}
}

// Admitter returns the Admitter the store uses, for dry runs.
func (s *Store) Admitter() *Admitter { return s.adm }

func (s *Store) lockFreight(kind, ns string) func() {
	if kind != "Freight" {
		return func() {}
	}
	s.nsLocksMu.Lock()
	mu, ok := s.nsLocks[ns]
	if !ok {
		mu = &sync.Mutex{}
		s.nsLocks[ns] = mu
	}
	s.nsLocksMu.Unlock()
	mu.Lock()
	return mu.Unlock
}

// Get passes through.
func (s *Store) Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	return s.next.Get(ctx, kind, namespace, name)
}

// List passes through.
func (s *Store) List(ctx context.Context, kind, namespace string, opts store.ListOptions) (*unstructured.UnstructuredList, error) {
	return s.next.List(ctx, kind, namespace, opts)
}

// ListRaw passes through.
func (s *Store) ListRaw(ctx context.Context, kind, namespace string, opts store.ListOptions) ([]json.RawMessage, string, error) {
	return s.next.ListRaw(ctx, kind, namespace, opts)
}

// Watch passes through.
func (s *Store) Watch(ctx context.Context, kind, namespace string, opts store.WatchOptions) (watch.Interface, error) {
	return s.next.Watch(ctx, kind, namespace, opts)
}

// UpdateStatus passes through: status is free-form and written only by the
// server.
func (s *Store) UpdateStatus(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return s.next.UpdateStatus(ctx, obj)
}

// Create admits obj and creates the admitted object.
func (s *Store) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, badRequest("no object given", nil)
	}
	defer s.lockFreight(obj.GetKind(), obj.GetNamespace())()
	out, err := s.adm.Admit(ctx, Create, nil, obj)
	if err != nil {
		return nil, err
	}
	return s.next.Create(ctx, out)
}

// Update admits obj against the stored object and updates it. An
// unconditional update (no resourceVersion) is committed against the version
// admission saw, and admitted again if that version changed meanwhile.
func (s *Store) Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, badRequest("no object given", nil)
	}
	info, err := kindInfo(obj)
	if err != nil {
		return nil, err
	}
	ns := obj.GetNamespace()
	if !info.Namespaced {
		ns = ""
	}
	defer s.lockFreight(info.Kind, ns)()
	unconditional := obj.GetResourceVersion() == ""
	for attempt := 1; ; attempt++ {
		old, err := s.next.Get(ctx, info.Kind, ns, obj.GetName())
		if err != nil {
			return nil, err
		}
		out, err := s.adm.Admit(ctx, Update, old, obj)
		if err != nil {
			return nil, err
		}
		if unconditional {
			out.SetResourceVersion(old.GetResourceVersion())
		}
		res, err := s.next.Update(ctx, out)
		if unconditional && apierrors.IsConflict(err) && attempt < updateAttempts {
			continue
		}
		return res, err
	}
}

// Delete admits the deletion (Freight in use is refused) and deletes.
func (s *Store) Delete(ctx context.Context, kind, namespace, name string, opts store.DeleteOptions) error {
	if err := s.adm.AdmitDelete(ctx, kind, namespace, name); err != nil {
		return err
	}
	return s.next.Delete(ctx, kind, namespace, name, opts)
}
