package v1alpha1

import (
	"fmt"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateStage checks a Stage's own fields, after defaulting: its Freight
// requests (at least one, each origin once, each with a source, MatchUpstream
// only with exactly one upstream Stage and no direct source), its promotion
// template (at least one step; steps, tasks, aliases and vars by the shared
// rules) and its verification (template references, named arguments with
// values, valid AnalysisRun labels and annotations). Whether the referenced
// Warehouses, Stages, tasks and templates exist is checked elsewhere.
func ValidateStage(s *Stage) field.ErrorList {
	if s == nil {
		return nil
	}
	spec := field.NewPath("spec")
	errs := validateShard(spec.Child("shard"), s.Spec.Shard)
	errs = append(errs, ValidateVars(spec.Child("vars"), s.Spec.Vars)...)
	errs = append(errs, validateFreightRequests(spec.Child("requestedFreight"), s.Spec.RequestedFreight)...)
	if t := s.Spec.PromotionTemplate; t != nil {
		errs = append(errs, ValidateStepsAndVars(spec.Child("promotionTemplate", "spec"), t.Spec.Vars, t.Spec.Steps, StepRules{
			Owner:        "a promotion template",
			AllowTasks:   true,
			RequireSteps: true,
			EmptyHint:    "or remove promotionTemplate for a Stage that only passes Freight on",
		})...)
	}
	if v := s.Spec.Verification; v != nil {
		errs = append(errs, validateVerification(spec.Child("verification"), v)...)
	}
	return errs
}

// validateShard checks a shard name, which is copied into the
// kargo.akuity.io/shard label and so must be a valid label value.
func validateShard(p *field.Path, shard string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidLabelValue(shard) {
		errs = append(errs, field.Invalid(p, shard, fmt.Sprintf(
			"the shard is copied into the %s label and must be a valid label value: %s", LabelKeyShard, msg,
		)))
	}
	return errs
}

func validateFreightRequests(p *field.Path, reqs []FreightRequest) field.ErrorList {
	if len(reqs) == 0 {
		return field.ErrorList{field.Required(p,
			"a Stage must request Freight from at least one origin: add "+
				"{origin: {kind: Warehouse, name: <warehouse>}, sources: {direct: true}}")}
	}
	var errs field.ErrorList
	firstByOrigin := make(map[string]*field.Path, len(reqs))
	for i := range reqs {
		req := &reqs[i]
		rp := p.Index(i)
		originErrs := validateFreightOrigin(rp.Child("origin"), req.Origin)
		errs = append(errs, originErrs...)
		if len(originErrs) == 0 {
			key := req.Origin.String()
			if first, seen := firstByOrigin[key]; seen {
				errs = append(errs, duplicateOf(rp.Child("origin"), key, first,
					"request Freight from each origin once; merge the sources of the two requests"))
			} else {
				firstByOrigin[key] = rp.Child("origin")
			}
		}
		errs = append(errs, validateFreightSources(rp.Child("sources"), &req.Sources)...)
	}
	return errs
}

// validateFreightOrigin checks an origin: kind Warehouse and a name.
func validateFreightOrigin(p *field.Path, o FreightOrigin) field.ErrorList {
	var errs field.ErrorList
	if o.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), "set kind to Warehouse"))
	} else if err := validateEnum(p.Child("kind"), o.Kind, FreightOriginKindWarehouse); err != nil {
		errs = append(errs, err)
	}
	return append(errs, validateDNSSubdomain(p.Child("name"), o.Name, "the origin Warehouse's name")...)
}

func validateFreightSources(p *field.Path, src *FreightSources) field.ErrorList {
	var errs field.ErrorList
	if !src.Direct && len(src.Stages) == 0 {
		errs = append(errs, field.Required(p,
			"need direct or stages: set direct: true to take Freight straight from the Warehouse, "+
				"and/or list upstream Stages under stages"))
	}
	for i, stage := range src.Stages {
		errs = append(errs, validateDNSSubdomain(p.Child("stages").Index(i), stage, "an upstream Stage's name")...)
	}
	if err := validateNonNegativeDuration(p.Child("requiredSoakTime"), src.RequiredSoakTime); err != nil {
		errs = append(errs, err)
	}
	if src.AvailabilityStrategy != "" {
		if err := validateEnum(p.Child("availabilityStrategy"), src.AvailabilityStrategy,
			FreightAvailabilityStrategyAll, FreightAvailabilityStrategyOneOf); err != nil {
			errs = append(errs, err)
		}
	}
	opts := src.AutoPromotionOptions
	if opts == nil || opts.SelectionPolicy == "" {
		return errs
	}
	pp := p.Child("autoPromotionOptions", "selectionPolicy")
	if err := validateEnum(pp, opts.SelectionPolicy,
		AutoPromotionSelectionPolicyNewestFreight, AutoPromotionSelectionPolicyMatchUpstream); err != nil {
		return append(errs, err)
	}
	if opts.SelectionPolicy != AutoPromotionSelectionPolicyMatchUpstream {
		return errs
	}
	if src.Direct {
		errs = append(errs, field.Invalid(pp, opts.SelectionPolicy,
			"MatchUpstream follows what one upstream Stage has, so it cannot take Freight directly "+
				"from the Warehouse: remove direct: true, or use NewestFreight"))
	}
	if len(src.Stages) != 1 {
		errs = append(errs, field.Invalid(pp, opts.SelectionPolicy, fmt.Sprintf(
			"MatchUpstream needs exactly one upstream Stage to match, but stages lists %d: "+
				"list exactly one, or use NewestFreight", len(src.Stages),
		)))
	}
	return errs
}

func validateVerification(p *field.Path, v *Verification) field.ErrorList {
	var errs field.ErrorList
	for i, ref := range v.AnalysisTemplates {
		tp := p.Child("analysisTemplates").Index(i)
		errs = append(errs, validateDNSSubdomain(tp.Child("name"), ref.Name, "the AnalysisTemplate's name")...)
		if ref.Kind != "" {
			if err := validateEnum(tp.Child("kind"), ref.Kind,
				AnalysisTemplateKindAnalysisTemplate, AnalysisTemplateKindClusterAnalysisTemplate); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i, arg := range v.Args {
		ap := p.Child("args").Index(i)
		if arg.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"),
				"an argument needs the name the AnalysisTemplate declares it under: set name"))
		}
		if arg.Value == "" {
			errs = append(errs, field.Required(ap.Child("value"),
				"an argument needs a value (it may be an expression): set value, or remove the argument"))
		}
	}
	if md := v.AnalysisRunMetadata; md != nil {
		mp := p.Child("analysisRunMetadata")
		errs = append(errs, metav1validation.ValidateLabels(md.Labels, mp.Child("labels"))...)
		errs = append(errs, apivalidation.ValidateAnnotations(md.Annotations, mp.Child("annotations"))...)
	}
	return errs
}
