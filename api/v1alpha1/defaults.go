package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetDefaults fills in the defaults Kargo's CRD schemas and defaulting
// webhooks give obj, in place. Kinds without defaults are left alone. It
// never fails: invalid values are left for validation to report.
func SetDefaults(obj any) {
	switch o := obj.(type) {
	case *Warehouse:
		o.Default()
	case *Stage:
		o.Default()
	case *Freight:
		o.Default()
	}
}

// Default applies the Warehouse defaults: interval 5m0s, freight creation
// policy Automatic, each subscription's defaults, and the shard label kept in
// step with spec.shard (a label alone fills an empty spec.shard).
func (w *Warehouse) Default() {
	if w.Spec.Interval.Duration == 0 {
		w.Spec.Interval = metav1.Duration{Duration: 5 * time.Minute}
	}
	if w.Spec.FreightCreationPolicy == "" {
		w.Spec.FreightCreationPolicy = FreightCreationPolicyAutomatic
	}
	for i := range w.Spec.Subscriptions {
		w.Spec.Subscriptions[i].Default()
	}
	switch {
	case w.Spec.Shard != "":
		setLabel(&w.ObjectMeta, LabelKeyShard, w.Spec.Shard)
	case w.Labels[LabelKeyShard] != "":
		w.Spec.Shard = w.Labels[LabelKeyShard]
	}
}

// Default applies the defaults of whichever subscription is set.
func (s *RepoSubscription) Default() {
	switch {
	case s.Git != nil:
		s.Git.Default()
	case s.Image != nil:
		s.Image.Default()
	case s.Chart != nil:
		s.Chart.Default()
	case s.Generic != nil:
		s.Generic.DiscoveryLimit = EffectiveDiscoveryLimit(s.Generic.DiscoveryLimit)
	}
}

// Default sets strategy NewestFromBranch, strictSemvers true and
// discoveryLimit 20 where they are absent (discoveryLimit 0 counts as
// absent).
func (g *GitSubscription) Default() {
	if g.CommitSelectionStrategy == "" {
		g.CommitSelectionStrategy = CommitSelectionStrategyNewestFromBranch
	}
	if g.StrictSemvers == nil {
		g.StrictSemvers = ptrTo(true)
	}
	g.DiscoveryLimit = EffectiveDiscoveryLimit(g.DiscoveryLimit)
}

// Default sets strategy SemVer, strictSemvers true and discoveryLimit 20
// where they are absent (discoveryLimit 0 counts as absent).
func (i *ImageSubscription) Default() {
	if i.ImageSelectionStrategy == "" {
		i.ImageSelectionStrategy = ImageSelectionStrategySemVer
	}
	if i.StrictSemvers == nil {
		i.StrictSemvers = ptrTo(true)
	}
	i.DiscoveryLimit = EffectiveDiscoveryLimit(i.DiscoveryLimit)
}

// Default sets discoveryLimit 20 when it is absent or 0.
func (c *ChartSubscription) Default() {
	c.DiscoveryLimit = EffectiveDiscoveryLimit(c.DiscoveryLimit)
}

// EffectiveDiscoveryLimit returns limit, or DefaultDiscoveryLimit when limit
// is 0 (Kargo treats 0 as "not set").
func EffectiveDiscoveryLimit(limit int32) int32 {
	if limit == 0 {
		return DefaultDiscoveryLimit
	}
	return limit
}

// IsStrictSemvers returns the effective strictSemvers setting (true when
// absent).
func (g *GitSubscription) IsStrictSemvers() bool { return g.StrictSemvers == nil || *g.StrictSemvers }

// IsStrictSemvers returns the effective strictSemvers setting (true when
// absent).
func (i *ImageSubscription) IsStrictSemvers() bool { return i.StrictSemvers == nil || *i.StrictSemvers }

// EffectiveConstraint returns constraint, or the deprecated semverConstraint
// when constraint is empty.
func (i *ImageSubscription) EffectiveConstraint() string {
	if i.Constraint != "" {
		return i.Constraint
	}
	return i.SemverConstraint
}

// Default applies the Stage defaults: auto-promotion selection policy
// NewestFreight where options are given, and the shard label kept in step
// with spec.shard (absent when spec.shard is empty, as Kargo's webhook does).
func (s *Stage) Default() {
	for i := range s.Spec.RequestedFreight {
		if opts := s.Spec.RequestedFreight[i].Sources.AutoPromotionOptions; opts != nil && opts.SelectionPolicy == "" {
			opts.SelectionPolicy = AutoPromotionSelectionPolicyNewestFreight
		}
	}
	if s.Spec.Shard != "" {
		setLabel(&s.ObjectMeta, LabelKeyShard, s.Spec.Shard)
	} else {
		delete(s.Labels, LabelKeyShard)
	}
}

// Default keeps the alias field and the kargo.akuity.io/alias label in
// step: the field wins; a label alone fills an empty field. Generating an
// alias when neither is set needs the store and is done by admission.
func (f *Freight) Default() {
	switch {
	case f.Alias != "":
		setLabel(&f.ObjectMeta, LabelKeyAlias, f.Alias)
	case f.Labels[LabelKeyAlias] != "":
		f.Alias = f.Labels[LabelKeyAlias]
	}
}

// EffectiveErrorThreshold returns the number of consecutive errors that fail
// a step: retry.errorThreshold, or def when it is absent or 0.
func (r *PromotionStepRetry) EffectiveErrorThreshold(def uint32) uint32 {
	if r == nil || r.ErrorThreshold == 0 {
		return def
	}
	return r.ErrorThreshold
}

// EffectiveTimeout returns retry.timeout, or def when it is absent.
func (r *PromotionStepRetry) EffectiveTimeout(def time.Duration) time.Duration {
	if r == nil || r.Timeout == nil {
		return def
	}
	return r.Timeout.Duration
}

func setLabel(meta *metav1.ObjectMeta, key, value string) {
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels[key] = value
}

func ptrTo[T any](v T) *T { return &v }
