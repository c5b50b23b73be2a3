package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// Get returns one object.
func (s *Store) Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	info, err := kindInfo(kind)
	if err != nil {
		return nil, err
	}
	if err := checkNamespace(info, namespace); err != nil {
		return nil, err
	}
	var data []byte
	err = s.r.QueryRowContext(ctx, `SELECT data FROM objects WHERE kind = ? AND namespace = ? AND name = ?`,
		info.Kind, namespace, name).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(info, name)
	}
	if err != nil {
		return nil, internalErr("get", info, namespace, name, err)
	}
	return decodeOut(data)
}

// List returns the matching objects sorted by namespace then name, with
// the resourceVersion of the same snapshot.
func (s *Store) List(ctx context.Context, kind, namespace string, opts store.ListOptions) (*unstructured.UnstructuredList, error) {
	info, rv, items, err := s.listRaw(ctx, kind, namespace, opts)
	if err != nil {
		return nil, err
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{
		"apiVersion": info.APIVersion(),
		"kind":       info.ListKind(),
		"metadata":   map[string]any{"resourceVersion": formatRV(rv)},
	}}
	list.Items = make([]unstructured.Unstructured, len(items))
	for i, data := range items {
		if err := list.Items[i].UnmarshalJSON(data); err != nil {
			return nil, internalErr("decode", info, namespace, "", err)
		}
	}
	return list, nil
}

// ListRaw is List returning each object's stored JSON.
func (s *Store) ListRaw(ctx context.Context, kind, namespace string, opts store.ListOptions) ([]json.RawMessage, string, error) {
	_, rv, items, err := s.listRaw(ctx, kind, namespace, opts)
	if err != nil {
		return nil, "", err
	}
	out := make([]json.RawMessage, len(items))
	for i, b := range items {
		out[i] = b
	}
	return out, formatRV(rv), nil
}

func (s *Store) listRaw(ctx context.Context, kind, namespace string, opts store.ListOptions) (*kinds.Info, int64, [][]byte, error) {
	info, err := kindInfo(kind)
	if err != nil {
		return nil, 0, nil, err
	}
	if !info.Namespaced && namespace != "" {
		return nil, 0, nil, checkNamespace(info, namespace)
	}
	sel, err := compileSelector(info, opts)
	if err != nil {
		return nil, 0, nil, err
	}
	rv, items, err := s.query(ctx, info, namespace, sel)
	if err != nil {
		return nil, 0, nil, err
	}
	return info, rv, items, nil
}

// query reads the matching objects' JSON and the resourceVersion in one
// read transaction, hence one snapshot.
func (s *Store) query(ctx context.Context, info *kinds.Info, namespace string, sel *selector) (int64, [][]byte, error) {
	fail := func(err error) (int64, [][]byte, error) {
		return 0, nil, internalErr("list", info, namespace, "", err)
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var rv int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'rv'`).Scan(&rv); err != nil {
		return fail(err)
	}
	q, args := sel.sql(info, namespace)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var items [][]byte
	for rows.Next() {
		var data []byte
		if !sel.inGo {
			if err := rows.Scan(&data); err != nil {
				return fail(err)
			}
			items = append(items, data)
			continue
		}
		var ns, name, lbls, flds string
		if err := rows.Scan(&data, &ns, &name, &lbls, &flds); err != nil {
			return fail(err)
		}
		l, err := decodeStrings(lbls)
		if err != nil {
			return fail(err)
		}
		f, err := decodeStrings(flds)
		if err != nil {
			return fail(err)
		}
		if sel.matches(ns, name, l, f) {
			items = append(items, data)
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return rv, items, nil
}

// selector is a compiled label and field selector.
type selector struct {
	labels labels.Selector // nil: everything
	fields fields.Selector // nil: everything
	// SQL pushdown: equality on name, namespace and one indexed field.
	name, namespace    *string
	indexField, indexV string
	// inGo: some requirement is checked in Go after the query.
	inGo bool
}

// compileSelector checks opts against the kind's selectable fields.
func compileSelector(info *kinds.Info, opts store.ListOptions) (*selector, error) {
	sel := &selector{}
	if opts.LabelSelector != nil && !opts.LabelSelector.Empty() {
		sel.labels, sel.inGo = opts.LabelSelector, true
	}
	if opts.FieldSelector == nil || opts.FieldSelector.Empty() {
		return sel, nil
	}
	sel.fields = opts.FieldSelector
	indexed := store.IndexedFields[info.Kind]
	for _, r := range opts.FieldSelector.Requirements() {
		isIndexed := slices.Contains(indexed, r.Field)
		if r.Field != "metadata.name" && r.Field != "metadata.namespace" && !isIndexed {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
		v := r.Value
		switch {
		case r.Operator != selection.Equals && r.Operator != selection.DoubleEquals:
			sel.inGo = true
		case r.Field == "metadata.name" && sel.name == nil:
			sel.name = &v
		case r.Field == "metadata.namespace" && sel.namespace == nil:
			sel.namespace = &v
		case isIndexed && sel.indexField == "":
			sel.indexField, sel.indexV = r.Field, v
		default:
			sel.inGo = true
		}
	}
	return sel, nil
}

// sql builds the query of a selector for one kind and namespace.
func (sel *selector) sql(info *kinds.Info, namespace string) (string, []any) {
	var b strings.Builder
	if sel.inGo {
		b.WriteString(`SELECT o.data, o.namespace, o.name, o.labels, o.fields FROM `)
	} else {
		b.WriteString(`SELECT o.data FROM `)
	}
	args := []any{}
	if sel.indexField != "" {
		// CROSS JOIN keeps field_index the outer loop: SQLite then walks
		// its primary key, already in (namespace, name) order.
		b.WriteString(`field_index f CROSS JOIN objects o ON o.kind = f.kind AND o.namespace = f.namespace AND o.name = f.name
			WHERE f.kind = ? AND f.field = ? AND f.value = ?`)
		args = append(args, info.Kind, sel.indexField, sel.indexV)
	} else {
		b.WriteString(`objects o WHERE o.kind = ?`)
		args = append(args, info.Kind)
	}
	t := "o"
	if sel.indexField != "" {
		t = "f"
	}
	if namespace != "" {
		b.WriteString(` AND ` + t + `.namespace = ?`)
		args = append(args, namespace)
	}
	if sel.namespace != nil {
		b.WriteString(` AND ` + t + `.namespace = ?`)
		args = append(args, *sel.namespace)
	}
	if sel.name != nil {
		b.WriteString(` AND ` + t + `.name = ?`)
		args = append(args, *sel.name)
	}
	b.WriteString(` ORDER BY ` + t + `.namespace, ` + t + `.name`)
	return b.String(), args
}

// matches applies the whole selector to one object's selectable values.
func (sel *selector) matches(ns, name string, lbls, flds map[string]string) bool {
	if sel.labels != nil && !sel.labels.Matches(labels.Set(lbls)) {
		return false
	}
	if sel.fields != nil {
		set := make(fields.Set, len(flds)+2)
		for k, v := range flds {
			set[k] = v
		}
		set["metadata.name"], set["metadata.namespace"] = name, ns
		if !sel.fields.Matches(set) {
			return false
		}
	}
	return true
}
