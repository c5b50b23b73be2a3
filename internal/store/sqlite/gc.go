package sqlite

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// orphanQuery finds objects whose ownerReferences all name objects that do
// not exist (by uid).
const orphanQuery = `
SELECT kind, namespace, name FROM owner_refs r
GROUP BY kind, namespace, name
HAVING SUM(EXISTS (SELECT 1 FROM objects o WHERE o.uid = r.owner_uid)) = 0
ORDER BY kind, namespace, name`

// gcBatch is how many orphans one write transaction deletes.
const gcBatch = 100

// gcLoop is the background cascade worker: it deletes orphans at start (a
// crash may have interrupted a cascade) and whenever a write kicks it.
func (s *Store) gcLoop() {
	defer s.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		if err := s.collectOrphans(ctx); err != nil && ctx.Err() == nil {
			s.opts.logger.Error("collect orphaned objects", "err", err)
		}
		select {
		case <-s.gcKick:
		case <-s.stop:
			return
		}
	}
}

type objectKey struct{ kind, namespace, name string }

// collectOrphans deletes objects whose owners are all gone, as Kubernetes'
// garbage collector does with background propagation. Deleting one may
// orphan others; the write kicks the worker again.
func (s *Store) collectOrphans(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, orphanQuery)
	if err != nil {
		return fmt.Errorf("find orphans: %w", err)
	}
	var keys []objectKey
	for rows.Next() {
		var k objectKey
		if err := rows.Scan(&k.kind, &k.namespace, &k.name); err != nil {
			rows.Close()
			return fmt.Errorf("find orphans: %w", err)
		}
		keys = append(keys, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("find orphans: %w", err)
	}
	for len(keys) > 0 {
		batch := keys[:min(gcBatch, len(keys))]
		keys = keys[len(batch):]
		err := s.write(ctx, func(w *wtx) error {
			for _, k := range batch {
				if err := w.deleteOrphan(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete orphans: %w", err)
		}
	}
	return nil
}

// deleteOrphan deletes an object if, inside the write transaction, it
// still has ownerReferences and none of its owners exists.
func (w *wtx) deleteOrphan(k objectKey) error {
	info := kinds.ByKind(k.kind)
	if info == nil {
		return nil
	}
	cur, err := w.load(info, k.namespace, k.name)
	if err != nil || cur == nil {
		return err
	}
	owners := cur.o.ownerUIDs()
	if len(owners) == 0 || cur.o.metaString("deletionTimestamp") != "" {
		return nil
	}
	for _, uid := range owners {
		var one int
		err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM objects WHERE uid = ?`, uid).Scan(&one)
		if err != nil {
			return internalErr("check owners of", info, k.namespace, k.name, err)
		}
		if one > 0 {
			return nil
		}
	}
	err = w.delete(info, k.namespace, k.name, store.DeleteOptions{UID: cur.o.metaString("uid")})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
