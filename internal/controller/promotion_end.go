package controller

// This file holds what follows the end of a Promotion: its terminal status,
// its Event, and the bookkeeping of its Freight and Stage.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// finish records the end of a Promotion whose p.status has a terminal
// phase: the Promotion's status first (the record), then the Event, the
// Freight's and the Stage's bookkeeping, the workspace, and the wake-up of
// the next Promotion of the Stage. Each is idempotent.
func (r *PromotionReconciler) finish(ctx context.Context, p *promotionPass) error {
	if p.status.FinishedAt == nil {
		p.status.FinishedAt = r.now()
	}
	p.status.LastHandledRefresh = p.promo.Annotations[kargoapi.AnnotationKeyRefresh]
	if err := r.writeStatus(ctx, p, &p.status); err != nil {
		return err
	}
	LoggerFrom(ctx).Info("promotion ended", "phase", string(p.status.Phase), "message", p.status.Message)
	return r.bookkeep(ctx, p)
}

// bookkeep does what follows a Promotion's terminal status write.
func (r *PromotionReconciler) bookkeep(ctx context.Context, p *promotionPass) error {
	ns := p.key.Namespace
	if p.freight == nil {
		f, err := r.getFreight(ctx, ns, p.promo.Spec.Freight)
		if err != nil {
			return err
		}
		p.freight = f
	}
	if err := r.emitEvent(ctx, p); err != nil {
		return err
	}
	if p.status.Phase == kargoapi.PromotionPhaseSucceeded && p.status.FreightCollection != nil {
		stage, err := r.getStage(ctx, ns, p.promo.Spec.Stage)
		if err != nil {
			return err
		}
		if stage != nil && needsBookkeeping(stage, p.promo.Name) {
			if err := r.moveFreight(ctx, ns, p.promo.Spec.Stage, stage.Status.FreightHistory.Current(), p.status.FreightCollection); err != nil {
				return err
			}
		}
	}
	if err := r.recordOnStage(ctx, p); err != nil {
		return err
	}
	if err := os.RemoveAll(r.WorkspacePath(ns, p.promo.Name)); err != nil {
		LoggerFrom(ctx).Warn("cannot remove the workspace of a finished promotion", logKeyError, err.Error())
	}
	r.wakeNext(ctx, ns, p.promo.Spec.Stage, p.promo.Name)
	return nil
}

// recordOnStage records the end of the Promotion on its Stage:
// lastPromotion (when it is the newest to end), currentPromotion cleared,
// and on success the new freight collection at the head of freightHistory.
func (r *PromotionReconciler) recordOnStage(ctx context.Context, p *promotionPass) error {
	promo := p.promo
	return r.updateStage(ctx, p.key.Namespace, promo.Spec.Stage, func(st *kargoapi.Stage) bool {
		if !needsBookkeeping(st, promo.Name) {
			return false
		}
		s := &st.Status
		if s.CurrentPromotion != nil && s.CurrentPromotion.Name == promo.Name {
			s.CurrentPromotion = nil
			conditionSet{conds: &s.Conditions}.remove(ConditionPromoting)
		}
		if p.status.Phase == kargoapi.PromotionPhaseSucceeded && p.status.FreightCollection != nil {
			s.FreightHistory.Record(p.status.FreightCollection.DeepCopy())
			s.FreightSummary = freightSummary(len(st.Spec.RequestedFreight), s.FreightHistory.Current())
			// The new Freight's health is not known yet.
			s.Health = nil
		}
		// lastPromotion is the newest Promotion to have ended (a later one may
		// have been aborted while this one ran).
		if s.LastPromotion != nil && s.LastPromotion.Name > promo.Name {
			return true
		}
		status := p.status.DeepCopy()
		if status.FreightCollection == nil {
			// Aborted before it started: the Stage's Freight stays what it was.
			status.FreightCollection = s.FreightHistory.Current().DeepCopy()
		}
		ref := &kargoapi.PromotionReference{Name: promo.Name, Status: status, FinishedAt: status.FinishedAt}
		if status.Freight != nil {
			ref.Freight = status.Freight.DeepCopy()
		}
		s.LastPromotion = ref
		return true
	})
}

// freightSummary is Kargo's one-line summary of a Stage's current Freight:
// the Freight's name when the Stage requests one origin, else "n/m
// Fulfilled".
func freightSummary(requested int, cur *kargoapi.FreightCollection) string {
	if cur == nil {
		return fmt.Sprintf("0/%d Fulfilled", requested)
	}
	if requested == 1 && len(cur.Freight) == 1 {
		for _, f := range cur.Freight {
			return f.Name
		}
	}
	return fmt.Sprintf("%d/%d Fulfilled", len(cur.Freight), requested)
}

// moveFreight updates status.currentlyIn of the Freight entering and
// leaving the Stage: the new collection's Freight is in it since now (kept
// when already in it), the old collection's other Freight is not; a
// leaving Freight verified in the Stage keeps its longest soak there.
func (r *PromotionReconciler) moveFreight(ctx context.Context, ns, stage string, old, next *kargoapi.FreightCollection) error {
	now := r.now()
	entering := map[string]bool{}
	for _, ref := range next.Freight {
		entering[ref.Name] = true
	}
	for name := range entering {
		err := r.updateFreight(ctx, ns, name, func(f *kargoapi.Freight) bool {
			if _, in := f.Status.CurrentlyIn[stage]; in {
				return false
			}
			if f.Status.CurrentlyIn == nil {
				f.Status.CurrentlyIn = map[string]kargoapi.CurrentStage{}
			}
			f.Status.CurrentlyIn[stage] = kargoapi.CurrentStage{Since: now}
			return true
		})
		if err != nil {
			return err
		}
	}
	if old == nil {
		return nil
	}
	for _, ref := range old.Freight {
		if entering[ref.Name] {
			continue
		}
		err := r.updateFreight(ctx, ns, ref.Name, func(f *kargoapi.Freight) bool {
			cur, in := f.Status.CurrentlyIn[stage]
			if !in {
				return false
			}
			delete(f.Status.CurrentlyIn, stage)
			if v, ok := f.Status.VerifiedIn[stage]; ok && cur.Since != nil {
				soak := now.Sub(cur.Since.Time)
				if v.LongestCompletedSoak == nil || soak > v.LongestCompletedSoak.Duration {
					v.LongestCompletedSoak = &metav1.Duration{Duration: soak}
					f.Status.VerifiedIn[stage] = v
				}
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// emitEvent records the end of the Promotion as a v1 Event in its
// namespace, with Kargo's reason and annotations. The Event's name is
// derived from the Promotion's, so that a repeated finish does not emit a
// second one.
func (r *PromotionReconciler) emitEvent(ctx context.Context, p *promotionPass) error {
	var reason string
	switch p.status.Phase {
	case kargoapi.PromotionPhaseSucceeded:
		reason = EventReasonPromotionSucceeded
	case kargoapi.PromotionPhaseFailed:
		reason = EventReasonPromotionFailed
	case kargoapi.PromotionPhaseErrored:
		reason = EventReasonPromotionErrored
	case kargoapi.PromotionPhaseAborted:
		reason = EventReasonPromotionAborted
	default:
		return nil
	}
	promo := p.promo
	ann := map[string]string{
		kargoapi.AnnotationKeyEventProject:             promo.Namespace,
		kargoapi.AnnotationKeyEventPromotionName:       promo.Name,
		kargoapi.AnnotationKeyEventFreightName:         promo.Spec.Freight,
		kargoapi.AnnotationKeyEventStageName:           promo.Spec.Stage,
		kargoapi.AnnotationKeyEventPromotionCreateTime: promo.CreationTimestamp.UTC().Format(time.RFC3339),
	}
	msg := "Promotion " + string(p.status.Phase)
	if p.status.Message != "" {
		msg += ": " + p.status.Message
	}
	if actor := promo.Annotations[kargoapi.AnnotationKeyCreateActor]; actor != "" {
		ann[kargoapi.AnnotationKeyEventActor] = actor
	}
	if p.status.Phase == kargoapi.PromotionPhaseAborted {
		// Who aborted, not who created it.
		req, _ := abortRequest(promo)
		if cur, ok := r.abortRequestNow(ctx, p.key); ok {
			req = cur
		}
		ann[kargoapi.AnnotationKeyEventActor] = abortActor(req)
		msg = p.status.Message
	}
	if f := p.freight; f != nil {
		ann[kargoapi.AnnotationKeyEventFreightCreateTime] = f.CreationTimestamp.UTC().Format(time.RFC3339)
		ann[kargoapi.AnnotationKeyEventFreightAlias] = f.Alias
		for key, v := range map[string]any{
			kargoapi.AnnotationKeyEventFreightCommits: f.Commits,
			kargoapi.AnnotationKeyEventFreightImages:  f.Images,
			kargoapi.AnnotationKeyEventFreightCharts:  f.Charts,
		} {
			if b, err := json.Marshal(v); err == nil && string(b) != "null" {
				ann[key] = string(b)
			}
		}
	}
	if p.status.Phase == kargoapi.PromotionPhaseSucceeded {
		if stage, err := r.getStage(ctx, promo.Namespace, promo.Spec.Stage); err == nil && stage != nil {
			ann[kargoapi.AnnotationKeyEventVerificationPending] = fmt.Sprint(stage.Spec.Verification != nil)
		}
	}
	now := r.now().UTC().Format(time.RFC3339)
	annotations := make(map[string]any, len(ann))
	for k, v := range ann {
		annotations[k] = v
	}
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Event",
		"metadata": map[string]any{
			"name":        eventName(promo.Name, reason),
			"namespace":   promo.Namespace,
			"annotations": annotations,
		},
		"involvedObject": map[string]any{
			"apiVersion":      kargoapi.GroupVersion.String(),
			"kind":            "Promotion",
			"namespace":       promo.Namespace,
			"name":            promo.Name,
			"uid":             string(promo.UID),
			"resourceVersion": p.obj.GetResourceVersion(),
		},
		"reason":             reason,
		"message":            msg,
		"type":               "Normal",
		"source":             map[string]any{"component": PromotionControllerName},
		"reportingComponent": PromotionControllerName,
		"firstTimestamp":     now,
		"lastTimestamp":      now,
		"count":              int64(1),
		"action":             "Promote",
		"reportingInstance":  "caravan",
	}}
	if _, err := r.store.Create(ctx, ev); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create event for promotion %s: %w", p.key, err)
	}
	return nil
}

// eventName is "<promotion>.<reason in lowercase>", the promotion part
// shortened to keep the name within 253 characters.
func eventName(promo, reason string) string {
	suffix := "." + strings.ToLower(reason)
	if len(promo)+len(suffix) > 253 {
		promo = strings.TrimRight(promo[:253-len(suffix)], ".-")
	}
	return promo + suffix
}
