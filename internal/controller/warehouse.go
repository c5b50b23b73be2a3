package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/expr"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store"
)

// AnnotationKeyDiscoveredAt records on Freight when the discovery that made
// it ran (RFC 3339), so lead times can be computed from discovery onwards.
const AnnotationKeyDiscoveredAt = "caravan.akuity.io/discovered-at"

// DefaultDiscoveryTimeout bounds one discovery pass of one Warehouse.
const DefaultDiscoveryTimeout = 5 * time.Minute

// GitDiscoverer finds the commits a Git subscription selects
// (*git.Mirrors implements it).
type GitDiscoverer interface {
	Discover(ctx context.Context, sub *kargoapi.GitSubscription, creds *discovery.Credentials) (*kargoapi.GitDiscoveryResult, error)
}

// ImageDiscoverer finds the images an image subscription selects
// (*image.Discoverer implements it).
type ImageDiscoverer interface {
	Discover(ctx context.Context, sub *kargoapi.ImageSubscription, creds *discovery.Credentials) (*kargoapi.ImageDiscoveryResult, error)
}

// ChartDiscoverer finds the chart versions a chart subscription selects
// (*chart.Discoverer implements it).
type ChartDiscoverer interface {
	Discover(ctx context.Context, sub *kargoapi.ChartSubscription, creds *discovery.Credentials) (*kargoapi.ChartDiscoveryResult, error)
}

// WarehouseOptions are the dependencies of a WarehouseReconciler. Store,
// Git, Images and Charts are required.
type WarehouseOptions struct {
	// Store is the admission-wrapped store: Freight created through it gets
	// its ID as name and an alias.
	Store store.Store
	// Git, Images and Charts discover artifacts.
	Git    GitDiscoverer
	Images ImageDiscoverer
	Charts ChartDiscoverer
	// Credentials finds repository credentials; nil means none are used.
	Credentials discovery.CredentialsLookup
	// Clock tells the time of discoveries; the real clock when nil.
	Clock clock.PassiveClock
	// DiscoveryTimeout bounds one pass; DefaultDiscoveryTimeout when zero.
	DiscoveryTimeout time.Duration
}

// WarehouseReconciler discovers the artifacts of Warehouses and makes
// Freight of the newest ones (Kargo's Warehouse controller). A pass runs
// these named steps in order and ends in one status write:
//
//  1. load: read the Warehouse; a missing or deleting one is left alone.
//  2. schedule: discover only when due — never discovered, the spec changed
//     (generation ≠ status.observedGeneration), a new value of the
//     kargo.akuity.io/refresh annotation (≠ status.lastHandledRefresh), a
//     failed discovery awaiting its retry, or spec.interval elapsed since
//     the last discovery; otherwise wait for the rest of the interval. A
//     Stalled Warehouse waits for a change of its spec or a refresh.
//  3. discover: every subscription at once, each with the credentials of its
//     repository (project first, then the shared namespace). A failing
//     subscription does not keep the others' results out of the status.
//  4. freight: with freightCreationPolicy Automatic and an artifact from
//     every subscription, build Freight from the newest artifact of each,
//     evaluate freightCreationCriteria.expression, and create it through the
//     store (origin the Warehouse; admission names it by its ID and gives
//     it an alias). Freight that already exists is the same Freight: the
//     same artifacts never make two.
//  5. status: discoveredArtifacts, observedGeneration, lastHandledRefresh
//     (also when discovery failed, so a waiting `caravan refresh --wait`
//     returns), lastFreightID and the conditions (see conditions.go).
//
// The outcome decides the next pass: an invalid subscription (discovery.ErrInvalid)
// or Freight that admission refuses is terminal (Stalled, until the spec
// changes); other failures are retried with backoff, at most spec.interval
// apart; success comes back after spec.interval.
type WarehouseReconciler struct {
	store   store.Store
	git     GitDiscoverer
	images  ImageDiscoverer
	charts  ChartDiscoverer
	creds   discovery.CredentialsLookup
	clock   clock.PassiveClock
	timeout time.Duration
}

// NewWarehouseReconciler returns a reconciler with the given dependencies.
func NewWarehouseReconciler(opts WarehouseOptions) (*WarehouseReconciler, error) {
	if opts.Store == nil || opts.Git == nil || opts.Images == nil || opts.Charts == nil {
		return nil, errors.New("create warehouse reconciler: Store, Git, Images and Charts are required")
	}
	r := &WarehouseReconciler{
		store:   opts.Store,
		git:     opts.Git,
		images:  opts.Images,
		charts:  opts.Charts,
		creds:   opts.Credentials,
		clock:   opts.Clock,
		timeout: opts.DiscoveryTimeout,
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.timeout <= 0 {
		r.timeout = DefaultDiscoveryTimeout
	}
	return r, nil
}

// NewWarehouseRunner returns the runner of rec over every Warehouse in s.
// Changes of credentials Secrets (labelled kargo.akuity.io/cred-type) wake
// the Warehouses of their project, or every Warehouse for a Secret in
// sharedNamespace, so that a Warehouse waiting to retry after "authentication
// failed" tries again as soon as its credentials are fixed.
func NewWarehouseRunner(s store.Store, rec *WarehouseReconciler, opts RunnerOptions, sharedNamespace string) (*Runner, error) {
	opts.Kind = "Warehouse"
	opts.Reconciler = rec
	if opts.Name == "" {
		opts.Name = "warehouse"
	}
	r, err := NewRunner(s, opts)
	if err != nil {
		return nil, err
	}
	credsLabel, err := labels.NewRequirement(kargoapi.LabelKeyCredentialType, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("create warehouse runner: %w", err)
	}
	err = r.Watch(s, "Secret", "", labels.NewSelector().Add(*credsLabel), func(obj *unstructured.Unstructured) []Key {
		if obj.GetNamespace() == sharedNamespace {
			return r.Keys("")
		}
		return r.Keys(obj.GetNamespace())
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// subOutcome is what discovery made of one subscription.
type subOutcome struct {
	desc  string // names the subscription in messages
	git   *kargoapi.GitDiscoveryResult
	image *kargoapi.ImageDiscoveryResult
	chart *kargoapi.ChartDiscoveryResult
	err   error
	// noMatch says why nothing matched, when the discoverer said so.
	noMatch string
	secret  []string // credential values to keep out of messages
}

// found reports whether the subscription produced at least one artifact.
func (o *subOutcome) found() bool {
	switch {
	case o.git != nil:
		return len(o.git.Commits) > 0
	case o.image != nil:
		return len(o.image.References) > 0
	case o.chart != nil:
		return len(o.chart.Versions) > 0
	}
	return false
}

// warehousePass carries one reconcile of one Warehouse through its steps.
type warehousePass struct {
	key      Key
	obj      *unstructured.Unstructured
	w        *kargoapi.Warehouse
	now      time.Time
	status   kargoapi.WarehouseStatus
	conds    conditionSet
	outcomes []*subOutcome
	// err is what the pass returns after the status write.
	err error
}

// Reconcile runs one pass over the Warehouse key names.
func (r *WarehouseReconciler) Reconcile(ctx context.Context, key Key) (Result, error) {
	p, err := r.load(ctx, key)
	if p == nil || err != nil {
		return Result{}, err
	}
	interval := warehouseInterval(p.w)
	why, wait := r.schedule(p)
	if why == "" {
		return Result{RequeueAfter: wait}, nil
	}
	LoggerFrom(ctx).Debug("discovering artifacts", "reason", why)
	r.discover(ctx, p)
	if ctx.Err() != nil {
		// Stopping: leave the status as it was for the next run.
		return Result{}, ctx.Err()
	}
	r.freight(ctx, p)
	if err := r.writeStatus(ctx, p); err != nil {
		return Result{RequeueAfter: interval}, err
	}
	// The interval paces the next pass, and caps the backoff of a failed one.
	return Result{RequeueAfter: interval}, p.err
}

// load reads and decodes the Warehouse; nil when there is nothing to do.
func (r *WarehouseReconciler) load(ctx context.Context, key Key) (*warehousePass, error) {
	obj, err := r.store.Get(ctx, "Warehouse", key.Namespace, key.Name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get warehouse %s: %w", key, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return nil, nil
	}
	w := &kargoapi.Warehouse{}
	if err := decodeObject(obj, w); err != nil {
		return nil, retry.Terminal(fmt.Errorf("decode warehouse %s: %w", key, err))
	}
	now := r.clock.Now()
	p := &warehousePass{key: key, obj: obj, w: w, now: now, status: *w.Status.DeepCopy()}
	p.conds = conditionSet{conds: &p.status.Conditions, generation: w.Generation, now: metav1.NewTime(now)}
	return p, nil
}

// schedule says why discovery is due now, or how long until it is (zero:
// not until the Warehouse changes).
func (r *WarehouseReconciler) schedule(p *warehousePass) (why string, wait time.Duration) {
	st := &p.w.Status
	refresh := p.w.Annotations[kargoapi.AnnotationKeyRefresh]
	switch {
	case st.DiscoveredArtifacts == nil || st.DiscoveredArtifacts.DiscoveredAt.IsZero():
		return "first discovery", 0
	case p.w.Generation != st.ObservedGeneration:
		return "spec changed", 0
	case refresh != "" && refresh != st.LastHandledRefresh:
		return "refresh requested", 0
	case meta.IsStatusConditionTrue(st.Conditions, ConditionStalled):
		return "", 0
	case meta.IsStatusConditionTrue(st.Conditions, ConditionReconciling):
		return "retrying after a failure", 0
	}
	next := st.DiscoveredArtifacts.DiscoveredAt.Add(warehouseInterval(p.w))
	if !p.now.Before(next) {
		return "interval elapsed", 0
	}
	return "", next.Sub(p.now)
}

// discover runs every subscription's discovery concurrently and records
// what was found in p.status.discoveredArtifacts.
func (r *WarehouseReconciler) discover(ctx context.Context, p *warehousePass) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	subs := p.w.Spec.Subscriptions
	p.outcomes = make([]*subOutcome, len(subs))
	var g errgroup.Group
	for i := range subs {
		o := &subOutcome{desc: describeSubscription(&subs[i])}
		p.outcomes[i] = o
		g.Go(func() error {
			r.discoverOne(ctx, p.w.Namespace, &subs[i], o)
			return nil
		})
	}
	_ = g.Wait()

	found := &kargoapi.DiscoveredArtifacts{DiscoveredAt: metav1.NewTime(p.now)}
	for _, o := range p.outcomes {
		switch {
		case o.git != nil:
			found.Git = append(found.Git, *o.git)
		case o.image != nil:
			found.Images = append(found.Images, *o.image)
		case o.chart != nil:
			found.Charts = append(found.Charts, *o.chart)
		}
	}
	p.status.DiscoveredArtifacts = found
	p.status.ObservedGeneration = p.w.Generation
	p.status.LastHandledRefresh = p.w.Annotations[kargoapi.AnnotationKeyRefresh]
}

// discoverOne discovers one subscription into o. A subscription that
// matches nothing (discovery.ErrNoMatch) gets an empty result, not an error.
func (r *WarehouseReconciler) discoverOne(ctx context.Context, project string, sub *kargoapi.RepoSubscription, o *subOutcome) {
	lookup := func(t discovery.CredentialType, repoURL string) (*discovery.Credentials, error) {
		if r.creds == nil {
			return nil, nil
		}
		c, err := r.creds.Lookup(ctx, project, t, repoURL)
		if err != nil {
			return nil, fmt.Errorf("look up %s credentials: %w", t, err)
		}
		if c != nil {
			o.secret = append(o.secret, c.Password, c.SSHPrivateKey)
		}
		return c, nil
	}
	switch {
	case sub.Git != nil:
		var c *discovery.Credentials
		if c, o.err = lookup(discovery.CredentialTypeGit, sub.Git.RepoURL); o.err == nil {
			o.git, o.err = r.git.Discover(ctx, sub.Git, c)
		}
	case sub.Image != nil:
		var c *discovery.Credentials
		if c, o.err = lookup(discovery.CredentialTypeImage, sub.Image.RepoURL); o.err == nil {
			o.image, o.err = r.images.Discover(ctx, sub.Image, c)
		}
	case sub.Chart != nil:
		var c *discovery.Credentials
		if c, o.err = lookup(discovery.CredentialTypeHelm, sub.Chart.RepoURL); o.err == nil {
			o.chart, o.err = r.charts.Discover(ctx, sub.Chart, c)
		}
	case sub.Generic != nil:
		o.err = discovery.NewError(discovery.ErrInvalid,
			"Caravan has no subscriber for artifact type %q: use a git, image or chart subscription instead",
			sub.Generic.SubscriptionType)
	default:
		o.err = discovery.NewError(discovery.ErrInvalid, "the subscription names no repository: give it one of git, image or chart")
	}
	if errors.Is(o.err, discovery.ErrNoMatch) {
		o.noMatch, o.err = o.err.Error(), nil
		o.git, o.image, o.chart = nil, nil, nil
	}
	if o.err != nil {
		// Only the failure is kept; a half result would look like a success.
		o.git, o.image, o.chart = nil, nil, nil
		return
	}
	// Nothing matched: an empty result, which the status shows as such.
	switch {
	case sub.Git != nil && o.git == nil:
		o.git = &kargoapi.GitDiscoveryResult{RepoURL: sub.Git.RepoURL, Commits: []kargoapi.DiscoveredCommit{}}
	case sub.Image != nil && o.image == nil:
		o.image = &kargoapi.ImageDiscoveryResult{RepoURL: sub.Image.RepoURL, Platform: sub.Image.Platform,
			References: []kargoapi.DiscoveredImageReference{}}
	case sub.Chart != nil && o.chart == nil:
		o.chart = &kargoapi.ChartDiscoveryResult{RepoURL: sub.Chart.RepoURL, Name: sub.Chart.Name,
			SemverConstraint: sub.Chart.SemverConstraint, Versions: []string{}}
	}
}

// freight judges the discovery and, when everything was found and the
// policy and criteria allow, creates Freight from the newest artifacts.
// It sets the conditions and p.err.
func (r *WarehouseReconciler) freight(ctx context.Context, p *warehousePass) {
	c := p.conds
	c.remove(ConditionFreightCreated)
	c.remove(ConditionFreightCreationCriteriaSatisfied)
	r.deprecations(p)

	var invalid, failed, empty []string
	for _, o := range p.outcomes {
		switch {
		case o.err != nil && errors.Is(o.err, discovery.ErrInvalid):
			invalid = append(invalid, o.desc+": "+redact(o.err.Error(), o.secret))
		case o.err != nil:
			failed = append(failed, o.desc+": "+redact(o.err.Error(), o.secret))
		case !o.found():
			why := o.noMatch
			if why == "" {
				why = "nothing matches its filters; check its constraint, branch and tag filters"
			}
			empty = append(empty, o.desc+": "+redact(why, o.secret))
		}
	}
	switch {
	case len(invalid) > 0:
		msg := strings.Join(append(invalid, failed...), "; ")
		c.set(ConditionReady, metav1.ConditionFalse, ReasonInvalidSubscription, msg)
		c.set(ConditionStalled, metav1.ConditionTrue, ReasonInvalidSubscription, msg+" (fix the Warehouse's spec; discovery resumes when it changes)")
		c.remove(ConditionReconciling)
		p.err = retry.Terminal(fmt.Errorf("discover artifacts of warehouse %s: %s", p.key, msg))
		return
	case len(failed) > 0:
		msg := strings.Join(failed, "; ")
		c.set(ConditionReady, metav1.ConditionFalse, ReasonDiscoveryFailed, msg)
		c.set(ConditionReconciling, metav1.ConditionTrue, ReasonRetryingDiscovery, "discovery failed; retrying with backoff, at most every "+warehouseInterval(p.w).String())
		c.remove(ConditionStalled)
		p.err = fmt.Errorf("discover artifacts of warehouse %s: %s", p.key, msg)
		return
	}
	c.remove(ConditionStalled)
	c.remove(ConditionReconciling)
	if len(empty) > 0 {
		c.set(ConditionReady, metav1.ConditionFalse, ReasonNoArtifacts, "no Freight can be made: "+strings.Join(empty, "; "))
		return
	}
	ready := fmt.Sprintf("discovered artifacts from %d subscriptions", len(p.outcomes))
	if p.w.Spec.FreightCreationPolicy == kargoapi.FreightCreationPolicyManual {
		c.set(ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered, ready+"; freightCreationPolicy is Manual, so no Freight was made")
		return
	}
	f := r.buildFreight(p)
	if crit := p.w.Spec.FreightCreationCriteria; crit != nil && strings.TrimSpace(crit.Expression) != "" {
		ok, err := expr.FreightCreationCriteria(crit.Expression, f.Commits, f.Images, f.Charts)
		if err != nil {
			msg := fmt.Sprintf("evaluate freightCreationCriteria.expression: %v", err)
			c.set(ConditionReady, metav1.ConditionFalse, ReasonCriteriaEvaluationFailed, msg)
			return
		}
		if !ok {
			c.set(ConditionFreightCreationCriteriaSatisfied, metav1.ConditionFalse, ReasonCriteriaNotSatisfied,
				fmt.Sprintf("freightCreationCriteria.expression `%s` is false for the newest artifacts; no Freight was made", strings.TrimSpace(crit.Expression)))
			c.set(ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered, ready+"; the Freight creation criteria are not met")
			return
		}
		c.set(ConditionFreightCreationCriteriaSatisfied, metav1.ConditionTrue, ReasonCriteriaSatisfied,
			fmt.Sprintf("freightCreationCriteria.expression `%s` is true for the newest artifacts", strings.TrimSpace(crit.Expression)))
	}
	id := f.GenerateID()
	created, err := r.store.Create(ctx, freightObject(f))
	switch {
	case err == nil:
		alias, _, _ := unstructured.NestedString(created.Object, "alias")
		c.set(ConditionFreightCreated, metav1.ConditionTrue, ReasonNewFreight, fmt.Sprintf("created Freight %s (alias %s)", created.GetName(), alias))
		p.status.LastFreightID = created.GetName()
		LoggerFrom(ctx).Info("created Freight", "freight", created.GetName(), "alias", alias)
	case apierrors.IsAlreadyExists(err):
		c.set(ConditionFreightCreated, metav1.ConditionFalse, ReasonAlreadyExists, fmt.Sprintf("Freight %s of the newest artifacts already exists", id))
		p.status.LastFreightID = id
	default:
		msg := fmt.Sprintf("create Freight %s: %v", id, err)
		c.set(ConditionReady, metav1.ConditionFalse, ReasonFreightCreationFailed, msg)
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) {
			c.set(ConditionStalled, metav1.ConditionTrue, ReasonFreightCreationFailed, msg+" (fix the Warehouse's subscriptions; discovery resumes when they change)")
			p.err = retry.Terminal(fmt.Errorf("create freight for warehouse %s: %w", p.key, err))
			return
		}
		c.set(ConditionReconciling, metav1.ConditionTrue, ReasonRetryingDiscovery, "Freight creation failed; retrying with backoff")
		p.err = fmt.Errorf("create freight for warehouse %s: %w", p.key, err)
		return
	}
	c.set(ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered, ready)
}

// buildFreight makes Freight of the newest artifact of every subscription.
func (r *WarehouseReconciler) buildFreight(p *warehousePass) *kargoapi.Freight {
	f := &kargoapi.Freight{
		TypeMeta: metav1.TypeMeta{APIVersion: kargoapi.GroupVersion.String(), Kind: "Freight"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   p.w.Namespace,
			Annotations: map[string]string{AnnotationKeyDiscoveredAt: p.now.UTC().Format(time.RFC3339)},
		},
		Origin: kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: p.w.Name},
	}
	for i, o := range p.outcomes {
		sub := &p.w.Spec.Subscriptions[i]
		switch {
		case o.git != nil:
			c := o.git.Commits[0]
			f.Commits = append(f.Commits, kargoapi.GitCommit{
				RepoURL: sub.Git.RepoURL, ID: c.ID, Branch: c.Branch, Tag: c.Tag,
				Message: c.Subject, Author: c.Author, Committer: c.Committer, SubscriptionName: sub.Name,
			})
		case o.image != nil:
			img := o.image.References[0]
			f.Images = append(f.Images, kargoapi.Image{
				RepoURL: sub.Image.RepoURL, Tag: img.Tag, Digest: img.Digest,
				Annotations: img.Annotations, SubscriptionName: sub.Name,
			})
		case o.chart != nil:
			f.Charts = append(f.Charts, kargoapi.Chart{
				RepoURL: sub.Chart.RepoURL, Name: sub.Chart.Name, Version: o.chart.Versions[0], SubscriptionName: sub.Name,
			})
		}
	}
	return f
}

// deprecations records the Deprecated condition for the deprecated fields
// still honoured: allowTags, ignoreTags and an image's semverConstraint.
func (r *WarehouseReconciler) deprecations(p *warehousePass) {
	var uses []string
	for i := range p.w.Spec.Subscriptions {
		sub := &p.w.Spec.Subscriptions[i]
		var allow string
		var ignore []string
		switch {
		case sub.Git != nil:
			allow, ignore = sub.Git.AllowTags, sub.Git.IgnoreTags
		case sub.Image != nil:
			allow, ignore = sub.Image.AllowTags, sub.Image.IgnoreTags
		}
		desc := describeSubscription(sub)
		if allow != "" {
			uses = append(uses, fmt.Sprintf("%s uses allowTags: write allowTagsRegexes: [%q] instead", desc, allow))
		}
		if len(ignore) > 0 {
			uses = append(uses, fmt.Sprintf("%s uses ignoreTags: write ignoreTagsRegexes with anchored patterns (e.g. %q) instead", desc, "^"+regexp.QuoteMeta(ignore[0])+"$"))
		}
		if sub.Image != nil && sub.Image.SemverConstraint != "" && sub.Image.Constraint == "" {
			uses = append(uses, fmt.Sprintf("%s uses semverConstraint: write constraint: %q instead", desc, sub.Image.SemverConstraint))
		}
	}
	if len(uses) == 0 {
		p.conds.remove(ConditionDeprecated)
		return
	}
	p.conds.set(ConditionDeprecated, metav1.ConditionTrue, ReasonDeprecatedFields,
		"deprecated fields still honoured: "+strings.Join(uses, "; "))
}

// writeStatus is the pass's one status write. A conflict (someone changed
// the Warehouse meanwhile) is resolved by writing the status over the newer
// version: the status is the controller's alone, and a newer spec or
// refresh is picked up by the next pass, which its change enqueues.
func (r *WarehouseReconciler) writeStatus(ctx context.Context, p *warehousePass) error {
	raw, err := json.Marshal(p.status)
	if err != nil {
		return fmt.Errorf("encode status of warehouse %s: %w", p.key, err)
	}
	var status map[string]any
	if err := json.Unmarshal(raw, &status); err != nil {
		return fmt.Errorf("encode status of warehouse %s: %w", p.key, err)
	}
	obj := p.obj.DeepCopy()
	for attempt := 1; ; attempt++ {
		obj.Object["status"] = status
		_, err := r.store.UpdateStatus(ctx, obj)
		if !apierrors.IsConflict(err) || attempt == 3 {
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("update status of warehouse %s: %w", p.key, err)
			}
			return nil
		}
		latest, gerr := r.store.Get(ctx, "Warehouse", p.key.Namespace, p.key.Name)
		if apierrors.IsNotFound(gerr) {
			return nil
		}
		if gerr != nil {
			return fmt.Errorf("update status of warehouse %s: %w", p.key, gerr)
		}
		if latest.GetUID() != p.obj.GetUID() {
			return nil // deleted and created again: the new one gets its own pass
		}
		obj = latest
	}
}

// warehouseInterval is spec.interval, or the default when unset.
func warehouseInterval(w *kargoapi.Warehouse) time.Duration {
	if w.Spec.Interval.Duration > 0 {
		return w.Spec.Interval.Duration
	}
	d, _ := time.ParseDuration(kargoapi.DefaultWarehouseInterval)
	return d
}

// describeSubscription names a subscription in messages, e.g.
// `git subscription "app" (https://example.com/app.git)`.
func describeSubscription(sub *kargoapi.RepoSubscription) string {
	var kind, repo string
	switch {
	case sub.Git != nil:
		kind, repo = "git", sub.Git.RepoURL
	case sub.Image != nil:
		kind, repo = "image", sub.Image.RepoURL
	case sub.Chart != nil:
		kind, repo = "chart", sub.Chart.RepoURL
		if sub.Chart.Name != "" {
			repo += " chart " + sub.Chart.Name
		}
	case sub.Generic != nil:
		kind, repo = sub.Generic.SubscriptionType, ""
	}
	switch {
	case sub.Name != "" && repo != "":
		return fmt.Sprintf("%s subscription %q (%s)", kind, sub.Name, repo)
	case sub.Name != "":
		return fmt.Sprintf("%s subscription %q", kind, sub.Name)
	default:
		return fmt.Sprintf("%s subscription %s", kind, repo)
	}
}

// redact removes credential values from a message, in case an error quoted
// one.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// decodeObject decodes a stored object into a typed one through JSON, so
// that the types' own decoding (generic subscriptions) applies.
func decodeObject(obj *unstructured.Unstructured, into any) error {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// freightObject encodes Freight for the store, without the fields the
// server sets.
func freightObject(f *kargoapi.Freight) *unstructured.Unstructured {
	raw, _ := json.Marshal(f) // plain data: cannot fail
	obj := map[string]any{}
	_ = json.Unmarshal(raw, &obj)
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(kinds.ByKind("Freight").APIVersion())
	u.SetKind("Freight")
	return u
}
