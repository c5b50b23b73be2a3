package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// ---- test steps ----

// testSteps are the steps the tests' promotions run. They record every run
// as "<promotion>/<alias>#<attempt>".
type testSteps struct {
	mu      sync.Mutex
	runs    []string
	gates   map[string]chan struct{} // closed: open
	ready   map[string]bool          // test-wait keys that may pass
	entered chan string              // promotions whose test-gate step waits
}

func newTestSteps() *testSteps {
	return &testSteps{gates: map[string]chan struct{}{}, ready: map[string]bool{}, entered: make(chan string, 64)}
}

func (ts *testSteps) record(sc *promotion.StepContext) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.runs = append(ts.runs, fmt.Sprintf("%s/%s#%d", sc.Promotion, sc.Alias, sc.Attempt))
}

// ran returns the recorded runs of promotion, without its name.
func (ts *testSteps) ran(promo string) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []string
	for _, r := range ts.runs {
		if rest, ok := strings.CutPrefix(r, promo+"/"); ok {
			out = append(out, rest)
		}
	}
	return out
}

func (ts *testSteps) gate(name string) chan struct{} {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.gates[name]
	if !ok {
		g = make(chan struct{})
		ts.gates[name] = g
	}
	return g
}

func (ts *testSteps) open(name string) { close(ts.gate(name)) }

func (ts *testSteps) setReady(key string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.ready[key] = true
}

func (ts *testSteps) registry() promotion.Registry {
	return promotion.NewRegistry(
		testStep{"test-record", `{"type":"object","properties":{"value":{"type":"string"},"file":{"type":"string"}},"additionalProperties":false}`,
			func(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
				ts.record(sc)
				var cfg struct{ Value, File string }
				if err := decodeConfig(sc, &cfg); err != nil {
					return promotion.StepResult{}, err
				}
				if cfg.File != "" {
					p, err := sc.Path(cfg.File)
					if err != nil {
						return promotion.StepResult{}, retry.Terminal(err)
					}
					if err := os.WriteFile(p, []byte(cfg.Value), 0o600); err != nil {
						return promotion.StepResult{}, err
					}
				}
				return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{"value": cfg.Value}}, nil
			}},
		testStep{"test-check", `{"type":"object","properties":{"file":{"type":"string"}},"required":["file"]}`,
			func(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
				ts.record(sc)
				var cfg struct{ File string }
				if err := decodeConfig(sc, &cfg); err != nil {
					return promotion.StepResult{}, err
				}
				p, err := sc.Path(cfg.File)
				if err != nil {
					return promotion.StepResult{}, retry.Terminal(err)
				}
				if _, err := os.Stat(p); err != nil {
					return promotion.StepResult{Status: promotion.StepStatusFailed, Message: cfg.File + " is missing from the workspace"}, nil
				}
				return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
			}},
		testStep{"test-gate", `{"type":"object","properties":{"gate":{"type":"string"}},"required":["gate"]}`,
			func(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
				ts.record(sc)
				var cfg struct{ Gate string }
				if err := decodeConfig(sc, &cfg); err != nil {
					return promotion.StepResult{}, err
				}
				g := ts.gate(cfg.Gate)
				ts.entered <- sc.Promotion
				select {
				case <-g:
					return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
				case <-ctx.Done():
					return promotion.StepResult{}, ctx.Err()
				}
			}},
		testStep{"test-wait", `{"type":"object","properties":{"key":{"type":"string"}},"required":["key"]}`,
			func(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
				ts.record(sc)
				var cfg struct{ Key string }
				if err := decodeConfig(sc, &cfg); err != nil {
					return promotion.StepResult{}, err
				}
				ts.mu.Lock()
				ok := ts.ready[cfg.Key]
				ts.mu.Unlock()
				if !ok {
					return promotion.StepResult{Status: promotion.StepStatusRunning, Message: "not yet", RetryAfter: 20 * time.Millisecond}, nil
				}
				return promotion.StepResult{Status: promotion.StepStatusSucceeded}, nil
			}},
		testStep{"test-fail", "", func(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
			ts.record(sc)
			return promotion.StepResult{Status: promotion.StepStatusFailed, Message: "the test step says no"}, nil
		}},
		testStep{"test-error", "", func(_ context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
			ts.record(sc)
			return promotion.StepResult{}, retry.Terminal(errors.New("the test step broke"))
		}},
	)
}

// testStep is a promotion.Step made of a function.
type testStep struct {
	name, schema string
	run          func(context.Context, *promotion.StepContext) (promotion.StepResult, error)
}

func (s testStep) Name() string { return s.name }
func (s testStep) Schema() []byte {
	if s.schema == "" {
		return nil
	}
	return []byte(s.schema)
}
func (s testStep) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	return s.run(ctx, sc)
}

func decodeConfig(sc *promotion.StepContext, into any) error {
	if len(sc.Config) == 0 {
		return nil
	}
	return yaml.Unmarshal(sc.Config, into)
}
