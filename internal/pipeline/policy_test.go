package pipeline

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func projectConfig(policies ...kargoapi.PromotionPolicy) *kargoapi.ProjectConfig {
	return &kargoapi.ProjectConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "p"},
		Spec:       kargoapi.ProjectConfigSpec{PromotionPolicies: policies},
	}
}

func byName(name string, enabled bool) kargoapi.PromotionPolicy {
	return kargoapi.PromotionPolicy{
		StageSelector:        &kargoapi.PromotionPolicySelector{Name: name},
		AutoPromotionEnabled: enabled,
	}
}

func byLabels(sel *metav1.LabelSelector, name string, enabled bool) kargoapi.PromotionPolicy {
	return kargoapi.PromotionPolicy{
		StageSelector:        &kargoapi.PromotionPolicySelector{Name: name, LabelSelector: sel},
		AutoPromotionEnabled: enabled,
	}
}

func TestAutoPromotionEnabled(t *testing.T) {
	uat := newStage("uat", direct(w1), labelled("tier", "pre-prod", "team", "a"))
	tests := []struct {
		name    string
		project *kargoapi.ProjectConfig
		stage   *kargoapi.Stage
		want    bool
		wantErr string
	}{
		{name: "no ProjectConfig", project: nil, stage: uat, want: false},
		{name: "no policies", project: projectConfig(), stage: uat, want: false},
		{
			name:    "deprecated stage field, exact name",
			project: projectConfig(kargoapi.PromotionPolicy{Stage: "uat", AutoPromotionEnabled: true}),
			stage:   uat, want: true,
		},
		{
			name:    "deprecated stage field, another Stage",
			project: projectConfig(kargoapi.PromotionPolicy{Stage: "prod", AutoPromotionEnabled: true}),
			stage:   uat, want: false,
		},
		{name: "exact name", project: projectConfig(byName("uat", true)), stage: uat, want: true},
		{name: "exact name, disabled", project: projectConfig(byName("uat", false)), stage: uat, want: false},
		{name: "exact name is not a prefix", project: projectConfig(byName("ua", true)), stage: uat, want: false},
		{name: "glob", project: projectConfig(byName("glob:u*", true)), stage: uat, want: true},
		{name: "glob, no match", project: projectConfig(byName("glob:prod-*", true)), stage: uat, want: false},
		{name: "glob alternatives", project: projectConfig(byName("glob:{test,uat}", true)), stage: uat, want: true},
		{name: "glob class", project: projectConfig(byName("glob:[tu]a?", true)), stage: uat, want: true},
		{name: "regex, unanchored", project: projectConfig(byName("regex:a", true)), stage: uat, want: true},
		{name: "regex, anchored no match", project: projectConfig(byName("regex:^a", true)), stage: uat, want: false},
		{name: "regexp prefix", project: projectConfig(byName("regexp:^u.t$", true)), stage: uat, want: true},
		{
			name: "matchLabels",
			project: projectConfig(byLabels(&metav1.LabelSelector{
				MatchLabels: map[string]string{"tier": "pre-prod"},
			}, "", true)),
			stage: uat, want: true,
		},
		{
			name: "matchLabels, no match",
			project: projectConfig(byLabels(&metav1.LabelSelector{
				MatchLabels: map[string]string{"tier": "prod"},
			}, "", true)),
			stage: uat, want: false,
		},
		{
			name: "matchExpressions",
			project: projectConfig(byLabels(&metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"dev", "pre-prod"}},
					{Key: "frozen", Operator: metav1.LabelSelectorOpDoesNotExist},
				},
			}, "", true)),
			stage: uat, want: true,
		},
		{
			name: "matchExpressions, NotIn excludes",
			project: projectConfig(byLabels(&metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}},
				},
			}, "", true)),
			stage: uat, want: false,
		},
		{
			name: "name and labels must both match",
			project: projectConfig(byLabels(&metav1.LabelSelector{
				MatchLabels: map[string]string{"tier": "pre-prod"},
			}, "glob:prod*", true)),
			stage: uat, want: false,
		},
		{
			name:    "empty selector selects every Stage",
			project: projectConfig(byLabels(nil, "", true)),
			stage:   uat, want: true,
		},
		{
			name:    "empty label selector selects every Stage",
			project: projectConfig(byLabels(&metav1.LabelSelector{}, "", true)),
			stage:   uat, want: true,
		},
		{
			name:    "first match wins: an earlier pattern beats a later exact name",
			project: projectConfig(byName("glob:*", false), byName("uat", true)),
			stage:   uat, want: false,
		},
		{
			name:    "first match wins: an earlier exact name beats a later pattern",
			project: projectConfig(byName("uat", true), byName("glob:*", false)),
			stage:   uat, want: true,
		},
		{
			name:    "policies that do not select the Stage are skipped",
			project: projectConfig(byName("test", false), byName("regex:^prod", false), byName("glob:u*", true)),
			stage:   uat, want: true,
		},
		{
			name:    "bad glob",
			project: projectConfig(byName("test", true), byName("glob:[ua", true)),
			stage:   uat,
			wantErr: `ProjectConfig "p": promotionPolicies[1]: stageSelector.name "glob:[ua": invalid glob: '[' has no matching ']'`,
		},
		{
			name:    "bad regex",
			project: projectConfig(byName("regex:(", true)),
			stage:   uat,
			wantErr: `ProjectConfig "p": promotionPolicies[0]: stageSelector.name "regex:(": invalid regular expression`,
		},
		{
			name: "bad label selector",
			project: projectConfig(byLabels(&metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}},
			}, "", true)),
			stage:   uat,
			wantErr: `ProjectConfig "p": promotionPolicies[0]: stageSelector label selector:`,
		},
		{
			name:    "a bad pattern after the match is not reached",
			project: projectConfig(byName("uat", true), byName("regex:(", true)),
			stage:   uat, want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AutoPromotionEnabled(tt.project, tt.stage)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("AutoPromotionEnabled() error = %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("AutoPromotionEnabled() = %v, %v, want %v", got, err, tt.want)
			}
		})
	}
}

func TestMatchName(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
		wantErr       bool
	}{
		{"uat", "uat", true, false},
		{"uat", "uat-1", false, false},
		{"", "uat", false, false},
		{"glob:*", "anything", true, false},
		{"glob:*", "", true, false},
		{"glob:uat-*", "uat-eu", true, false},
		{"glob:uat-*", "uat", false, false},
		{"glob:*-eu", "prod-eu", true, false},
		{"glob:?at", "uat", true, false},
		{"glob:?at", "at", false, false},
		{"glob:prod-[0-9]", "prod-3", true, false},
		{"glob:prod-[!0-9]", "prod-3", false, false},
		{"glob:prod-[^0-9]", "prod-x", true, false},
		{"glob:prod-{eu,us}-*", "prod-us-1", true, false},
		{"glob:prod-{eu,us}-*", "prod-ap-1", false, false},
		{"glob:{a,{b,c}}", "c", true, false},
		{"glob:a.b", "a.b", true, false},
		{"glob:a.b", "axb", false, false},
		{"glob:a\\*", "a*", true, false},
		{"glob:a\\*", "ab", false, false},
		{"glob:[]]", "]", true, false},
		{"glob:[a-]", "-", true, false},
		{"glob:a,b", "a,b", true, false},
		{"glob:*", "a/b", false, false},
		{"glob:**", "a/b", true, false},
		{"glob:[ab", "a", false, true},
		{"glob:[a\\]]", "]", true, false},
		{"glob:[a\\", "a", false, true},
		{"glob:{a,b", "a", false, true},
		{"glob:a}", "a", false, true},
		{"glob:a\\", "a", false, true},
		{"regex:^uat$", "uat", true, false},
		{"regex:u", "prod-eu", true, false},
		{"regexp:^prod-(eu|us)$", "prod-eu", true, false},
		{"regexp:^prod-(eu|us)$", "prod-eu-2", false, false},
		{"regex:[", "x", false, true},
	}
	for _, tt := range tests {
		got, err := MatchName(tt.pattern, tt.name)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("MatchName(%q, %q) = %v, %v; want %v, error %v", tt.pattern, tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDescribePolicy(t *testing.T) {
	tests := []struct {
		policy kargoapi.PromotionPolicy
		want   string
	}{
		{kargoapi.PromotionPolicy{Stage: "uat"}, `promotionPolicies[2] (stage "uat")`},
		{byName("glob:u*", true), `promotionPolicies[2] (stageSelector name "glob:u*")`},
		{
			byLabels(&metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}, "regex:^p", true),
			`promotionPolicies[2] (stageSelector name "regex:^p", stageSelector labels tier=prod)`,
		},
		{byLabels(nil, "", true), `promotionPolicies[2] (an empty stageSelector, which selects every Stage)`},
	}
	for _, tt := range tests {
		if got := describePolicy(&tt.policy, 2); got != tt.want {
			t.Errorf("describePolicy() = %q, want %q", got, tt.want)
		}
	}
}
