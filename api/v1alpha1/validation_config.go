package v1alpha1

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateProject checks a Project's own fields: its name must be a DNS-1123
// label, because the Project owns the namespace of the same name, and any
// legacy spec.promotionPolicies must be well formed.
func ValidateProject(p *Project) field.ErrorList {
	if p == nil {
		return nil
	}
	errs := validateDNSLabel(field.NewPath("metadata", "name"), p.Name, "a Project's name")
	if p.Spec != nil {
		errs = append(errs, validatePromotionPolicies(
			field.NewPath("spec", "promotionPolicies"), p.Spec.PromotionPolicies,
		)...)
	}
	return errs
}

// ValidateProjectConfig checks a ProjectConfig's own fields: it is named
// after its Project (the namespace it lives in), each promotion policy
// selects Stages in exactly one way with well-formed patterns and no Stage is
// named by two policies, and each webhook receiver has a unique name and
// exactly one provider.
func ValidateProjectConfig(pc *ProjectConfig) field.ErrorList {
	if pc == nil {
		return nil
	}
	var errs field.ErrorList
	if pc.Namespace != "" && pc.Name != pc.Namespace {
		errs = append(errs, field.Invalid(
			field.NewPath("metadata", "name"), pc.Name,
			fmt.Sprintf("a ProjectConfig must be named after its Project: rename it to %q", pc.Namespace),
		))
	}
	spec := field.NewPath("spec")
	errs = append(errs, validatePromotionPolicies(spec.Child("promotionPolicies"), pc.Spec.PromotionPolicies)...)
	errs = append(errs, ValidateWebhookReceivers(spec.Child("webhookReceivers"), pc.Spec.WebhookReceivers)...)
	return errs
}

// ValidateClusterConfig checks the ClusterConfig's own fields: it is named
// "cluster" and its webhook receivers follow the same rules as a
// ProjectConfig's.
func ValidateClusterConfig(cc *ClusterConfig) field.ErrorList {
	if cc == nil {
		return nil
	}
	var errs field.ErrorList
	if cc.Name != ClusterConfigName {
		errs = append(errs, field.Invalid(
			field.NewPath("metadata", "name"), cc.Name,
			fmt.Sprintf("there is one ClusterConfig and it must be named %q: rename it", ClusterConfigName),
		))
	}
	errs = append(errs, ValidateWebhookReceivers(
		field.NewPath("spec", "webhookReceivers"), cc.Spec.WebhookReceivers,
	)...)
	return errs
}

// validatePromotionPolicies checks a list of promotion policies: each sets
// exactly one of stage and stageSelector, names and patterns are well formed,
// and no Stage is named exactly by two policies, whatever their label
// selectors (as in Kargo; patterns may overlap, and the first policy that
// matches a Stage wins).
func validatePromotionPolicies(p *field.Path, policies []PromotionPolicy) field.ErrorList {
	var errs field.ErrorList
	firstByStage := make(map[string]*field.Path, len(policies))
	for i, policy := range policies {
		pp := p.Index(i)
		var stage string // the exact Stage name the policy is for, if any
		switch {
		case policy.Stage != "" && policy.StageSelector != nil:
			errs = append(errs, field.Invalid(pp, policy.Stage,
				"a promotion policy must set exactly one of stage and stageSelector: "+
					"remove stage (deprecated) and keep stageSelector"))
			continue
		case policy.Stage == "" && policy.StageSelector == nil:
			errs = append(errs, field.Required(pp.Child("stageSelector"),
				"a promotion policy must set exactly one of stage and stageSelector: "+
					"add stageSelector with the Stage's name or a pattern"))
			continue
		case policy.Stage != "":
			stage = policy.Stage
			errs = append(errs, validateDNSSubdomain(pp.Child("stage"), policy.Stage, "a Stage name")...)
		default:
			sel := policy.StageSelector
			sp := pp.Child("stageSelector")
			if sel.Name != "" {
				nameErrs, isExact := validateNamePattern(sp.Child("name"), sel.Name, "Stage name")
				errs = append(errs, nameErrs...)
				if isExact && len(nameErrs) == 0 {
					stage = sel.Name
				}
			}
			errs = append(errs, validateLabelSelector(sp, sel.LabelSelector)...)
		}
		if stage == "" {
			continue
		}
		if first, seen := firstByStage[stage]; seen {
			errs = append(errs, field.Invalid(pp, stage, fmt.Sprintf(
				"Stage %q already has a promotion policy at %s: merge the two policies into one", stage, first,
			)))
			continue
		}
		firstByStage[stage] = pp
	}
	return errs
}

// ValidateWebhookReceivers checks a list of webhook receivers, as found in a
// ProjectConfig or the ClusterConfig: names are valid and unique, each
// receiver configures exactly one provider and references the Secret that
// holds its shared secret, and generic receivers have well-formed actions.
func ValidateWebhookReceivers(p *field.Path, receivers []WebhookReceiverConfig) field.ErrorList {
	var errs field.ErrorList
	firstByName := make(map[string]*field.Path, len(receivers))
	for i := range receivers {
		r := &receivers[i]
		rp := p.Index(i)
		errs = append(errs, validateDNSSubdomain(rp.Child("name"), r.Name, "a webhook receiver's name")...)
		if r.Name != "" {
			if first, seen := firstByName[r.Name]; seen {
				errs = append(errs, duplicateOf(rp.Child("name"), r.Name, first.Child("name"),
					"give each webhook receiver its own name"))
			} else {
				firstByName[r.Name] = rp
			}
		}
		errs = append(errs, validateReceiverProvider(rp, r)...)
	}
	return errs
}

// receiverProvider is one provider block of a webhook receiver, reduced to
// what validation needs.
type receiverProvider struct {
	key       string
	secretRef string
}

// receiverProviders lists the providers a receiver sets, in field order.
func receiverProviders(r *WebhookReceiverConfig) []receiverProvider {
	var ps []receiverProvider
	if r.Artifactory != nil {
		ps = append(ps, receiverProvider{"artifactory", r.Artifactory.SecretRef.Name})
	}
	if r.Azure != nil {
		ps = append(ps, receiverProvider{"azure", r.Azure.SecretRef.Name})
	}
	if r.Bitbucket != nil {
		ps = append(ps, receiverProvider{"bitbucket", r.Bitbucket.SecretRef.Name})
	}
	if r.DockerHub != nil {
		ps = append(ps, receiverProvider{"dockerhub", r.DockerHub.SecretRef.Name})
	}
	if r.Gitea != nil {
		ps = append(ps, receiverProvider{"gitea", r.Gitea.SecretRef.Name})
	}
	if r.GitHub != nil {
		ps = append(ps, receiverProvider{"github", r.GitHub.SecretRef.Name})
	}
	if r.GitLab != nil {
		ps = append(ps, receiverProvider{"gitlab", r.GitLab.SecretRef.Name})
	}
	if r.Harbor != nil {
		ps = append(ps, receiverProvider{"harbor", r.Harbor.SecretRef.Name})
	}
	if r.Quay != nil {
		ps = append(ps, receiverProvider{"quay", r.Quay.SecretRef.Name})
	}
	if r.Generic != nil {
		ps = append(ps, receiverProvider{"generic", r.Generic.SecretRef.Name})
	}
	return ps
}

// receiverProviderKeys is the list of provider fields, for messages.
const receiverProviderKeys = "artifactory, azure, bitbucket, dockerhub, gitea, github, gitlab, harbor, quay or generic"

func validateReceiverProvider(rp *field.Path, r *WebhookReceiverConfig) field.ErrorList {
	providers := receiverProviders(r)
	switch len(providers) {
	case 0:
		return field.ErrorList{field.Required(rp, fmt.Sprintf(
			"a webhook receiver needs exactly one provider: add one of %s", receiverProviderKeys,
		))}
	case 1:
	default:
		keys := make([]string, len(providers))
		for i, pr := range providers {
			keys[i] = pr.key
		}
		return field.ErrorList{field.Forbidden(rp, fmt.Sprintf(
			"a webhook receiver must configure exactly one provider but this one sets %s: "+
				"split it into one receiver per provider", strings.Join(keys, ", "),
		))}
	}
	pr := providers[0]
	var errs field.ErrorList
	if pr.secretRef == "" {
		errs = append(errs, field.Required(rp.Child(pr.key, "secretRef", "name"),
			"a webhook receiver needs the Secret holding its shared secret: set secretRef.name"))
	} else {
		errs = append(errs, validateDNSSubdomain(
			rp.Child(pr.key, "secretRef", "name"), pr.secretRef, "a Secret name")...)
	}
	if r.Generic != nil {
		errs = append(errs, validateGenericReceiver(rp.Child("generic"), r.Generic)...)
	}
	return errs
}

// validateGenericReceiver checks a generic receiver's actions. Values that
// may hold expressions (whenExpression, parameters, names, label values and
// index values) are evaluated per request and are not checked here.
func validateGenericReceiver(p *field.Path, g *GenericWebhookReceiverConfig) field.ErrorList {
	var errs field.ErrorList
	if len(g.Actions) == 0 {
		errs = append(errs, field.Required(p.Child("actions"),
			"a generic webhook receiver needs at least one action: add an action such as "+
				"{action: Refresh, targetSelectionCriteria: [{kind: Warehouse, name: ...}]}"))
	}
	for i := range g.Actions {
		a := &g.Actions[i]
		ap := p.Child("actions").Index(i)
		if a.ActionType == "" {
			errs = append(errs, field.Required(ap.Child("action"),
				"each action needs a type: set action to Refresh"))
		} else if err := validateEnum(ap.Child("action"), a.ActionType, GenericWebhookActionTypeRefresh); err != nil {
			errs = append(errs, err)
		}
		if len(a.TargetSelectionCriteria) == 0 {
			errs = append(errs, field.Required(ap.Child("targetSelectionCriteria"),
				"an action needs at least one target: add {kind: Warehouse} with a name, labelSelector or indexSelector"))
		}
		for j := range a.TargetSelectionCriteria {
			errs = append(errs, validateGenericTarget(
				ap.Child("targetSelectionCriteria").Index(j), &a.TargetSelectionCriteria[j],
			)...)
		}
	}
	return errs
}

func validateGenericTarget(p *field.Path, t *GenericWebhookTargetSelectionCriteria) field.ErrorList {
	var errs field.ErrorList
	if t.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), "set kind to Warehouse"))
	} else if err := validateEnum(p.Child("kind"), t.Kind, GenericWebhookTargetKindWarehouse); err != nil {
		errs = append(errs, err)
	}
	if t.Name == "" &&
		len(t.LabelSelector.MatchLabels) == 0 &&
		len(t.LabelSelector.MatchExpressions) == 0 &&
		len(t.IndexSelector.MatchIndices) == 0 {
		errs = append(errs, field.Required(p,
			"a target must be selected somehow: set at least one of name, labelSelector or indexSelector"))
	}
	for i, req := range t.LabelSelector.MatchExpressions {
		if err := validateEnum(p.Child("labelSelector", "matchExpressions").Index(i).Child("operator"),
			req.Operator,
			metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn,
			metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist,
		); err != nil {
			errs = append(errs, err)
		}
	}
	for i, req := range t.IndexSelector.MatchIndices {
		ip := p.Child("indexSelector", "matchIndices").Index(i)
		if err := validateEnum(ip.Child("key"), req.Key, IndexKeySubscribedURLs, IndexKeyReceiverPaths); err != nil {
			errs = append(errs, err)
		}
		if err := validateEnum(ip.Child("operator"), req.Operator,
			IndexSelectorOperatorEqual, IndexSelectorOperatorNotEqual); err != nil {
			errs = append(errs, err)
		}
		if req.Value == "" {
			errs = append(errs, field.Required(ip.Child("value"),
				"an index requirement needs a value to compare with: set value (a literal or an expression)"))
		}
	}
	return errs
}
