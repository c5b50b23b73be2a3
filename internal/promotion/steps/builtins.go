package steps

import (
	"net/http"

	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/promotion"
)

// Deps are the dependencies of the built-in steps. Each step takes only the
// ones it needs.
type Deps struct {
	// Mirrors are the shared bare Git mirrors, one per repository: clones
	// borrow their objects, so a promotion fetches only what they lack.
	Mirrors *git.Mirrors
	// Credentials finds repository credentials (git, helm); nil means none.
	Credentials discovery.CredentialsLookup
	// HTTPClient makes the HTTP requests of the http, http-download and
	// Helm steps; nil means a default client.
	HTTPClient *http.Client
	// Metadata writes the metadata of Stages and Freight (set-metadata);
	// without it that step is not registered.
	Metadata MetadataWriter
	// Aliases writes Freight aliases (set-freight-alias); without it that
	// step is not registered.
	Aliases AliasWriter
}

// Builtins returns every built-in step, built with deps, for
// promotion.NewRegistry. This list is the one place steps are registered.
func Builtins(deps Deps) []promotion.Step {
	all := []promotion.Step{
		// Git
		NewGitClone(deps.Mirrors, deps.Credentials),
		NewGitClear(),
		NewGitCommit(),
		NewGitTag(),
		NewGitPush(deps.Mirrors, deps.Credentials),
		// Kustomize and Helm
		NewKustomizeSetImage(),
		NewKustomizeBuild(),
		NewHelmTemplate(deps.Credentials, deps.HTTPClient),
		NewHelmUpdateChart(deps.Credentials, deps.HTTPClient),
		// Files and data
		NewYAMLUpdate(),
		NewYAMLParse(),
		NewYAMLMerge(),
		NewJSONUpdate(),
		NewJSONParse(),
		NewCopy(),
		NewDelete(),
		NewFileWrite(),
		NewTar(),
		NewUntar(),
		// HTTP
		NewHTTP(deps.HTTPClient),
		NewHTTPDownload(deps.HTTPClient),
		// Control and records
		NewComposeOutput(),
		NewFail(),
	}
	if deps.Metadata != nil {
		all = append(all, NewSetMetadata(deps.Metadata))
	}
	if deps.Aliases != nil {
		all = append(all, NewSetFreightAlias(deps.Aliases))
	}
	return all
}
