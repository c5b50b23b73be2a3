package v1alpha1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePromotion checks a Promotion's own fields: the Stage it promotes
// into and the Freight it promotes are named (promoting "the newest Freight
// from an origin" with spec.origin alone is not supported yet, and
// spec.target, a Kargo commercial-edition field, is refused), and its steps
// follow the shared rules, with no task references: tasks are inlined when
// the Promotion is built from its Stage. Whether the Stage and Freight exist,
// and copying the Stage's steps in, happen elsewhere.
func ValidatePromotion(pr *Promotion) field.ErrorList {
	if pr == nil {
		return nil
	}
	spec := field.NewPath("spec")
	errs := validateDNSSubdomain(spec.Child("stage"), pr.Spec.Stage, "the Stage to promote into")
	switch {
	case pr.Spec.Freight != "":
		errs = append(errs, validateDNSSubdomain(spec.Child("freight"), pr.Spec.Freight, "the Freight's name")...)
		if pr.Spec.Origin != nil {
			errs = append(errs, field.Forbidden(spec.Child("origin"),
				"a Promotion names its Freight either with freight or with origin, not both: remove origin"))
		}
	case pr.Spec.Origin != nil:
		errs = append(errs, field.Invalid(spec.Child("origin"), pr.Spec.Origin.String(),
			"promoting the newest Freight of an origin is not supported yet: "+
				"name the Freight to promote in spec.freight instead"))
	default:
		errs = append(errs, field.Required(spec.Child("freight"),
			"a Promotion needs the Freight to promote: set freight to the Freight's name"))
	}
	if !pr.Spec.Target.IsEmpty() {
		errs = append(errs, field.Forbidden(spec.Child("target"),
			"promoting to a Target is not supported: remove target and promote the Stage"))
	}
	errs = append(errs, ValidateStepsAndVars(spec, pr.Spec.Vars, pr.Spec.Steps, StepRules{
		Owner: "a Promotion",
		NoTasksHint: "tasks are inlined when a Promotion is created from its Stage; " +
			"write the task's steps here with uses",
	})...)
	return errs
}

// ValidateFreight checks a Freight's own fields: it comes from a Warehouse,
// holds at least one artifact, each artifact identifies a version (a commit
// ID or tag, an image tag or digest, a chart version), and its alias, copied
// into the kargo.akuity.io/alias label, is a valid label value. Whether the
// Warehouse exists and subscribes to these repositories, and whether the
// alias is taken, are checked elsewhere.
func ValidateFreight(f *Freight) field.ErrorList {
	if f == nil {
		return nil
	}
	errs := validateFreightOrigin(field.NewPath("origin"), f.Origin)
	if f.Alias != "" {
		for _, msg := range validation.IsValidLabelValue(f.Alias) {
			errs = append(errs, field.Invalid(field.NewPath("alias"), f.Alias, fmt.Sprintf(
				"the alias is copied into the %s label and must be a valid label value: %s", LabelKeyAlias, msg,
			)))
		}
	}
	if len(f.Commits) == 0 && len(f.Images) == 0 && len(f.Charts) == 0 && len(f.Artifacts) == 0 {
		errs = append(errs, field.Required(field.NewPath("commits"),
			"Freight must contain at least one artifact: add commits, images, charts or artifacts"))
	}
	for i, c := range f.Commits {
		cp := field.NewPath("commits").Index(i)
		if c.RepoURL == "" {
			errs = append(errs, field.Required(cp.Child("repoURL"), "a commit needs its repository: set repoURL"))
		}
		if c.ID == "" && c.Tag == "" {
			errs = append(errs, field.Required(cp.Child("id"), "a commit needs its ID (or a tag): set id"))
		}
	}
	for i, img := range f.Images {
		ip := field.NewPath("images").Index(i)
		if img.RepoURL == "" {
			errs = append(errs, field.Required(ip.Child("repoURL"), "an image needs its repository: set repoURL"))
		}
		if img.Tag == "" && img.Digest == "" {
			errs = append(errs, field.Required(ip.Child("digest"),
				"an image needs a tag or a digest to identify its version: set digest (preferred) or tag"))
		}
	}
	for i, c := range f.Charts {
		cp := field.NewPath("charts").Index(i)
		if c.RepoURL == "" {
			errs = append(errs, field.Required(cp.Child("repoURL"), "a chart needs its repository: set repoURL"))
		}
		if c.Version == "" {
			errs = append(errs, field.Required(cp.Child("version"), "a chart needs its version: set version"))
		}
	}
	for i, a := range f.Artifacts {
		ap := field.NewPath("artifacts").Index(i)
		if a.SubscriptionName == "" {
			errs = append(errs, field.Required(ap.Child("subscriptionName"),
				"an artifact needs the name of the subscription it comes from: set subscriptionName"))
		}
		if a.Version == "" {
			errs = append(errs, field.Required(ap.Child("version"), "an artifact needs its version: set version"))
		}
	}
	return errs
}

// ValidateTarget checks a Target's own fields. Its only field, params, is
// free-form and checked by the promotion steps that read it, so nothing is
// refused here; the function exists so that every kind is validated the same
// way and later rules have a home.
func ValidateTarget(t *Target) field.ErrorList {
	return nil
}

// ValidatePromotionRequest checks a PromotionRequest's own fields: the Stage
// and Freight are named and the Targets are named once each. Whether they
// exist is checked elsewhere.
func ValidatePromotionRequest(pr *PromotionRequest) field.ErrorList {
	if pr == nil {
		return nil
	}
	spec := field.NewPath("spec")
	errs := validateDNSSubdomain(spec.Child("stage"), pr.Spec.Stage, "the Stage")
	errs = append(errs, validateDNSSubdomain(spec.Child("freight"), pr.Spec.Freight, "the Freight's name")...)
	firstByName := make(map[string]*field.Path, len(pr.Spec.Targets))
	for i, t := range pr.Spec.Targets {
		np := spec.Child("targets").Index(i).Child("name")
		errs = append(errs, validateDNSSubdomain(np, t.Name, "a Target's name")...)
		if t.Name == "" {
			continue
		}
		if first, seen := firstByName[t.Name]; seen {
			errs = append(errs, duplicateOf(np, t.Name, first, "list each Target once"))
		} else {
			firstByName[t.Name] = np
		}
	}
	return errs
}
