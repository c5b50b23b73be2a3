// Package server is Caravan's HTTP API: Kubernetes-shaped REST paths for every
// kind in package kinds (get, list, watch, create, update, status, JSON merge
// patch, delete), Kubernetes discovery documents, declarative apply at
// POST /caravan/v1/apply, bearer-token authentication, and /healthz and
// /readyz.
//
// Paths:
//
//	/apis/{group}/{version}/namespaces/{ns}/{resource}[/{name}[/status]]
//	/apis/{group}/{version}/{resource}[/{name}[/status]]   cluster-scoped kinds; all namespaces for list and watch
//	/api/v1/...                                             the same for core kinds (Secret, ConfigMap, Event)
//
// Every answer that is not an object, a list or a watch stream is a
// Kubernetes Status. The server writes through the store.Store it is given,
// which is expected to run admission on every write.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/apply"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/store"
)

// DefaultMaxBodyBytes limits request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 8 << 20

// Log attribute keys.
const (
	attrMethod   = "method"
	attrPath     = "path"
	attrCode     = "code"
	attrDuration = "duration"
	attrError    = "error"
	attrFile     = "file"
	attrStack    = "stack"
)

// Options configure a Server.
type Options struct {
	// Store serves every read and write; it is expected to run admission.
	Store store.Store
	// DataDir holds the admin token file (DataDir/admin-token). Required
	// unless Authenticator is set.
	DataDir string
	// Authenticator, when set, replaces the admin-token authenticator.
	Authenticator Authenticator
	// Logger receives one debug line per request and errors. Nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (413 beyond it); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// FreightID computes a Freight's content ID, used by apply to name
	// Freight. Apply fails Freight documents when it is nil.
	FreightID func(obj *unstructured.Unstructured) (string, error)
}

// Server is the HTTP API. Build it with New.
type Server struct {
	store          store.Store
	auth           Authenticator
	log            *slog.Logger
	maxBody        int64
	applier        *apply.Applier
	adminTokenPath string
	handler        http.Handler
	stopWatches    chan struct{}
	stopOnce       sync.Once
}

// New builds a Server. Unless opts.Authenticator is set it loads the admin
// token from opts.DataDir, writing a new one on first start, and logs where
// the token file is (never the token).
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("new server: no store")
	}
	s := &Server{
		store:       opts.Store,
		auth:        opts.Authenticator,
		log:         opts.Logger,
		maxBody:     opts.MaxBodyBytes,
		stopWatches: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.auth == nil {
		if opts.DataDir == "" {
			return nil, errors.New("new server: no data dir for the admin token")
		}
		token, created, err := LoadOrCreateAdminToken(opts.DataDir)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		s.adminTokenPath = filepath.Join(opts.DataDir, AdminTokenFile)
		if created {
			s.log.Info("wrote a new admin token", attrFile, s.adminTokenPath)
		} else {
			s.log.Info("using the admin token", attrFile, s.adminTokenPath)
		}
		s.auth = NewTokenAuthenticator(map[string]identity.Actor{token: AdminActor})
	}
	s.applier = &apply.Applier{Store: opts.Store, FreightID: opts.FreightID, Logger: s.log}
	s.handler = s.routes()
	return s, nil
}

// AdminTokenPath returns the admin token file, or "" when a custom
// Authenticator is in use.
func (s *Server) AdminTokenPath() string { return s.adminTokenPath }

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("/api", s.serveResources)
	api.HandleFunc("/api/", s.serveResources)
	api.HandleFunc("/apis", s.serveResources)
	api.HandleFunc("/apis/", s.serveResources)
	api.HandleFunc(ApplyPath, s.serveApply)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, errNotFoundPath()) })
	authed := s.authenticate(api)

	root := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
	root.HandleFunc("GET /healthz", health)
	root.HandleFunc("GET /readyz", health)
	root.Handle("/", authed)
	return s.logRequests(s.recoverPanics(root))
}

// authenticate puts the caller's identity in the request context, or answers 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, ok := s.auth.Authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="caravan"`)
			s.writeError(w, r, errUnauthorized())
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.WithActor(r.Context(), actor)))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "request handler panicked", attrMethod, r.Method, attrPath, r.URL.Path,
					attrError, fmt.Sprint(v), attrStack, string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, &metav1.Status{
					TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
					Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError,
					Message: "the server failed to handle the request; see its log",
				})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// logRequests logs one debug line per request; never bodies or query strings.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String(attrMethod, r.Method), slog.String(attrPath, r.URL.Path),
			slog.Int(attrCode, rec.code), slog.Duration(attrDuration, time.Since(start)))
	})
}

// recorder remembers the response code; it keeps Flush working for watches.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ListenAndServe listens on addr (":0" picks a free port), calls ready with
// the bound address once it accepts connections, and serves until ctx is
// cancelled; then it shuts down gracefully and returns nil.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.Serve(ctx, ln)
}

// ShutdownTimeout bounds how long Serve waits for in-flight requests after
// its context is cancelled.
const ShutdownTimeout = 10 * time.Second

// Serve serves on ln until ctx is cancelled, then ends open watches, waits up
// to ShutdownTimeout for in-flight requests and returns nil. ln is closed on
// return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	hs.RegisterOnShutdown(s.endWatches)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// endWatches ends every open watch stream; watches started afterwards end
// at once.
func (s *Server) endWatches() { s.stopOnce.Do(func() { close(s.stopWatches) }) }
