package controller

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/pipeline"
	"github.com/caravan-dev/caravan/internal/store"
)

// runPipeline starts the Promotion and Stage runners over e's store; they
// stop when the test ends.
func (e *stageEnv) runPipeline(t *testing.T) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	promos, err := NewPromotionRunner(e.st, e.promos, RunnerOptions{Workers: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stages, err := NewStageRunner(e.st, e.stages, RunnerOptions{Workers: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var m Manager
	m.Add(promos, stages)
	ctx, cancel := context.WithCancel(context.Background())
	wait := m.Start(ctx)
	t.Cleanup(func() {
		cancel()
		wait()
		if t.Failed() {
			e.dump(t)
		}
	})
}

// dump logs every Stage's conditions and Promotions, to tell why a
// pipeline stopped.
func (e *stageEnv) dump(t *testing.T) {
	list, err := e.st.List(context.Background(), "Stage", "p", store.ListOptions{})
	if err != nil {
		return
	}
	for _, u := range list.Items {
		st := e.getStage(t, u.GetName())
		t.Logf("stage %s: current %q", st.Name, e.current(t, st.Name))
		for _, c := range st.Status.Conditions {
			t.Logf("  %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
		for _, p := range e.promotionsOf(t, st.Name) {
			t.Logf("  promotion %s of %s: %s %s", p.Name, p.Spec.Freight, p.Status.Phase, p.Status.Message)
		}
	}
}

// TestPipelineAutoPromotion: new Freight flows from its Warehouse to the
// last of seven Stages by auto-promotion alone, through a control-flow
// Stage, a fan-out, a fan-in needing All upstream Stages and one needing
// OneOf:
//
//	test ─► gate (control flow) ─┬► uat-a ─┬──────────────► prod-all (All of uat-a, uat-b) ─┐
//	                             └► uat-b ─┴► prod-any (OneOf uat-b, prod-all) ◄───────────┘
//	                                          prod-any ─► final
func TestPipelineAutoPromotion(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "glob:*")
	e.stage(t, "test", "direct: true", noop)
	e.stage(t, "gate", "stages: [test]", "")
	e.stage(t, "uat-a", "stages: [gate]", noop)
	e.stage(t, "uat-b", "stages: [gate]", noop)
	e.stage(t, "prod-all", "stages: [uat-a, uat-b], availabilityStrategy: All", noop)
	e.stage(t, "prod-any", "stages: [uat-b, prod-all]", noop)
	e.stage(t, "final", "stages: [prod-any]", noop)
	withSteps := []string{"test", "uat-a", "uat-b", "prod-all", "prod-any", "final"}
	e.runPipeline(t)

	for round := range 2 {
		f := e.newFreight(t)
		// prod-any may take the Freight from uat-b before prod-all has it
		// (OneOf), so wait for every Stage, not only the last.
		var fr *kargoapi.Freight
		poll(t, "the Freight to reach and be verified in every Stage", func() bool {
			fr = e.getFreight(t, f)
			for _, name := range append(withSteps, "gate") {
				if !pipeline.VerifiedIn(fr, name) || (name != "gate" && e.current(t, name) != f) {
					return false
				}
			}
			return true
		})
		// prod-all was promoted only once both of its upstream Stages had
		// verified the Freight.
		var promo *kargoapi.Promotion
		for _, p := range e.promotionsOf(t, "prod-all") {
			if p.Spec.Freight == f {
				promo = &p
			}
		}
		if promo == nil {
			t.Fatalf("round %d: no Promotion of the Freight into prod-all", round)
		}
		for _, up := range []string{"uat-a", "uat-b"} {
			if at := fr.Status.VerifiedIn[up].VerifiedAt; at == nil || promo.CreationTimestamp.Before(at) {
				t.Errorf("round %d: prod-all promoted at %s, before verification in %s at %v", round, promo.CreationTimestamp, up, at)
			}
		}
	}

	for _, name := range withSteps {
		promos := e.promotionsOf(t, name)
		if len(promos) != 2 {
			t.Errorf("stage %s has %d Promotions, want one per Freight", name, len(promos))
		}
		for _, p := range promos {
			if actor := p.Annotations[kargoapi.AnnotationKeyCreateActor]; !strings.HasPrefix(actor, "controller:") {
				t.Errorf("promotion %s was created by %q, not by auto-promotion", p.Name, actor)
			}
		}
	}
	gate := e.getStage(t, "gate")
	if n := len(e.promotionsOf(t, "gate")); n != 0 || gate.Status.FreightSummary != "N/A" {
		t.Errorf("control-flow gate: %d promotions, summary %q", n, gate.Status.FreightSummary)
	}
	poll(t, "final to be Ready", func() bool {
		st := e.getStage(t, "final")
		for _, c := range st.Status.Conditions {
			if c.Type == ConditionReady {
				return c.Status == "True"
			}
		}
		return false
	})
}
