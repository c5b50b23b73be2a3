// Package sqlite is Caravan's embedded store: a store.Store on one SQLite
// database file (modernc.org/sqlite, pure Go), the default backend of
// `caravan server`.
//
// Layout: one objects table keyed (kind, namespace, name) holding each
// object's uid, resourceVersion, labels, indexed field values and JSON; a
// field_index table for the field selectors of store.IndexedFields; an
// owner_refs table for ownerReference cascade; and a meta table holding the
// last resourceVersion. resourceVersion is one global integer, incremented by
// every change and rendered as a decimal string.
//
// Durability: the database runs in WAL mode with synchronous=FULL by default,
// so every acknowledged write has been fsynced to the WAL and survives both a
// SIGKILL of the process and a power loss. WithSynchronous("NORMAL") trades
// the power-loss guarantee for faster writes; it still survives a process
// kill, because a WAL commit is written to the file (the OS page cache)
// before it is acknowledged.
//
// Concurrency: writes are serialized through one writer connection (SQLite
// allows one writer); reads use a pool of connections, each read transaction
// seeing one consistent snapshot. Watches are served from an in-memory ring
// of recent changes kept as raw JSON (see WithHistory); the ring starts empty
// at Open, so after a restart any resourceVersion older than the current one
// is answered with 410 Expired. Open loads nothing but the current
// resourceVersion, so it is fast whatever the size of the database.
//
// Cascade deletion through ownerReferences runs in a background goroutine
// started by Open and stopped by Close; deleting a Project deletes the
// contents of its namespace in the same transaction.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"

	"github.com/caravan-dev/caravan/internal/store"
)

// Store is the SQLite backend of store.Store. It is safe for concurrent use.
type Store struct {
	opts options
	w    *sql.DB // the one writer connection
	r    *sql.DB // read pool
	stmt statements

	mu sync.Mutex // serializes writes; guards rv
	rv int64      // last committed resourceVersion

	hist *history

	gcKick chan struct{}
	stop   chan struct{}
	done   sync.WaitGroup
	once   sync.Once
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	synchronous      string
	historyMin       int
	historyWindow    time.Duration
	historyMaxBytes  int64
	bookmarkInterval time.Duration
	watchBuffer      int
	readConns        int
	logger           *slog.Logger
}

func defaultOptions() options {
	return options{
		synchronous:      "FULL",
		historyMin:       10000,
		historyWindow:    5 * time.Minute,
		historyMaxBytes:  64 << 20,
		bookmarkInterval: time.Minute,
		watchBuffer:      128,
		readConns:        max(4, runtime.GOMAXPROCS(0)),
		logger:           slog.Default(),
	}
}

// WithSynchronous sets SQLite's synchronous pragma: "FULL" (the default:
// acknowledged writes survive power loss) or "NORMAL" (they survive a
// process kill but not a power loss).
func WithSynchronous(mode string) Option {
	return func(o *options) { o.synchronous = strings.ToUpper(mode) }
}

// WithHistory sets how much watch history is kept: at least the last
// minEvents changes, and beyond those every change younger than window, up
// to the byte bound of WithHistoryMaxBytes. The defaults are 10,000 changes
// and 5 minutes. A watch from a resourceVersion older than the kept history,
// or a watcher that falls that far behind, gets 410 Expired.
func WithHistory(minEvents int, window time.Duration) Option {
	return func(o *options) { o.historyMin, o.historyWindow = max(1, minEvents), window }
}

// WithHistoryMaxBytes bounds the raw JSON kept for changes beyond the
// minimum count of WithHistory (default 64 MiB).
func WithHistoryMaxBytes(n int64) Option {
	return func(o *options) { o.historyMaxBytes = n }
}

// WithBookmarkInterval sets how long a watch that allows bookmarks stays
// idle before it gets a BOOKMARK (default 1 minute, as kube-apiserver).
func WithBookmarkInterval(d time.Duration) Option {
	return func(o *options) { o.bookmarkInterval = d }
}

// WithWatchBuffer sets how many events a watcher may have undelivered
// before it stops reading history (default 128). A watcher that stays
// stopped until its position leaves the history is closed with 410 Expired.
func WithWatchBuffer(n int) Option {
	return func(o *options) { o.watchBuffer = max(0, n) }
}

// WithReadConns sets the size of the read connection pool (default
// max(4, GOMAXPROCS)).
func WithReadConns(n int) Option {
	return func(o *options) { o.readConns = max(1, n) }
}

// WithLogger sets the logger of background work (cascade deletion).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

const ddl = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', 1), ('rv', 0);
CREATE TABLE IF NOT EXISTS objects (
	kind      TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	uid       TEXT NOT NULL,
	rv        INTEGER NOT NULL,
	labels    TEXT NOT NULL,
	fields    TEXT NOT NULL,
	data      BLOB NOT NULL,
	PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_uid ON objects(uid);
DROP INDEX IF EXISTS objects_namespace;
CREATE TABLE IF NOT EXISTS field_index (
	kind      TEXT NOT NULL,
	field     TEXT NOT NULL,
	value     TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	PRIMARY KEY (kind, field, value, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS field_index_object ON field_index(kind, namespace, name);
CREATE TABLE IF NOT EXISTS owner_refs (
	kind      TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	owner_uid TEXT NOT NULL,
	PRIMARY KEY (kind, namespace, name, owner_uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owner_refs_owner ON owner_refs(owner_uid);
`

// Open opens (creating if needed) the database at path and starts the
// background cascade worker. Close it when done.
func Open(path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, fn := range opts {
		fn(&o)
	}
	if o.synchronous != "FULL" && o.synchronous != "NORMAL" && o.synchronous != "EXTRA" {
		return nil, fmt.Errorf("open store %s: synchronous must be FULL, EXTRA or NORMAL, not %q", path, o.synchronous)
	}
	pragmas := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{"busy_timeout(10000)", "journal_mode(WAL)",
			"synchronous(" + o.synchronous + ")", "foreign_keys(OFF)", "journal_size_limit(67108864)"}, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", pragmas()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if _, err := w.ExecContext(ctx, ddl); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: create schema: %w", path, err)
	}
	r, err := sql.Open("sqlite", pragmas("query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	s := &Store{opts: o, w: w, r: r, gcKick: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'rv'`).Scan(&s.rv); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: read resource version: %w", path, err)
	}
	if err := s.stmt.prepare(w); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.hist = newHistory(s.rv, o.historyMin, o.historyWindow, o.historyMaxBytes)
	s.done.Add(1)
	go s.gcLoop()
	return s, nil
}

// Close stops the background worker, ends every watch and closes the
// database. Writes acknowledged before Close are durable.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.done.Wait()
		s.hist.close()
		s.mu.Lock()
		defer s.mu.Unlock()
		err = s.closeDBs()
	})
	return err
}

func (s *Store) closeDBs() error {
	s.stmt.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// ResourceVersion returns the last committed resourceVersion.
func (s *Store) ResourceVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return formatRV(s.rv)
}

// statements are the writer's prepared statements.
type statements struct {
	get, insert, update, remove *sql.Stmt
	setRV                       *sql.Stmt
	clearFields, addField       *sql.Stmt
	clearOwners, addOwner       *sql.Stmt
	byNamespace                 *sql.Stmt
	all                         []*sql.Stmt
}

func (st *statements) prepare(db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.get, `SELECT rv, data FROM objects WHERE kind = ? AND namespace = ? AND name = ?`},
		{&st.insert, `INSERT INTO objects(kind, namespace, name, uid, rv, labels, fields, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.update, `UPDATE objects SET uid = ?, rv = ?, labels = ?, fields = ?, data = ? WHERE kind = ? AND namespace = ? AND name = ?`},
		{&st.remove, `DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?`},
		{&st.setRV, `UPDATE meta SET value = ? WHERE key = 'rv'`},
		{&st.clearFields, `DELETE FROM field_index WHERE kind = ? AND namespace = ? AND name = ?`},
		{&st.addField, `INSERT INTO field_index(kind, field, value, namespace, name) VALUES (?, ?, ?, ?, ?)`},
		{&st.clearOwners, `DELETE FROM owner_refs WHERE kind = ? AND namespace = ? AND name = ?`},
		{&st.addOwner, `INSERT OR IGNORE INTO owner_refs(kind, namespace, name, owner_uid) VALUES (?, ?, ?, ?)`},
		{&st.byNamespace, `SELECT name FROM objects WHERE kind = ? AND namespace = ? ORDER BY name`},
	} {
		stmt, err := db.Prepare(p.sql)
		if err != nil {
			return fmt.Errorf("prepare statement: %w", err)
		}
		*p.dst = stmt
		st.all = append(st.all, stmt)
	}
	return nil
}

func (st *statements) close() {
	for _, s := range st.all {
		s.Close()
	}
	st.all = nil
}
