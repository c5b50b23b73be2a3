package expr

import (
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

// stepConfig is a typical promotion's step configs: git-clone,
// kustomize-set-image, kustomize-build, git-commit, git-push and
// argocd-update, as one JSON document with 19 expressions in 16 strings.
const stepConfig = `{
  "clone": {"repoURL": "${{ vars.gitRepo }}", "checkout": [
    {"commit": "${{ commitFrom(vars.gitRepo).ID }}", "path": "${{ vars.srcPath }}"},
    {"branch": "stage/${{ ctx.stage }}", "create": true, "path": "${{ vars.outPath }}"}]},
  "setImage": {"path": "${{ vars.srcPath }}/base", "images": [
    {"image": "${{ vars.imageRepo }}", "tag": "${{ imageFrom(vars.imageRepo).Tag }}",
     "digest": "${{ imageFrom(vars.imageRepo, warehouse('shop')).Digest }}"}]},
  "build": {"path": "${{ vars.srcPath }}/stages/${{ ctx.stage }}", "outPath": "${{ vars.outPath }}"},
  "commit": {"path": "${{ vars.outPath }}", "message": "${{ outputs['update-image'].commitMessage }}"},
  "push": {"path": "${{ vars.outPath }}", "targetBranch": "stage/${{ ctx.stage }}"},
  "argocd": {"apps": [{"name": "shop-${{ ctx.stage }}", "sources": [
    {"repoURL": "${{ vars.gitRepo }}", "desiredRevision": "${{ outputs.commit.commit }}"}]}]}
}`

func benchEnv() (map[string]any, Option) {
	env := map[string]any{
		"ctx": map[string]any{
			"project": "shop", "stage": "uat", "promotion": "uat.01j0000000000000000000000.abcdef0",
			"targetFreight": map[string]any{"name": "abcdef0123", "origin": map[string]any{"name": "shop"}},
		},
		"vars": map[string]any{
			"gitRepo": "https://github.com/acme/shop-config.git", "imageRepo": "ghcr.io/acme/shop",
			"srcPath": "./src", "outPath": "./out",
		},
		"outputs": map[string]any{
			"update-image": map[string]any{"commitMessage": "Updated ghcr.io/acme/shop to 1.4.2"},
			"commit":       map[string]any{"commit": "0123456789abcdef0123456789abcdef01234567"},
		},
	}
	origin := v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKindWarehouse, Name: "shop"}
	freight := ArtifactSet(
		[]v1alpha1.GitCommit{{RepoURL: "https://github.com/acme/shop-config.git", ID: "89abcdef"}},
		[]v1alpha1.Image{{RepoURL: "ghcr.io/acme/shop", Tag: "1.4.2", Digest: "sha256:0123"}},
		nil,
	)
	return env, WithFunctions(FreightFunctions(Origin{Origin: origin, Freight: freight})...)
}

// BenchmarkEvaluateJSONTemplate evaluates the typical step configs with
// warm programs, as a promotion engine does for every step of every
// promotion.
func BenchmarkEvaluateJSONTemplate(b *testing.B) {
	env, opt := benchEnv()
	raw := []byte(stepConfig)
	if _, err := EvaluateJSONTemplate(raw, env, opt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EvaluateJSONTemplate(raw, env, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateTemplate evaluates one interpolated string.
func BenchmarkEvaluateTemplate(b *testing.B) {
	env, opt := benchEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EvaluateTemplate("stage/${{ ctx.stage }}", env, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFreightCreationCriteria evaluates a typical criteria expression.
func BenchmarkFreightCreationCriteria(b *testing.B) {
	images := []v1alpha1.Image{{RepoURL: "ghcr.io/acme/shop", Tag: "1.4.2"}}
	charts := []v1alpha1.Chart{{RepoURL: "oci://ghcr.io/acme/charts/shop", Version: "1.4.2"}}
	const criteria = `imageFrom("ghcr.io/acme/shop").Tag == chartFrom("oci://ghcr.io/acme/charts/shop").Version`
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := FreightCreationCriteria(criteria, nil, images, charts); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkCompile measures a cache miss: compiling a new expression.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p := build(`imageFrom(vars.imageRepo, warehouse('shop')).Tag + "-" + ctx.stage`)
		if p.err != nil {
			b.Fatal(p.err)
		}
	}
}
