package expr

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// dataFixture is an in-memory DataLookups.
type dataFixture struct {
	secrets, configMaps map[string]map[string]string // "namespace/name"
	freightMD, stageMD  map[string]map[string]any    // "project/name"
	freightStatus       map[string]map[string]any
	err                 error
}

func (d *dataFixture) Secret(_ context.Context, ns, name string) (map[string]string, error) {
	return d.secrets[ns+"/"+name], d.err
}

func (d *dataFixture) ConfigMap(_ context.Context, ns, name string) (map[string]string, error) {
	return d.configMaps[ns+"/"+name], d.err
}

func (d *dataFixture) FreightMetadata(_ context.Context, project, name string) (map[string]any, error) {
	return d.freightMD[project+"/"+name], d.err
}

func (d *dataFixture) FreightStatus(_ context.Context, project, name string) (map[string]any, error) {
	return d.freightStatus[project+"/"+name], d.err
}

func (d *dataFixture) StageMetadata(_ context.Context, project, name string) (map[string]any, error) {
	return d.stageMD[project+"/"+name], d.err
}

func TestDataFunctions(t *testing.T) {
	d := &dataFixture{
		secrets: map[string]map[string]string{
			"acme/slack":   {"token": "xoxb-1"},
			"shared/creds": {"password": "hunter22"},
		},
		configMaps: map[string]map[string]string{
			"acme/settings":  {"region": "eu-west-1"},
			"shared/globals": {"org": "acme"},
		},
		freightMD:     map[string]map[string]any{"acme/f1": {"ticket": "OPS-1", "approved": true}},
		freightStatus: map[string]map[string]any{"acme/f1": {"currentlyIn": map[string]any{"uat": map[string]any{}}}},
		stageMD:       map[string]map[string]any{"acme/uat": {"aws-region": "eu-west-1"}},
	}
	var seen []string
	fns := DataFunctions(context.Background(), d, DataScope{Project: "acme", SharedNamespace: "shared",
		OnSecret: func(v string) { seen = append(seen, v) }})
	cases := []struct {
		expr string
		want any
		err  string
	}{
		{expr: "${{ secret('slack').token }}", want: "xoxb-1"},
		{expr: "${{ sharedSecret('creds').password }}", want: "hunter22"},
		{expr: "${{ len(secret('missing')) }}", want: float64(0)},
		{expr: "${{ configMap('settings').region }}", want: "eu-west-1"},
		{expr: "${{ sharedConfigMap('globals').org }}", want: "acme"},
		{expr: "${{ configMap('missing').x == '' }}", want: true},
		{expr: "${{ freightMetadata('f1').ticket }}", want: "OPS-1"},
		{expr: "${{ freightMetadata('f1', 'approved') }}", want: true},
		{expr: "${{ freightMetadata('f2')?.ticket ?? 'none' }}", want: "none"},
		{expr: "${{ 'uat' in freightStatus('f1').currentlyIn }}", want: true},
		{expr: "${{ stageMetadata('uat')['aws-region'] }}", want: "eu-west-1"},
		{expr: "${{ stageMetadata('prod') == nil }}", want: true},
		{expr: "${{ secret('') }}", err: "the name must not be empty"},
		{expr: "${{ secret(42) }}", err: "name must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := EvaluateTemplate(tc.expr, nil, WithFunctions(fns...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
	if strings.Join(seen, ",") != "xoxb-1,hunter22" {
		t.Errorf("OnSecret saw %q", seen)
	}
}

func TestDataFunctionsLookupError(t *testing.T) {
	boom := errors.New("store unavailable")
	fns := DataFunctions(context.Background(), &dataFixture{err: boom}, DataScope{Project: "acme", SharedNamespace: "shared"})
	_, err := EvaluateTemplate("${{ secret('x').y }}", nil, WithFunctions(fns...))
	if !errors.Is(err, boom) {
		t.Errorf("the lookup's error should be in the chain: %v", err)
	}
}

func TestStatusFunctions(t *testing.T) {
	metas := []v1alpha1.StepExecutionMetadata{
		{Alias: "clone", Status: v1alpha1.PromotionStepStatusSucceeded},
		{Alias: "flaky", Status: v1alpha1.PromotionStepStatusErrored, ContinueOnError: true},
		{Alias: "deploy::push", Status: v1alpha1.PromotionStepStatusSkipped},
	}
	aliases := []string{"clone", "flaky", "deploy::push", "deploy::pr", "notify"}
	cases := []struct {
		current string
		metas   []v1alpha1.StepExecutionMetadata
		expr    string
		want    any
		err     string
	}{
		{current: "notify", metas: metas, expr: "${{ success() }}", want: true},
		{current: "notify", metas: metas, expr: "${{ failure() }}", want: false},
		{current: "notify", metas: append(metas[:1:1], v1alpha1.StepExecutionMetadata{Alias: "x", Status: v1alpha1.PromotionStepStatusFailed}),
			expr: "${{ failure() && !success() }}", want: true},
		{current: "notify", metas: metas, expr: "${{ status('flaky') }}", want: "Errored"},
		{current: "notify", metas: metas, expr: "${{ status('deploy::push') }}", want: "Skipped"},
		{current: "deploy::pr", metas: metas, expr: "${{ status('push') }}", want: "Skipped"},
		{current: "deploy::pr", metas: metas, expr: "${{ status('clone') }}", want: "Succeeded"},
		{current: "clone", metas: nil, expr: "${{ status('notify') == '' }}", want: true},
		{current: "notify", metas: metas, expr: "${{ status('nope') }}", err: `no step has the alias "nope"; the aliases are clone, flaky`},
	}
	for _, tc := range cases {
		t.Run(tc.current+" "+tc.expr, func(t *testing.T) {
			got, err := EvaluateTemplate(tc.expr, nil, WithFunctions(StatusFunctions(tc.current, aliases, tc.metas)...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

func TestSplitAlias(t *testing.T) {
	for alias, want := range map[string][2]string{
		"push":         {"", "push"},
		"deploy::push": {"deploy", "push"},
		"a::b::c":      {"", "a::b::c"},
	} {
		if ns, short := SplitAlias(alias); ns != want[0] || short != want[1] {
			t.Errorf("SplitAlias(%q) = %q, %q", alias, ns, short)
		}
	}
}

func TestArtifactFunctions(t *testing.T) {
	wh := func(n string) v1alpha1.FreightOrigin {
		return v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKindWarehouse, Name: n}
	}
	ref := func(origin string, arts ...v1alpha1.ArtifactReference) v1alpha1.FreightReference {
		return v1alpha1.FreightReference{Origin: wh(origin), Artifacts: arts}
	}
	art := v1alpha1.ArtifactReference{ArtifactType: "application/x-tf", SubscriptionName: "infra", Version: "v3",
		Metadata: &v1alpha1.JSON{Raw: []byte(`{"module":"vpc","size":3}`)}}
	one := []Origin{{Origin: wh("a"), Freight: ReferenceSource(ref("a", art))}}
	two := []Origin{
		{Origin: wh("a"), Freight: ReferenceSource(ref("a", art))},
		{Origin: wh("b"), Freight: ReferenceSource(ref("b", v1alpha1.ArtifactReference{SubscriptionName: "infra", Version: "v9"}))},
	}
	bySubscription := []Origin{
		{Origin: wh("a"), Freight: ReferenceSource(ref("a", art)), Subscriptions: v1alpha1.RepoSubscriptions{{Name: "infra"}}},
		{Origin: wh("b"), Freight: ReferenceSource(ref("b")), Subscriptions: v1alpha1.RepoSubscriptions{{Name: "infra"}}},
	}
	cases := []struct {
		name    string
		origins []Origin
		expr    string
		want    any
		err     string
	}{
		{name: "version", origins: one, expr: "${{ artifactFrom('infra').Version }}", want: "v3"},
		{name: "metadata", origins: one, expr: "${{ artifactFrom('infra').Metadata.module }}", want: "vpc"},
		{name: "as JSON", origins: one, expr: "${{ artifactFrom('infra') }}", want: map[string]any{
			"artifactType": "application/x-tf", "subscriptionName": "infra", "version": "v3",
			"metadata": map[string]any{"module": "vpc", "size": float64(3)}}},
		{name: "missing is nil", origins: one, expr: "${{ artifactFrom('other')?.Version ?? 'none' }}", want: "none"},
		{name: "ambiguous", origins: two, expr: "${{ artifactFrom('infra').Version }}",
			err: `artifactFrom("infra") is ambiguous: Freight from Warehouse/a, Warehouse/b could provide it`},
		{name: "origin given", origins: two, expr: "${{ artifactFrom('infra', warehouse('b')).Version }}", want: "v9"},
		{name: "unknown origin", origins: two, expr: "${{ artifactFrom('infra', warehouse('c')) }}",
			err: "Warehouse/c is not an origin of this Freight"},
		{name: "subscriptions decide ambiguity", origins: bySubscription, expr: "${{ artifactFrom('infra') }}",
			err: "is ambiguous"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EvaluateTemplate(tc.expr, nil, WithFunctions(ArtifactFunctions(tc.origins...)...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}
