// Package store defines Caravan's one persistence contract. It has
// Kubernetes API semantics, so that the embedded SQLite backend and a backend
// over a real kube-apiserver satisfy the same contract and the same contract
// test suite (package storetest).
//
// Objects travel as *unstructured.Unstructured carrying apiVersion and kind;
// the kind must be one of package kinds. Errors are the apimachinery
// StatusErrors a kube-apiserver returns (k8s.io/apimachinery/pkg/api/errors),
// so callers test them with apierrors.IsNotFound, IsConflict, IsAlreadyExists,
// IsGone/IsResourceExpired, IsInvalid and so on.
//
// Semantics every backend keeps:
//   - metadata.uid and creationTimestamp are set on create; metadata.generation
//     is 1 on create and bumped whenever the desired state changes (spec, or
//     for TopLevelSpec kinds every top-level field but apiVersion, kind,
//     metadata and status); kinds without HasGeneration have none.
//   - metadata.resourceVersion is opaque and compared only for equality; an
//     Update or UpdateStatus carrying a different one than stored is a
//     Conflict. An empty one means "unconditional". A write that changes
//     nothing stores nothing: the resourceVersion stays and no event is sent.
//   - Create with an empty name and a metadata.generateName appends a random
//     suffix, as kube-apiserver does; with neither it is Invalid. Server-set
//     metadata a caller sends (uid, resourceVersion, generation,
//     creationTimestamp, deletionTimestamp) is ignored.
//   - For kinds with HasStatus, Create drops any status given (as
//     kube-apiserver does for a status subresource), Update keeps the stored
//     status, and UpdateStatus changes only status.
//   - Delete of an object with finalizers sets deletionTimestamp (a MODIFIED
//     event; deleting it again changes nothing); the object goes (a DELETED
//     event) when an Update empties its finalizers. While it is being
//     deleted an Update may not add finalizers (Invalid). Objects whose
//     ownerReferences all name deleted owners (matched by uid) are deleted
//     too, possibly eventually. Deleting an object of an OwnsNamespace kind
//     deletes everything in the namespace of its name, possibly eventually.
//   - Watch delivers, in order, every change after opts.ResourceVersion
//     (exclusive); see WatchOptions. A DELETED event carries the object's
//     last state under the resourceVersion of the deletion. With a selector,
//     a change that makes an object start matching is delivered as ADDED and
//     one that makes it stop matching as DELETED, as kube-apiserver does.
//
// NewListWatch adapts any Store to client-go's cache.ListWatch, so
// reflectors and informers run over either backend.
package store

import (
	"context"
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
)

// Store is the persistence contract. kind is a kinds.Info Kind such as
// "Stage"; namespace is "" for cluster-scoped kinds and, in List and Watch,
// means "all namespaces" for namespaced ones.
type Store interface {
	// Get returns the object, or a NotFound error.
	Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error)
	// List returns the matching objects, sorted by namespace then name, and
	// the collection's resourceVersion from the same snapshot.
	List(ctx context.Context, kind, namespace string, opts ListOptions) (*unstructured.UnstructuredList, error)
	// ListRaw is List for callers that only re-serialize: each item is the
	// object's stored JSON.
	ListRaw(ctx context.Context, kind, namespace string, opts ListOptions) (items []json.RawMessage, resourceVersion string, err error)
	// Create stores a new object (AlreadyExists if the name is taken) and
	// returns it as stored.
	Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// Update replaces metadata and the desired state, keeping status for
	// kinds with HasStatus.
	Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// UpdateStatus replaces only status. It is NotFound for kinds without HasStatus.
	UpdateStatus(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// Delete deletes the object, or marks it deleting when it has finalizers.
	Delete(ctx context.Context, kind, namespace, name string, opts DeleteOptions) error
	// Watch streams changes; see WatchOptions.
	Watch(ctx context.Context, kind, namespace string, opts WatchOptions) (watch.Interface, error)
}

// ListOptions select objects.
type ListOptions struct {
	// LabelSelector filters on labels; nil means everything.
	LabelSelector labels.Selector
	// FieldSelector filters on metadata.name, metadata.namespace and the
	// indexed fields of IndexedFields; nil means everything.
	FieldSelector fields.Selector
}

// WatchOptions start a watch.
type WatchOptions struct {
	ListOptions
	// ResourceVersion: changes strictly after it are delivered. Empty (or
	// "0") means "now", preceded by an ADDED event for every existing
	// matching object. A version older than the kept history yields one
	// ERROR event carrying a 410 Expired Status, then the watch ends; so does
	// a watcher that falls that far behind, after the events it was able to
	// read: events are never skipped. The watch also ends when its context
	// is done, on Stop, and when the store closes.
	ResourceVersion string
	// SendInitialEvents, with an empty or "0" ResourceVersion, sends ADDED
	// for every existing object and then a BOOKMARK annotated
	// "k8s.io/initial-events-end": "true".
	SendInitialEvents bool
	// AllowBookmarks lets the watch send BOOKMARK events while idle.
	AllowBookmarks bool
}

// DeleteOptions carry delete preconditions.
type DeleteOptions struct {
	// UID, when set, must match the stored object's uid (Conflict otherwise).
	UID string
	// ResourceVersion, when set, must match the stored object's (Conflict otherwise).
	ResourceVersion string
}

// IndexedFields lists, per kind, the field paths a FieldSelector may use
// besides metadata.name and metadata.namespace. Backends index them.
var IndexedFields = map[string][]string{
	"Promotion": {"spec.stage"},
	"Freight":   {"alias", "origin.kind", "origin.name"},
}

// InitialEventsEndAnnotation marks the bookmark that ends a watch's initial events.
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"
