package expr

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

func warehouse(name string) v1alpha1.FreightOrigin {
	return v1alpha1.FreightOrigin{Kind: v1alpha1.FreightOriginKindWarehouse, Name: name}
}

func TestFreightFunctionsSingleSource(t *testing.T) {
	commit := v1alpha1.GitCommit{RepoURL: "https://github.com/Acme/Config.git", ID: "abc123", Branch: "main"}
	sshCommit := v1alpha1.GitCommit{RepoURL: "git@gitlab.com:acme/infra.git", ID: "def456", Tag: "v1.0.0"}
	nginx := v1alpha1.Image{RepoURL: "nginx", Tag: "1.27.0", Digest: "sha256:aaa"}
	shop := v1alpha1.Image{RepoURL: "ghcr.io/acme/shop", Tag: "2.0.0", Annotations: map[string]string{"org.opencontainers.image.revision": "abc123"}}
	ociChart := v1alpha1.Chart{RepoURL: "oci://ghcr.io/acme/charts/shop", Version: "0.3.0"}
	httpChartA := v1alpha1.Chart{RepoURL: "https://charts.acme.io", Name: "api", Version: "1.1.0"}
	httpChartB := v1alpha1.Chart{RepoURL: "https://charts.acme.io", Name: "web", Version: "2.2.0"}
	src := ArtifactSet(
		[]v1alpha1.GitCommit{commit, sshCommit},
		[]v1alpha1.Image{nginx, shop},
		[]v1alpha1.Chart{ociChart, httpChartA, httpChartB},
	)
	opt := WithFunctions(FreightFunctions(Origin{Freight: src})...)

	tests := []struct {
		name string
		expr string
		want any
	}{
		{"image as written", `imageFrom("nginx").Tag`, "1.27.0"},
		{"Docker Hub image in full", `imageFrom("docker.io/library/nginx").Digest`, "sha256:aaa"},
		{"Docker Hub image via index.docker.io", `imageFrom("index.docker.io/nginx").Tag`, "1.27.0"},
		{"image with a tag in the reference", `imageFrom("nginx:latest").Tag`, "1.27.0"},
		{"image annotations", `imageFrom("ghcr.io/acme/shop").Annotations["org.opencontainers.image.revision"]`, "abc123"},
		{"whole image struct", `imageFrom("ghcr.io/acme/shop")`, shop},
		{"commit: case, user and .git ignored", `commitFrom("https://bob@github.com/acme/config").ID`, "abc123"},
		{"commit: trailing slash", `commitFrom("https://github.com/acme/config.git/").Branch`, "main"},
		{"commit: scp style equals ssh URL", `commitFrom("ssh://git@gitlab.com/acme/infra").Tag`, "v1.0.0"},
		{"whole commit struct", `commitFrom("https://github.com/acme/config")`, commit},
		{"OCI chart without oci://", `chartFrom("ghcr.io/acme/charts/shop").Version`, "0.3.0"},
		{"OCI chart with oci://", `chartFrom("oci://GHCR.io/acme/charts/shop").Version`, "0.3.0"},
		{"classic chart by name", `chartFrom("https://charts.acme.io", "web").Version`, "2.2.0"},
		{"classic chart, other name", `chartFrom("https://charts.acme.io", "api")`, httpChartA},
		{"absent image is nil", `imageFrom("quay.io/other/app")`, nil},
		{"absent commit is nil", `commitFrom("https://github.com/acme/other")`, nil},
		{"absent chart name is nil", `chartFrom("https://charts.acme.io", "db")`, nil},
		{"absent handled with ?. and ??", `imageFrom("quay.io/other/app")?.Tag ?? "latest"`, "latest"},
		{"comparison", `imageFrom("ghcr.io/acme/shop").Annotations["org.opencontainers.image.revision"] == commitFrom("https://github.com/acme/config").ID`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Eval(tt.expr, nil, opt)
			if err != nil {
				t.Fatalf("Eval(%s): %v", tt.expr, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval(%s) = %#v, want %#v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestFreightFunctionsSingleSourceErrors(t *testing.T) {
	src := ArtifactSet(nil, nil, []v1alpha1.Chart{
		{RepoURL: "https://charts.acme.io", Name: "api", Version: "1.1.0"},
		{RepoURL: "https://charts.acme.io", Name: "web", Version: "2.2.0"},
	})
	opt := WithFunctions(FreightFunctions(Origin{Freight: src})...)
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"classic repository with several charts needs the name", `chartFrom("https://charts.acme.io")`,
			[]string{`chartFrom("https://charts.acme.io") is ambiguous: the repository has charts "api" and "web"`,
				`chartFrom("https://charts.acme.io", "api")`}},
		{"no origin in a single source", `chartFrom("https://charts.acme.io", "api", warehouse("w"))`,
			[]string{"an origin cannot be given here", "drop the origin argument"}},
		{"repoURL not a string", `imageFrom(nil)`,
			[]string{"imageFrom: repoURL must be a non-empty string, got nil"}},
		{"empty repoURL", `commitFrom("")`,
			[]string{`commitFrom: repoURL must be a non-empty string, got string ""`}},
		{"origin not an origin", `imageFrom("nginx", 42)`,
			[]string{`imageFrom: origin must be a Freight origin such as warehouse("name"), got number 42`}},
		{"chart name not a string", `chartFrom("oci://x/y", 1, warehouse("w"))`,
			[]string{"chartFrom: chartName must be a string, got number 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Eval(tt.expr, nil, opt)
			if err == nil {
				t.Fatalf("Eval(%s) = %#v, want an error", tt.expr, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n  %v\ndoes not contain\n  %s", err, w)
				}
			}
		})
	}
}

func TestFreightFunctionsOrigins(t *testing.T) {
	shopA := v1alpha1.Image{RepoURL: "ghcr.io/acme/shop", Tag: "1.0.0"}
	shopB := v1alpha1.Image{RepoURL: "ghcr.io/acme/shop", Tag: "2.0.0"}
	cfg := v1alpha1.GitCommit{RepoURL: "https://github.com/acme/config", ID: "c0ffee"}
	chart := v1alpha1.Chart{RepoURL: "oci://ghcr.io/acme/charts/shop", Version: "0.1.0"}
	imageSub := func(repo string) v1alpha1.RepoSubscription {
		return v1alpha1.RepoSubscription{Image: &v1alpha1.ImageSubscription{RepoURL: repo}}
	}
	gitSub := func(repo string) v1alpha1.RepoSubscription {
		return v1alpha1.RepoSubscription{Git: &v1alpha1.GitSubscription{RepoURL: repo}}
	}
	chartSub := func(repo, name string) v1alpha1.RepoSubscription {
		return v1alpha1.RepoSubscription{Chart: &v1alpha1.ChartSubscription{RepoURL: repo, Name: name}}
	}

	// By Freight contents: a and b both carry the shop image; only a has the
	// config commit; c has no Freight yet.
	byFreight := []Origin{
		{Origin: warehouse("a"), Freight: ArtifactSet([]v1alpha1.GitCommit{cfg}, []v1alpha1.Image{shopA}, nil)},
		{Origin: warehouse("b"), Freight: ReferenceArtifacts(v1alpha1.FreightReference{
			Name: "f-b", Origin: warehouse("b"), Images: []v1alpha1.Image{shopB}, Charts: []v1alpha1.Chart{chart}})},
		{Origin: warehouse("c")},
	}
	// By subscriptions: b subscribes to the config repository too, though its
	// Freight does not have a commit of it yet; c subscribes to the chart but
	// has no Freight.
	bySubs := []Origin{
		{Origin: warehouse("a"), Freight: byFreight[0].Freight,
			Subscriptions: []v1alpha1.RepoSubscription{imageSub("ghcr.io/acme/shop"), gitSub("https://github.com/acme/config.git")}},
		{Origin: warehouse("b"), Freight: byFreight[1].Freight,
			Subscriptions: []v1alpha1.RepoSubscription{gitSub("https://github.com/ACME/config"), chartSub("oci://ghcr.io/acme/charts/shop", "")}},
		{Origin: warehouse("c"), Subscriptions: []v1alpha1.RepoSubscription{imageSub("quay.io/acme/tool")}},
	}

	tests := []struct {
		name    string
		origins []Origin
		env     map[string]any
		expr    string
		want    any
		wantErr []string
	}{
		{name: "one origin has it", origins: byFreight, expr: `commitFrom("https://github.com/acme/config").ID`, want: "c0ffee"},
		{name: "one origin has the chart", origins: byFreight, expr: `chartFrom("oci://ghcr.io/acme/charts/shop").Version`, want: "0.1.0"},
		{name: "named origin a", origins: byFreight, expr: `imageFrom("ghcr.io/acme/shop", warehouse("a")).Tag`, want: "1.0.0"},
		{name: "named origin b", origins: byFreight, expr: `imageFrom("ghcr.io/acme/shop", warehouse("b")).Tag`, want: "2.0.0"},
		{name: "named origin as a map (ctx.targetFreight.origin)", origins: byFreight,
			env:  map[string]any{"ctx": map[string]any{"targetFreight": map[string]any{"origin": map[string]any{"kind": "Warehouse", "name": "b"}}}},
			expr: `imageFrom("ghcr.io/acme/shop", ctx.targetFreight.origin).Tag`, want: "2.0.0"},
		{name: "chart with name and origin", origins: byFreight, expr: `chartFrom("oci://ghcr.io/acme/charts/shop", "", warehouse("b")).Version`, want: "0.1.0"},
		{name: "chart with origin only", origins: byFreight, expr: `chartFrom("oci://ghcr.io/acme/charts/shop", warehouse("b")).Version`, want: "0.1.0"},
		{name: "named origin without that artifact is nil", origins: byFreight, expr: `commitFrom("https://github.com/acme/config", warehouse("b"))`, want: nil},
		{name: "named origin without Freight is nil", origins: byFreight, expr: `imageFrom("ghcr.io/acme/shop", warehouse("c"))`, want: nil},
		{name: "nobody has it", origins: byFreight, expr: `imageFrom("quay.io/x/y")`, want: nil},
		{
			name: "two origins have it", origins: byFreight, expr: `imageFrom("ghcr.io/acme/shop").Tag`,
			wantErr: []string{
				`imageFrom("ghcr.io/acme/shop") is ambiguous: Freight from 2 origins could provide an image from ghcr.io/acme/shop (Warehouse/a, Warehouse/b)`,
				`name the origin, e.g. imageFrom("ghcr.io/acme/shop", warehouse("a"))`,
			},
		},
		{
			name: "nil from a named origin is explained", origins: byFreight,
			expr: `commitFrom("https://github.com/acme/config", warehouse("b")).ID`,
			wantErr: []string{"cannot fetch ID from <nil>",
				`commitFrom("https://github.com/acme/config", warehouse("b")) found nothing: there is no commit from https://github.com/acme/config (the Freight from Warehouse/b has no commits)`},
		},
		{
			name: "unknown origin", origins: byFreight, expr: `imageFrom("ghcr.io/acme/shop", warehouse("z"))`,
			wantErr: []string{`Warehouse/z is not an origin of this Freight; the origins are Warehouse/a, Warehouse/b, Warehouse/c`},
		},
		{
			name: "subscriptions make it ambiguous before the Freight does", origins: bySubs,
			expr:    `commitFrom("https://github.com/acme/config").ID`,
			wantErr: []string{`commitFrom("https://github.com/acme/config") is ambiguous: Freight from 2 origins could provide a commit`},
		},
		{name: "subscriptions pick the only subscriber", origins: bySubs, expr: `imageFrom("ghcr.io/acme/shop").Tag`, want: "1.0.0"},
		{name: "subscriber without Freight yet gives nil", origins: bySubs, expr: `imageFrom("quay.io/acme/tool")`, want: nil},
		{name: "subscribed chart", origins: bySubs, expr: `chartFrom("ghcr.io/acme/charts/shop").Version`, want: "0.1.0"},
		{name: "origin resolves the subscription ambiguity", origins: bySubs,
			expr: `commitFrom("https://github.com/acme/config", warehouse("a")).ID`, want: "c0ffee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Eval(tt.expr, tt.env, WithFunctions(FreightFunctions(tt.origins...)...))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Eval(%s) = %#v, want an error", tt.expr, got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error\n  %v\ndoes not contain\n  %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(%s): %v", tt.expr, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval(%s) = %#v, want %#v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestFreightFunctionsInTemplates(t *testing.T) {
	f := &v1alpha1.Freight{
		Origin: warehouse("shop"),
		Images: []v1alpha1.Image{{RepoURL: "ghcr.io/acme/shop", Tag: "1.4.2", Digest: "sha256:bbb"}},
	}
	opt := WithFunctions(FreightFunctions(Origin{Origin: f.Origin, Freight: FreightArtifacts(f)})...)
	got, err := EvaluateJSONTemplate([]byte(`{
		"images": [{"image": "ghcr.io/acme/shop", "tag": "${{ imageFrom('ghcr.io/acme/shop').Tag }}"}],
		"ref": "ghcr.io/acme/shop@${{ imageFrom('ghcr.io/acme/shop', warehouse('shop')).Digest }}",
		"whole": "${{ imageFrom('ghcr.io/acme/shop') }}"
	}`), nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"images":[{"image":"ghcr.io/acme/shop","tag":"1.4.2"}],"ref":"ghcr.io/acme/shop@sha256:bbb",` +
		`"whole":{"digest":"sha256:bbb","repoURL":"ghcr.io/acme/shop","tag":"1.4.2"}}`
	if string(got) != want {
		t.Errorf("got\n  %s\nwant\n  %s", got, want)
	}
}
