package promotion

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// Test fixtures: small steps with scripted behaviour, an in-memory Lookups,
// a clock the test moves, and a harness that saves the status as JSON the
// way a store would.

// scriptStep is a step whose behaviour a test scripts. It records every
// run.
type scriptStep struct {
	name   string
	schema string
	// do decides the result of the n-th run (from 1).
	do func(n int, sc *StepContext) (StepResult, error)
	// taskOutput makes it a TaskOutputStep.
	taskOutput bool

	mu   sync.Mutex
	runs []stepRun
}

// stepRun is what one run of a scriptStep saw.
type stepRun struct {
	alias   string
	config  map[string]any
	attempt int
	outputs map[string]map[string]any
}

func (s *scriptStep) Name() string { return s.name }

func (s *scriptStep) Schema() []byte {
	if s.schema == "" {
		return nil
	}
	return []byte(s.schema)
}

func (s *scriptStep) Run(_ context.Context, sc *StepContext) (StepResult, error) {
	var cfg map[string]any
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		return StepResult{}, err
	}
	s.mu.Lock()
	s.runs = append(s.runs, stepRun{alias: sc.Alias, config: cfg, attempt: sc.Attempt, outputs: sc.Outputs})
	n := len(s.runs)
	s.mu.Unlock()
	if s.do == nil {
		return StepResult{Status: StepStatusSucceeded}, nil
	}
	return s.do(n, sc)
}

func (s *scriptStep) TaskOutput() bool { return s.taskOutput }

// runsOf returns the runs so far.
func (s *scriptStep) runsOf() []stepRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stepRun(nil), s.runs...)
}

// ok succeeds with an output.
func ok(out map[string]any) func(int, *StepContext) (StepResult, error) {
	return func(int, *StepContext) (StepResult, error) {
		return StepResult{Status: StepStatusSucceeded, Output: out}, nil
	}
}

// echo succeeds with its config as its output.
func echo(_ int, sc *StepContext) (StepResult, error) {
	var out map[string]any
	if err := json.Unmarshal(sc.Config, &out); err != nil {
		return StepResult{}, err
	}
	return StepResult{Status: StepStatusSucceeded, Output: out}, nil
}

// testLookups is an in-memory Lookups.
type testLookups struct {
	secrets    map[string]map[string]string // "namespace/name"
	configMaps map[string]map[string]string
	freightMD  map[string]map[string]any // "project/freight"
	warehouses map[string]*kargoapi.Warehouse
	err        error
}

func (l *testLookups) Secret(_ context.Context, ns, name string) (map[string]string, error) {
	return l.secrets[ns+"/"+name], l.err
}

func (l *testLookups) ConfigMap(_ context.Context, ns, name string) (map[string]string, error) {
	return l.configMaps[ns+"/"+name], l.err
}

func (l *testLookups) FreightMetadata(_ context.Context, project, freight string) (map[string]any, error) {
	return l.freightMD[project+"/"+freight], l.err
}

func (l *testLookups) FreightStatus(context.Context, string, string) (map[string]any, error) {
	return nil, l.err
}

func (l *testLookups) StageMetadata(context.Context, string, string) (map[string]any, error) {
	return nil, l.err
}

func (l *testLookups) Warehouse(_ context.Context, _, name string) (*kargoapi.Warehouse, error) {
	return l.warehouses[name], l.err
}

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock { return &testClock{now: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness runs promotions and keeps their saved status as JSON, as a store
// would.
type harness struct {
	t       testing.TB
	clock   *testClock
	lookups *testLookups
	steps   []Step
	engine  *Engine
	// saved is the last saved status, as JSON; saves counts the saves.
	mu    sync.Mutex
	saved []byte
	saves int
}

func newHarness(t testing.TB, steps ...Step) *harness {
	h := &harness{t: t, clock: newClock(), lookups: &testLookups{}, steps: steps}
	h.rebuild()
	return h
}

// rebuild makes a new Engine over the same steps, as a restarted server
// would.
func (h *harness) rebuild() {
	h.engine = NewEngine(EngineOptions{
		Registry: NewRegistry(h.steps...),
		Lookups:  h.lookups,
		Clock:    h.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func (h *harness) save(_ context.Context, st *kargoapi.PromotionStatus) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.saved, h.saves = raw, h.saves+1
	h.mu.Unlock()
	return nil
}

// stored returns the last saved status.
func (h *harness) stored() *kargoapi.PromotionStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &kargoapi.PromotionStatus{}
	if h.saved != nil {
		if err := json.Unmarshal(h.saved, st); err != nil {
			h.t.Fatal(err)
		}
	}
	return st
}

// run runs in from the stored status and returns the result and the
// status as stored afterwards.
func (h *harness) run(in Input) (RunResult, *kargoapi.PromotionStatus) {
	h.t.Helper()
	st := h.stored()
	res, err := h.engine.Run(context.Background(), in, st, h.save)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return res, h.stored()
}

// input returns an Input over steps written as YAML-ish JSON.
func input(t testing.TB, steps ...kargoapi.PromotionStep) Input {
	t.Helper()
	ref := kargoapi.FreightReference{
		Name:    "f0123456789",
		Origin:  kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: "shop"},
		Images:  []kargoapi.Image{{RepoURL: "ghcr.io/acme/shop", Tag: "1.2.0", Digest: "sha256:abc"}},
		Commits: []kargoapi.GitCommit{{RepoURL: "https://git.example.com/shop.git", ID: "0a1b2c"}},
	}
	return Input{
		Project: "acme", Stage: "uat", Promotion: "uat.01j.f012345", Actor: "email:dev@example.com",
		Steps:         steps,
		Freight:       kargoapi.FreightCollection{Freight: map[string]kargoapi.FreightReference{ref.Origin.String(): ref}},
		TargetFreight: ref,
		WorkDir:       t.TempDir(),
	}
}

// step builds a PromotionStep; config is JSON.
func step(uses, as, config string) kargoapi.PromotionStep {
	s := kargoapi.PromotionStep{Uses: uses, As: as}
	if config != "" {
		s.Config = &kargoapi.JSON{Raw: []byte(config)}
	}
	return s
}

// statuses lists the steps' statuses.
func statuses(st *kargoapi.PromotionStatus) string {
	parts := make([]string, len(st.StepExecutionMetadata))
	for i, m := range st.StepExecutionMetadata {
		parts[i] = string(m.Status)
	}
	return strings.Join(parts, ",")
}

// outputs decodes the saved outputs.
func outputs(t testing.TB, st *kargoapi.PromotionStatus) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := st.State.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
