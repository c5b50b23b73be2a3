package v1alpha1

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetDefaults(t *testing.T) {
	fiveMinutes := metav1.Duration{Duration: 5 * time.Minute}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{
			name: "warehouse: everything absent",
			in: &Warehouse{Spec: WarehouseSpec{Subscriptions: RepoSubscriptions{
				{Git: &GitSubscription{RepoURL: "https://x.io/r"}},
				{Image: &ImageSubscription{RepoURL: "nginx"}},
				{Chart: &ChartSubscription{RepoURL: "oci://r.io/c"}},
				{Generic: &Subscription{SubscriptionType: "t", Name: "g"}},
			}}},
			want: &Warehouse{Spec: WarehouseSpec{
				Interval:              fiveMinutes,
				FreightCreationPolicy: FreightCreationPolicyAutomatic,
				Subscriptions: RepoSubscriptions{
					{Git: &GitSubscription{RepoURL: "https://x.io/r",
						CommitSelectionStrategy: CommitSelectionStrategyNewestFromBranch,
						StrictSemvers:           ptrTo(true), DiscoveryLimit: 20}},
					{Image: &ImageSubscription{RepoURL: "nginx",
						ImageSelectionStrategy: ImageSelectionStrategySemVer,
						StrictSemvers:          ptrTo(true), DiscoveryLimit: 20}},
					{Chart: &ChartSubscription{RepoURL: "oci://r.io/c", DiscoveryLimit: 20}},
					{Generic: &Subscription{SubscriptionType: "t", Name: "g", DiscoveryLimit: 20}},
				},
			}},
		},
		{
			name: "warehouse: explicit values kept, discoveryLimit 0 means default",
			in: &Warehouse{Spec: WarehouseSpec{
				Interval:              metav1.Duration{Duration: 10 * time.Second},
				FreightCreationPolicy: FreightCreationPolicyManual,
				Shard:                 "edge",
				Subscriptions: RepoSubscriptions{
					{Git: &GitSubscription{RepoURL: "r", CommitSelectionStrategy: CommitSelectionStrategySemVer,
						StrictSemvers: ptrTo(false), DiscoveryLimit: 0}},
					{Image: &ImageSubscription{RepoURL: "i", ImageSelectionStrategy: ImageSelectionStrategyDigest,
						StrictSemvers: ptrTo(false), DiscoveryLimit: 5}},
				},
			}},
			want: &Warehouse{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyShard: "edge"}},
				Spec: WarehouseSpec{
					Interval:              metav1.Duration{Duration: 10 * time.Second},
					FreightCreationPolicy: FreightCreationPolicyManual,
					Shard:                 "edge",
					Subscriptions: RepoSubscriptions{
						{Git: &GitSubscription{RepoURL: "r", CommitSelectionStrategy: CommitSelectionStrategySemVer,
							StrictSemvers: ptrTo(false), DiscoveryLimit: 20}},
						{Image: &ImageSubscription{RepoURL: "i", ImageSelectionStrategy: ImageSelectionStrategyDigest,
							StrictSemvers: ptrTo(false), DiscoveryLimit: 5}},
					},
				},
			},
		},
		{
			name: "warehouse: shard label fills an empty spec.shard",
			in: &Warehouse{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyShard: "a"}},
				Spec:       WarehouseSpec{Interval: fiveMinutes, FreightCreationPolicy: FreightCreationPolicyAutomatic},
			},
			want: &Warehouse{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyShard: "a"}},
				Spec:       WarehouseSpec{Shard: "a", Interval: fiveMinutes, FreightCreationPolicy: FreightCreationPolicyAutomatic},
			},
		},
		{
			name: "stage: selection policy defaulted, stale shard label removed",
			in: &Stage{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyShard: "old", "x": "y"}},
				Spec: StageSpec{RequestedFreight: []FreightRequest{
					{Sources: FreightSources{Direct: true, AutoPromotionOptions: &AutoPromotionOptions{}}},
					{Sources: FreightSources{Stages: []string{"a"}}},
				}},
			},
			want: &Stage{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"x": "y"}},
				Spec: StageSpec{RequestedFreight: []FreightRequest{
					{Sources: FreightSources{Direct: true, AutoPromotionOptions: &AutoPromotionOptions{
						SelectionPolicy: AutoPromotionSelectionPolicyNewestFreight}}},
					{Sources: FreightSources{Stages: []string{"a"}}},
				}},
			},
		},
		{
			name: "stage: shard sets the label",
			in:   &Stage{Spec: StageSpec{Shard: "s"}},
			want: &Stage{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyShard: "s"}},
				Spec:       StageSpec{Shard: "s"},
			},
		},
		{
			name: "freight: alias mirrored to the label",
			in:   &Freight{Alias: "brave-fox"},
			want: &Freight{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyAlias: "brave-fox"}},
				Alias:      "brave-fox",
			},
		},
		{
			name: "freight: label fills an empty alias",
			in:   &Freight{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyAlias: "calm-owl"}}},
			want: &Freight{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelKeyAlias: "calm-owl"}},
				Alias:      "calm-owl",
			},
		},
		{
			name: "kinds without defaults are untouched",
			in:   &Promotion{Spec: PromotionSpec{Stage: "s", Freight: "f"}},
			want: &Promotion{Spec: PromotionSpec{Stage: "s", Freight: "f"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults(tt.in)
			if !equality.Semantic.DeepEqual(tt.in, tt.want) {
				t.Errorf("got  %+v\nwant %+v", tt.in, tt.want)
			}
			// Defaulting is idempotent.
			SetDefaults(tt.in)
			if !equality.Semantic.DeepEqual(tt.in, tt.want) {
				t.Errorf("second pass changed the object: %+v", tt.in)
			}
		})
	}
}

func TestSeedWarehouseDefaults(t *testing.T) {
	var w Warehouse
	decodeYAMLFile(t, "seed-warehouse.yaml", &w)
	SetDefaults(&w)
	git := w.Spec.Subscriptions[1].Git
	if git.IsStrictSemvers() || git.DiscoveryLimit != DefaultDiscoveryLimit {
		t.Errorf("git = %+v", git)
	}
	img := w.Spec.Subscriptions[0].Image
	if !img.IsStrictSemvers() || img.DiscoveryLimit != 5 {
		t.Errorf("image = %+v", img)
	}
	if w.Spec.FreightCreationPolicy != FreightCreationPolicyAutomatic || w.Spec.Interval.Duration != 10*time.Second {
		t.Errorf("spec = %+v", w.Spec)
	}
}

func TestStepRetryEffectiveValues(t *testing.T) {
	var none *PromotionStepRetry
	if none.EffectiveErrorThreshold(DefaultStepErrorThreshold) != 1 || none.EffectiveTimeout(time.Hour) != time.Hour {
		t.Error("nil retry must give the defaults")
	}
	zero := &PromotionStepRetry{}
	if zero.EffectiveErrorThreshold(3) != 3 {
		t.Error("errorThreshold 0 must mean the default")
	}
	set := &PromotionStepRetry{ErrorThreshold: 5, Timeout: &metav1.Duration{Duration: time.Minute}}
	if set.EffectiveErrorThreshold(3) != 5 || set.EffectiveTimeout(time.Hour) != time.Minute {
		t.Error("explicit values must win")
	}
}
