package v1alpha1

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	// gitRepoURLRegex is the shape Kargo's schema requires of a Git
	// subscription's repoURL: http(s) or ssh URLs, or scp-style user@host:path.
	gitRepoURLRegex = regexp.MustCompile(
		`(?:^(ssh|https?)://(?:([\w-]+)(:(.+))?@)?([\w-]+(?:\.[\w-]+)*)(?::(\d{1,5}))?(/.*)$)` +
			`|(?:^([\w-]+)@([\w+]+(?:\.[\w-]+)*):(/?.*))`,
	)
	// branchRegex is the shape of a branch name Kargo's schema accepts.
	branchRegex = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._\/-]*[a-zA-Z0-9_-])?$`)
	// imageRepoURLRegex is the shape of an image repository Kargo's schema
	// accepts: an optional registry host (and port) and a path, no tag.
	imageRepoURLRegex = regexp.MustCompile(`^(\w+([\.-]\w+)*(:[\d]+)?/)?(\w+([\.-]\w+)*)(/\w+([\.-]\w+)*)*$`)
	// imageTagRegex is the shape of an image tag (the OCI distribution rule).
	imageTagRegex = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	// chartRepoURLRegex is the shape of a chart repository Kargo's schema
	// accepts: http(s) for classic repositories, oci:// for OCI ones.
	chartRepoURLRegex = regexp.MustCompile(`^(((https?)|(oci))://)([\w\d\.\-]+)(:[\d]+)?(/.*)*$`)
)

// maxBranchLength is the longest branch name Kargo's schema accepts.
const maxBranchLength = 255

// ValidateWarehouse checks a Warehouse's own fields, after defaulting: at
// least one subscription; each sets exactly one of git, image, chart (or a
// generic artifact type) with well-formed URLs, enums, regular expressions,
// semver constraints and a discoveryLimit of 1–100 (0 means the default);
// subscription names are unique DNS-1123 labels; no two subscriptions watch
// the same repository; the interval is not negative.
func ValidateWarehouse(w *Warehouse) field.ErrorList {
	if w == nil {
		return nil
	}
	spec := field.NewPath("spec")
	errs := validateShard(spec.Child("shard"), w.Spec.Shard)
	if err := validateNonNegativeDuration(spec.Child("interval"), &w.Spec.Interval); err != nil {
		errs = append(errs, err)
	}
	if w.Spec.FreightCreationPolicy != "" {
		if err := validateEnum(spec.Child("freightCreationPolicy"), w.Spec.FreightCreationPolicy,
			FreightCreationPolicyAutomatic, FreightCreationPolicyManual); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, validateSubscriptions(spec.Child("subscriptions"), w.Spec.Subscriptions)...)
	return errs
}

// subscriptionKey identifies the repository a subscription watches, for the
// "no two subscriptions to the same repository" rule.
type subscriptionKey struct {
	kind string
	id   string
}

func validateSubscriptions(p *field.Path, subs RepoSubscriptions) field.ErrorList {
	if len(subs) == 0 {
		return field.ErrorList{field.Required(p,
			"a Warehouse needs at least one subscription: add a git, image or chart subscription")}
	}
	var errs field.ErrorList
	firstByRepo := make(map[subscriptionKey]*field.Path, len(subs))
	firstByName := make(map[string]*field.Path, len(subs))
	for i := range subs {
		sub := &subs[i]
		sp := p.Index(i)
		errs = append(errs, validateSubscriptionName(sp, sub, firstByName)...)

		set := subscriptionKinds(sub)
		switch len(set) {
		case 0:
			errs = append(errs, field.Required(sp,
				"a subscription needs exactly one of git, image or chart: add one"))
			continue
		case 1:
		default:
			errs = append(errs, field.Forbidden(sp, fmt.Sprintf(
				"a subscription must set exactly one of git, image or chart but this one sets %s: "+
					"split it into one subscription per repository", strings.Join(set, " and "),
			)))
			continue
		}

		var key subscriptionKey
		var keyPath *field.Path
		var keyValue string
		switch {
		case sub.Git != nil:
			gp := sp.Child("git")
			errs = append(errs, validateGitSubscription(gp, sub.Git)...)
			key = subscriptionKey{kind: "git", id: NormalizeGitURL(sub.Git.RepoURL)}
			keyPath, keyValue = gp.Child("repoURL"), sub.Git.RepoURL
		case sub.Image != nil:
			ip := sp.Child("image")
			errs = append(errs, validateImageSubscription(ip, sub.Image)...)
			// The chart normalization treats its input as an image reference
			// (lowercase, Docker Hub's registry and library/ dropped, any tag
			// ignored), which is what telling image repositories apart needs.
			key = subscriptionKey{kind: "image", id: NormalizeChartRepoURL(strings.TrimSpace(sub.Image.RepoURL))}
			keyPath, keyValue = ip.Child("repoURL"), sub.Image.RepoURL
		case sub.Chart != nil:
			cp := sp.Child("chart")
			errs = append(errs, validateChartSubscription(cp, sub.Chart)...)
			id := NormalizeChartRepoURL(sub.Chart.RepoURL)
			if isHTTPChartRepo(sub.Chart.RepoURL) {
				id += ":" + sub.Chart.Name
			}
			key = subscriptionKey{kind: "chart", id: id}
			keyPath, keyValue = cp.Child("repoURL"), sub.Chart.RepoURL
		default:
			errs = append(errs, validateGenericSubscription(
				sp.Child(sub.Generic.SubscriptionType), sub.Generic, sub.Name != "")...)
			// Generic subscriptions are told apart by name, which is checked
			// above.
			continue
		}
		if strings.TrimSpace(keyValue) == "" {
			continue // reported as required above
		}
		if first, seen := firstByRepo[key]; seen {
			errs = append(errs, duplicateOf(keyPath, keyValue, first,
				"a Warehouse may subscribe to a repository only once; remove one of the two subscriptions"))
			continue
		}
		firstByRepo[key] = keyPath
	}
	return errs
}

// subscriptionKinds lists which of git, image, chart and a generic type a
// subscription sets.
func subscriptionKinds(sub *RepoSubscription) []string {
	var set []string
	if sub.Git != nil {
		set = append(set, "git")
	}
	if sub.Image != nil {
		set = append(set, "image")
	}
	if sub.Chart != nil {
		set = append(set, "chart")
	}
	if sub.Generic != nil {
		set = append(set, sub.Generic.SubscriptionType)
	}
	return set
}

// validateSubscriptionName checks a subscription's name: a DNS-1123 label,
// unique (ignoring case and surrounding spaces, as Kargo compares them)
// within the Warehouse.
func validateSubscriptionName(sp *field.Path, sub *RepoSubscription, firstByName map[string]*field.Path) field.ErrorList {
	name := sub.Name
	np := sp.Child("name")
	if name == "" && sub.Generic != nil {
		name = sub.Generic.Name
		np = sp.Child(sub.Generic.SubscriptionType, "name")
	}
	if name == "" {
		return nil
	}
	errs := validateDNSLabel(np, name, "a subscription name")
	key := strings.ToLower(strings.TrimSpace(name))
	if first, seen := firstByName[key]; seen {
		errs = append(errs, duplicateOf(np, name, first, "give each subscription its own name"))
	} else {
		firstByName[key] = np
	}
	return errs
}

func validateGitSubscription(p *field.Path, g *GitSubscription) field.ErrorList {
	var errs field.ErrorList
	switch {
	case g.RepoURL == "":
		errs = append(errs, field.Required(p.Child("repoURL"),
			"a Git subscription needs the repository's URL: set repoURL, e.g. https://github.com/example/repo.git"))
	case !gitRepoURLRegex.MatchString(g.RepoURL):
		errs = append(errs, field.Invalid(p.Child("repoURL"), g.RepoURL,
			"must be a Git repository URL: use https://host/path, http://host/path, "+
				"ssh://user@host/path or user@host:path"))
	}
	if g.Branch != "" {
		if len(g.Branch) > maxBranchLength {
			errs = append(errs, field.TooLong(p.Child("branch"), "", maxBranchLength))
		}
		if !branchRegex.MatchString(g.Branch) {
			errs = append(errs, field.Invalid(p.Child("branch"), g.Branch,
				"must be a branch name: letters, digits, '.', '_', '/' and '-', "+
					"starting with a letter or digit and not ending with '.' or '/'"))
		}
	}
	if g.CommitSelectionStrategy != "" {
		if err := validateEnum(p.Child("commitSelectionStrategy"), g.CommitSelectionStrategy,
			CommitSelectionStrategyLexical, CommitSelectionStrategyNewestFromBranch,
			CommitSelectionStrategyNewestTag, CommitSelectionStrategySemVer); err != nil {
			errs = append(errs, err)
		}
	}
	if err := validateSemverConstraint(p.Child("semverConstraint"), g.SemverConstraint); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validateTagFilters(p, g.AllowTags, g.AllowTagsRegexes, g.AllowTagsRegex,
		g.IgnoreTagsRegexes, g.IgnoreTagsRegex)...)
	for i, sel := range g.IncludePaths {
		if err := validatePathSelector(p.Child("includePaths").Index(i), sel); err != nil {
			errs = append(errs, err)
		}
	}
	for i, sel := range g.ExcludePaths {
		if err := validatePathSelector(p.Child("excludePaths").Index(i), sel); err != nil {
			errs = append(errs, err)
		}
	}
	if err := validateDiscoveryLimit(p.Child("discoveryLimit"), g.DiscoveryLimit); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// validateTagFilters checks the regular expressions that narrow the tags a
// Git or image subscription considers. ignoreTags holds literal tags and is
// not checked.
func validateTagFilters(p *field.Path, allowTags string, allow, allowOld, ignore, ignoreOld []string) field.ErrorList {
	var errs field.ErrorList
	if allowTags != "" {
		if err := validateRegexp(p.Child("allowTags"), allowTags); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, validateRegexps(p.Child("allowTagsRegexes"), allow)...)
	errs = append(errs, validateRegexps(p.Child("allowTagsRegex"), allowOld)...)
	errs = append(errs, validateRegexps(p.Child("ignoreTagsRegexes"), ignore)...)
	errs = append(errs, validateRegexps(p.Child("ignoreTagsRegex"), ignoreOld)...)
	return errs
}

func validateImageSubscription(p *field.Path, img *ImageSubscription) field.ErrorList {
	var errs field.ErrorList
	if img.RepoURL == "" {
		errs = append(errs, field.Required(p.Child("repoURL"),
			"an image subscription needs the image repository: set repoURL, e.g. ghcr.io/example/app"))
	} else if !isImageRepoURL(img.RepoURL) {
		errs = append(errs, field.Invalid(p.Child("repoURL"), img.RepoURL,
			"must be an image repository such as \"ghcr.io/example/app\" or \"nginx\": "+
				"a registry host (and port) followed by a path of lowercase components"))
	}
	strategy := img.ImageSelectionStrategy
	if strategy != "" {
		if err := validateEnum(p.Child("imageSelectionStrategy"), strategy,
			ImageSelectionStrategyDigest, ImageSelectionStrategyLexical,
			ImageSelectionStrategyNewestBuild, ImageSelectionStrategySemVer); err != nil {
			errs = append(errs, err)
		}
	}
	switch strategy {
	case ImageSelectionStrategyDigest:
		if img.EffectiveConstraint() == "" {
			errs = append(errs, field.Required(p.Child("constraint"),
				"imageSelectionStrategy Digest follows one tag: set constraint to that tag, e.g. \"latest\""))
		}
	case ImageSelectionStrategySemVer, "":
		// Constraint wins over the deprecated semverConstraint; only the one
		// in effect is read as a semver range.
		cp := p.Child("constraint")
		if img.Constraint == "" {
			cp = p.Child("semverConstraint")
		}
		if err := validateSemverConstraint(cp, img.EffectiveConstraint()); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, validateTagFilters(p, img.AllowTags, img.AllowTagsRegexes, img.AllowTagsRegex,
		img.IgnoreTagsRegexes, img.IgnoreTagsRegex)...)
	if img.Platform != "" && !isPlatform(img.Platform) {
		errs = append(errs, field.Invalid(p.Child("platform"), img.Platform,
			"must be a platform written os/arch or os/arch/variant, e.g. \"linux/amd64\" or \"linux/arm64/v8\""))
	}
	if err := validateDiscoveryLimit(p.Child("discoveryLimit"), img.DiscoveryLimit); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// isImageRepoURL reports whether s names an image repository. A trailing tag
// (as in "registry.example.com/app:1.0.0", which Kargo v1.0 examples show) is
// tolerated: the repository part must still have Kargo's shape.
func isImageRepoURL(s string) bool {
	if imageRepoURLRegex.MatchString(s) {
		return true
	}
	slash := strings.LastIndex(s, "/")
	colon := strings.LastIndex(s, ":")
	if colon <= slash || colon == len(s)-1 {
		return false
	}
	return imageRepoURLRegex.MatchString(s[:colon]) && imageTagRegex.MatchString(s[colon+1:])
}

// isPlatform reports whether s is os/arch or os/arch/variant.
func isPlatform(s string) bool {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for _, part := range parts {
		if part == "" || strings.TrimSpace(part) != part {
			return false
		}
	}
	return true
}

// isHTTPChartRepo reports whether repoURL is a classic (http or https) chart
// repository, as opposed to an OCI one.
func isHTTPChartRepo(repoURL string) bool {
	return strings.HasPrefix(repoURL, "http://") || strings.HasPrefix(repoURL, "https://")
}

func validateChartSubscription(p *field.Path, c *ChartSubscription) field.ErrorList {
	var errs field.ErrorList
	switch {
	case c.RepoURL == "":
		errs = append(errs, field.Required(p.Child("repoURL"),
			"a chart subscription needs the chart repository: set repoURL to https://… "+
				"(classic repository, with name) or oci://… (the chart itself)"))
	case !chartRepoURLRegex.MatchString(c.RepoURL):
		errs = append(errs, field.Invalid(p.Child("repoURL"), c.RepoURL,
			"must be a Helm chart repository URL starting with https://, http:// or oci://"))
	}
	switch {
	case strings.HasPrefix(c.RepoURL, "oci://") && c.Name != "":
		errs = append(errs, field.Forbidden(p.Child("name"),
			"an oci:// repoURL already names the chart: remove name, or append it to repoURL"))
	case isHTTPChartRepo(c.RepoURL) && c.Name == "":
		errs = append(errs, field.Required(p.Child("name"),
			"a classic (http/https) chart repository holds many charts: set name to the chart's name"))
	}
	if err := validateSemverConstraint(p.Child("semverConstraint"), c.SemverConstraint); err != nil {
		errs = append(errs, err)
	}
	if err := validateDiscoveryLimit(p.Child("discoveryLimit"), c.DiscoveryLimit); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// validateGenericSubscription checks the fields Caravan itself reads from a
// generic subscription. Its config belongs to the subscriber for its type
// and is not checked here.
func validateGenericSubscription(p *field.Path, g *Subscription, named bool) field.ErrorList {
	var errs field.ErrorList
	if g.SubscriptionType == "" {
		errs = append(errs, field.Required(p,
			"a generic subscription is written under its artifact type: use {<type>: {name: …}}"))
	}
	if g.Name == "" && !named {
		errs = append(errs, field.Required(p.Child("name"),
			"a generic subscription needs a name that identifies it in the Warehouse: set name"))
	}
	if err := validateDiscoveryLimit(p.Child("discoveryLimit"), g.DiscoveryLimit); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// validateDiscoveryLimit checks a subscription's discoveryLimit: 1–100, with
// 0 standing for the default (as in Kargo).
func validateDiscoveryLimit(p *field.Path, limit int32) *field.Error {
	if limit == 0 || (limit >= minDiscoveryLimit && limit <= MaxDiscoveryLimit) {
		return nil
	}
	return field.Invalid(p, limit, fmt.Sprintf(
		"must be between %d and %d: set a value in that range, or remove it for the default of %d",
		minDiscoveryLimit, MaxDiscoveryLimit, DefaultDiscoveryLimit,
	))
}
