package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// Server-set metadata that a caller cannot change through Update.
var serverMeta = []string{"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"}

// Create stores a new object and returns it as stored.
func (s *Store) Create(ctx context.Context, in *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	info, o, ns, name, err := incoming(in)
	if err != nil {
		return nil, err
	}
	m := o.meta()
	if name == "" {
		gen := o.metaString("generateName")
		if gen == "" {
			return nil, apierrors.NewInvalid(info.GroupVersionKind().GroupKind(), "", field.ErrorList{
				field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
		}
		name = gen + rand.String(5)
		m["name"] = name
	}
	for _, k := range append(slices.Clone(serverMeta), "resourceVersion", "generation", "selfLink") {
		delete(m, k)
	}
	m["uid"] = string(uuid.NewUUID())
	m["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	if info.HasGeneration {
		m["generation"] = json.Number("1")
	}
	if info.HasStatus {
		delete(o, "status")
	}
	var out []byte
	err = s.write(ctx, func(w *wtx) error {
		cur, err := w.load(info, ns, name)
		if err != nil {
			return err
		}
		if cur != nil {
			return apierrors.NewAlreadyExists(groupResource(info), name)
		}
		out, err = w.put(info, ns, name, nil, o, watch.Added)
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeOut(out)
}

// Update replaces metadata and the desired state of an existing object,
// keeping status for kinds with HasStatus.
func (s *Store) Update(ctx context.Context, in *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	info, o, ns, name, err := incoming(in)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.write(ctx, func(w *wtx) error {
		cur, err := w.current(info, ns, name, o)
		if err != nil {
			return err
		}
		m, cm := o.meta(), cur.o.meta()
		for _, k := range serverMeta {
			if v, ok := cm[k]; ok {
				m[k] = v
			} else {
				delete(m, k)
			}
		}
		if info.HasStatus {
			if st, ok := cur.o["status"]; ok {
				o["status"] = st
			} else {
				delete(o, "status")
			}
		}
		if info.HasGeneration {
			gen := cur.o.generation()
			if !bytes.Equal(o.desiredState(info), cur.o.desiredState(info)) {
				gen++
			}
			m["generation"] = json.Number(formatRV(gen))
		} else {
			delete(m, "generation")
		}
		deleting := cur.o.metaString("deletionTimestamp") != ""
		if deleting {
			old := cur.o.finalizers()
			var added []string
			for _, f := range o.finalizers() {
				if !slices.Contains(old, f) {
					added = append(added, f)
				}
			}
			if len(added) > 0 {
				return apierrors.NewInvalid(info.GroupVersionKind().GroupKind(), name, field.ErrorList{
					field.Forbidden(field.NewPath("metadata", "finalizers"),
						fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", added))})
			}
		}
		m["resourceVersion"] = formatRV(cur.rv)
		if unchanged(o, cur.raw) {
			out = cur.raw
			return nil
		}
		if deleting && len(o.finalizers()) == 0 {
			out, err = w.remove(info, ns, name, cur, o)
			return err
		}
		out, err = w.put(info, ns, name, cur, o, watch.Modified)
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeOut(out)
}

// UpdateStatus replaces only the status of an existing object.
func (s *Store) UpdateStatus(ctx context.Context, in *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	info, o, ns, name, err := incoming(in)
	if err != nil {
		return nil, err
	}
	if !info.HasStatus {
		return nil, apierrors.NewNotFound(groupResource(info), name+"/status")
	}
	var out []byte
	err = s.write(ctx, func(w *wtx) error {
		cur, err := w.current(info, ns, name, o)
		if err != nil {
			return err
		}
		next := cur.o
		if st, ok := o["status"]; ok {
			next["status"] = st
		} else {
			delete(next, "status")
		}
		if unchanged(next, cur.raw) {
			out = cur.raw
			return nil
		}
		out, err = w.put(info, ns, name, cur, next, watch.Modified)
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeOut(out)
}

// Delete deletes an object, or sets its deletionTimestamp when it has
// finalizers.
func (s *Store) Delete(ctx context.Context, kind, namespace, name string, opts store.DeleteOptions) error {
	info, err := kindInfo(kind)
	if err != nil {
		return err
	}
	if err := checkNamespace(info, namespace); err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error { return w.delete(info, namespace, name, opts) })
}

// incoming validates a caller's object and returns a private copy of it.
func incoming(in *unstructured.Unstructured) (*kinds.Info, obj, string, string, error) {
	if in == nil {
		return nil, nil, "", "", apierrors.NewBadRequest("object is nil")
	}
	info, err := kindInfo(in.GetKind())
	if err != nil {
		return nil, nil, "", "", err
	}
	if av := in.GetAPIVersion(); av != "" && av != info.APIVersion() {
		return nil, nil, "", "", apierrors.NewBadRequest(fmt.Sprintf("%s has apiVersion %s, not %q", info.Kind, info.APIVersion(), av))
	}
	raw, err := json.Marshal(in.Object)
	if err != nil {
		return nil, nil, "", "", apierrors.NewBadRequest(fmt.Sprintf("encode %s: %v", info.Kind, err))
	}
	o, err := decodeObj(raw)
	if err != nil {
		return nil, nil, "", "", apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", info.Kind, err))
	}
	o["apiVersion"], o["kind"] = info.APIVersion(), info.Kind
	ns, name := o.metaString("namespace"), o.metaString("name")
	if err := checkNamespace(info, ns); err != nil {
		return nil, nil, "", "", err
	}
	return info, o, ns, name, nil
}

// unchanged reports whether o encodes to exactly the stored JSON.
func unchanged(o obj, stored []byte) bool {
	b, err := json.Marshal(map[string]any(o))
	return err == nil && bytes.Equal(b, stored)
}

// write runs fn in one write transaction, commits it, then publishes its
// changes to watchers. Writes are serialized.
func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A transaction is never abandoned half-way by a cancelled context:
	// the in-memory resourceVersion must match what was committed.
	bg := context.WithoutCancel(ctx)
	tx, err := s.w.BeginTx(bg, nil)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("begin write: %w", err))
	}
	w := &wtx{s: s, tx: tx, ctx: bg, rv: s.rv, now: time.Now()}
	if err := fn(w); err != nil {
		tx.Rollback()
		return err
	}
	if w.rv == s.rv {
		tx.Rollback()
		return nil
	}
	if _, err := tx.StmtContext(bg, s.stmt.setRV).ExecContext(bg, w.rv); err != nil {
		tx.Rollback()
		return apierrors.NewInternalError(fmt.Errorf("write resource version: %w", err))
	}
	if err := tx.Commit(); err != nil {
		s.resync()
		return apierrors.NewInternalError(fmt.Errorf("commit write: %w", err))
	}
	s.rv = w.rv
	s.hist.append(w.events)
	if w.kick {
		select {
		case s.gcKick <- struct{}{}:
		default:
		}
	}
	return nil
}

// resync re-reads the committed resourceVersion after a failed commit whose
// outcome is unknown; if it moved, watchers lose their history (410) rather
// than miss changes.
func (s *Store) resync() {
	var rv int64
	if err := s.w.QueryRow(`SELECT value FROM meta WHERE key = 'rv'`).Scan(&rv); err != nil || rv == s.rv {
		return
	}
	s.rv = rv
	s.hist.reset(rv)
}

// wtx is one write transaction in progress.
type wtx struct {
	s      *Store
	tx     *sql.Tx
	ctx    context.Context
	rv     int64
	now    time.Time
	events []event
	kick   bool // removed an object or stored ownerReferences: run cascade
}

// stored is an object as read inside a write transaction.
type stored struct {
	rv  int64
	o   obj
	raw []byte
}

func (w *wtx) stmt(s *sql.Stmt) *sql.Stmt { return w.tx.StmtContext(w.ctx, s) }

// load returns the stored object, or nil if there is none.
func (w *wtx) load(info *kinds.Info, ns, name string) (*stored, error) {
	var cur stored
	err := w.stmt(w.s.stmt.get).QueryRowContext(w.ctx, info.Kind, ns, name).Scan(&cur.rv, &cur.raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, internalErr("read", info, ns, name, err)
	}
	if cur.o, err = decodeObj(cur.raw); err != nil {
		return nil, internalErr("decode", info, ns, name, err)
	}
	return &cur, nil
}

// current loads the object an update names and checks its preconditions.
func (w *wtx) current(info *kinds.Info, ns, name string, o obj) (*stored, error) {
	cur, err := w.load(info, ns, name)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, notFound(info, name)
	}
	if rv := o.metaString("resourceVersion"); rv != "" && rv != formatRV(cur.rv) {
		return nil, conflict(info, name, modifiedMsg)
	}
	if uid, have := o.metaString("uid"), cur.o.metaString("uid"); uid != "" && uid != have {
		return nil, conflict(info, name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, have))
	}
	return cur, nil
}

// put stores o (new when prev is nil) under the next resourceVersion.
func (w *wtx) put(info *kinds.Info, ns, name string, prev *stored, o obj, typ watch.EventType) ([]byte, error) {
	w.rv++
	o.meta()["resourceVersion"] = formatRV(w.rv)
	raw, err := json.Marshal(map[string]any(o))
	if err != nil {
		return nil, internalErr("encode", info, ns, name, err)
	}
	lbls, flds := o.stringMap("labels"), o.indexedFields(info)
	uid := o.metaString("uid")
	if prev == nil {
		_, err = w.stmt(w.s.stmt.insert).ExecContext(w.ctx, info.Kind, ns, name, uid, w.rv, encodeStrings(lbls), encodeStrings(flds), raw)
	} else {
		_, err = w.stmt(w.s.stmt.update).ExecContext(w.ctx, uid, w.rv, encodeStrings(lbls), encodeStrings(flds), raw, info.Kind, ns, name)
	}
	if err != nil {
		return nil, internalErr("write", info, ns, name, err)
	}
	ev := event{typ: typ, rv: w.rv, kind: info.Kind, ns: ns, name: name, labels: lbls, fields: flds, raw: raw, at: w.now}
	var prevFields map[string]string
	if prev != nil {
		prevLabels := prev.o.stringMap("labels")
		prevFields = prev.o.indexedFields(info)
		if !sameSelectable(lbls, flds, prevLabels, prevFields) {
			ev.prev = &selectable{labels: prevLabels, fields: prevFields}
		}
	}
	if flds != nil && (prev == nil || !sameSelectable(nil, flds, nil, prevFields)) {
		if err := w.indexFields(info, ns, name, prev != nil, flds); err != nil {
			return nil, err
		}
	}
	owners := o.ownerUIDs()
	if prev == nil || !slices.Equal(owners, prev.o.ownerUIDs()) {
		if err := w.indexOwners(info, ns, name, prev != nil, owners); err != nil {
			return nil, err
		}
	}
	w.events = append(w.events, ev)
	return raw, nil
}

func (w *wtx) indexFields(info *kinds.Info, ns, name string, clearOld bool, flds map[string]string) error {
	if clearOld {
		if _, err := w.stmt(w.s.stmt.clearFields).ExecContext(w.ctx, info.Kind, ns, name); err != nil {
			return internalErr("index", info, ns, name, err)
		}
	}
	for _, f := range sortedKeys(flds) {
		if _, err := w.stmt(w.s.stmt.addField).ExecContext(w.ctx, info.Kind, f, flds[f], ns, name); err != nil {
			return internalErr("index", info, ns, name, err)
		}
	}
	return nil
}

func (w *wtx) indexOwners(info *kinds.Info, ns, name string, clearOld bool, owners []string) error {
	if clearOld {
		if _, err := w.stmt(w.s.stmt.clearOwners).ExecContext(w.ctx, info.Kind, ns, name); err != nil {
			return internalErr("index owners of", info, ns, name, err)
		}
	}
	for _, uid := range owners {
		if _, err := w.stmt(w.s.stmt.addOwner).ExecContext(w.ctx, info.Kind, ns, name, uid); err != nil {
			return internalErr("index owners of", info, ns, name, err)
		}
		w.kick = true
	}
	return nil
}

// remove deletes a stored object; final is its last state, sent in the
// DELETED event under the next resourceVersion.
func (w *wtx) remove(info *kinds.Info, ns, name string, prev *stored, final obj) ([]byte, error) {
	w.rv++
	final.meta()["resourceVersion"] = formatRV(w.rv)
	raw, err := json.Marshal(map[string]any(final))
	if err != nil {
		return nil, internalErr("encode", info, ns, name, err)
	}
	for _, st := range []*sql.Stmt{w.s.stmt.remove, w.s.stmt.clearFields, w.s.stmt.clearOwners} {
		if _, err := w.stmt(st).ExecContext(w.ctx, info.Kind, ns, name); err != nil {
			return nil, internalErr("delete", info, ns, name, err)
		}
	}
	w.events = append(w.events, event{typ: watch.Deleted, rv: w.rv, kind: info.Kind, ns: ns, name: name,
		labels: final.stringMap("labels"), fields: final.indexedFields(info), raw: raw, at: w.now})
	w.kick = true
	if info.OwnsNamespace {
		if err := w.deleteNamespace(name); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// delete is Delete inside a transaction.
func (w *wtx) delete(info *kinds.Info, ns, name string, opts store.DeleteOptions) error {
	cur, err := w.load(info, ns, name)
	if err != nil {
		return err
	}
	if cur == nil {
		return notFound(info, name)
	}
	if uid := cur.o.metaString("uid"); opts.UID != "" && opts.UID != uid {
		return conflict(info, name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", opts.UID, uid))
	}
	if rv := formatRV(cur.rv); opts.ResourceVersion != "" && opts.ResourceVersion != rv {
		return conflict(info, name, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", opts.ResourceVersion, rv))
	}
	if len(cur.o.finalizers()) == 0 {
		_, err := w.remove(info, ns, name, cur, cur.o)
		return err
	}
	if cur.o.metaString("deletionTimestamp") != "" {
		return nil // already being deleted
	}
	m := cur.o.meta()
	m["deletionTimestamp"] = w.now.UTC().Format(time.RFC3339)
	m["deletionGracePeriodSeconds"] = json.Number("0")
	if info.HasGeneration {
		m["generation"] = json.Number(formatRV(cur.o.generation() + 1))
	}
	if _, err := w.put(info, ns, name, cur, cur.o, watch.Modified); err != nil {
		return err
	}
	if info.OwnsNamespace {
		return w.deleteNamespace(name)
	}
	return nil
}

// deleteNamespace deletes everything in namespace ns (finalizers honoured).
func (w *wtx) deleteNamespace(ns string) error {
	for _, info := range kinds.All() {
		if !info.Namespaced {
			continue
		}
		rows, err := w.stmt(w.s.stmt.byNamespace).QueryContext(w.ctx, info.Kind, ns)
		if err != nil {
			return internalErr("list", info, ns, "", err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return internalErr("list", info, ns, "", err)
			}
			names = append(names, n)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return internalErr("list", info, ns, "", err)
		}
		for _, n := range names {
			if err := w.delete(info, ns, n, store.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}
