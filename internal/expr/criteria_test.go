package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
)

func TestFreightCreationCriteria(t *testing.T) {
	commits := []v1alpha1.GitCommit{
		{RepoURL: "https://github.com/acme/frontend.git", ID: "aaa", Tag: "v1.2.0", Message: "Release 1.2.0\n\nNotes"},
		{RepoURL: "https://github.com/acme/backend.git", ID: "bbb", Tag: "v1.2.0"},
	}
	images := []v1alpha1.Image{{RepoURL: "ghcr.io/acme/shop", Tag: "1.2.0"}}
	charts := []v1alpha1.Chart{{RepoURL: "oci://ghcr.io/acme/charts/shop", Version: "1.2.0"}}
	skewed := []v1alpha1.Chart{{RepoURL: "oci://ghcr.io/acme/charts/shop", Version: "1.1.0"}}

	tests := []struct {
		name    string
		expr    string
		charts  []v1alpha1.Chart
		none    bool // no artifacts at all
		want    bool
		wantErr []string
	}{
		{name: "empty expression", expr: "", want: true},
		{name: "blank expression", expr: "  \n ", want: true},
		{name: "tags align", expr: `imageFrom("ghcr.io/acme/shop").Tag == chartFrom("oci://ghcr.io/acme/charts/shop").Version`,
			charts: charts, want: true},
		{name: "tags skewed", expr: `imageFrom("ghcr.io/acme/shop").Tag == chartFrom("oci://ghcr.io/acme/charts/shop").Version`,
			charts: skewed, want: false},
		{name: "commits from two repositories", expr: `commitFrom("https://github.com/acme/frontend").Tag == commitFrom("https://github.com/acme/backend").Tag`,
			want: true},
		{name: "multi-line expression from a YAML block", expr: "commitFrom('https://github.com/acme/frontend').Tag ==\n  'v' + imageFrom('ghcr.io/acme/shop').Tag\n",
			want: true},
		{name: "Subject, as Kargo names it here", expr: `commitFrom("https://github.com/acme/frontend").Subject == "Release 1.2.0"`, want: true},
		{name: "Message, as the commit names it", expr: `commitFrom("https://github.com/acme/frontend").Message startsWith "Release"`, want: true},
		{name: "absent artifact handled", expr: `(imageFrom("quay.io/other")?.Tag ?? "none") == "none"`, want: true},
		{name: "string true counts, as in Kargo", expr: `"true"`, want: true},
		{name: "number 0 counts as false, as in Kargo", expr: `0`, want: false},
		{name: "no artifacts is true", expr: `imageFrom("ghcr.io/acme/shop").Tag == "9"`, none: true, want: true},
		{
			name: "string result", expr: `"x"`,
			wantErr: []string{`freightCreationCriteria.expression must evaluate to true or false, got string "x"`},
		},
		{
			name: "field value instead of a comparison", expr: `imageFrom("ghcr.io/acme/shop").Tag`,
			wantErr: []string{`must evaluate to true or false, got string "1.2.0"`, "compare values"},
		},
		{
			name: "nil result", expr: `imageFrom("quay.io/other")`,
			wantErr: []string{"must evaluate to true or false, got nil"},
		},
		{
			name: "list result", expr: `[true]`,
			wantErr: []string{"must evaluate to true or false, got a list"},
		},
		{
			name: "compile error", expr: `imageFrom("ghcr.io/acme/shop").Tag ==`,
			wantErr: []string{`freightCreationCriteria.expression: invalid expression`, "unexpected token EOF"},
		},
		{
			name: "compile error even without artifacts", expr: `imageFron("x")`, none: true,
			wantErr: []string{"unknown function imageFron (did you mean imageFrom?)"},
		},
		{
			name: "delimiters are not part of this language", expr: `${{ imageFrom("ghcr.io/acme/shop").Tag == "1" }}`,
			wantErr: []string{"freightCreationCriteria.expression: invalid expression"},
		},
		{
			name: "missing artifact", expr: `imageFrom("ghcr.io/acme/cart").Tag == "1.2.0"`,
			wantErr: []string{
				"cannot fetch Tag from <nil>",
				`imageFrom("ghcr.io/acme/cart") found nothing: there is no image from ghcr.io/acme/cart (there are images from ghcr.io/acme/shop)`,
			},
		},
		{
			name: "variables do not exist here", expr: `vars.x == 1`,
			wantErr: []string{"unknown variable vars; no variables are defined here"},
		},
		{
			name: "promotion-only function", expr: `secret("x").a == "b"`,
			wantErr: []string{"function secret is not available here"},
		},
		{
			name: "origin argument", expr: `imageFrom("ghcr.io/acme/shop", warehouse("w")).Tag == "1"`,
			wantErr: []string{"an origin cannot be given here"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, i, ch := commits, images, tt.charts
			if tt.none {
				c, i, ch = nil, nil, nil
			}
			got, err := FreightCreationCriteria(tt.expr, c, i, ch)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("FreightCreationCriteria(%q) = %v, want an error", tt.expr, got)
				}
				if got {
					t.Errorf("FreightCreationCriteria(%q) returned true with an error", tt.expr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error\n  %v\ndoes not contain\n  %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FreightCreationCriteria(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Errorf("FreightCreationCriteria(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestFreightCreationCriteriaErrorIsTyped(t *testing.T) {
	_, err := FreightCreationCriteria(`1 +`, nil, []v1alpha1.Image{{RepoURL: "x/y"}}, nil)
	var e *Error
	if !errors.As(err, &e) || !e.Compile {
		t.Fatalf("error %v: want a compile *Error inside", err)
	}
}

func TestValidateFreightCreationCriteria(t *testing.T) {
	tests := []struct {
		expr string
		want string // substring of the error; "" for none
	}{
		{"", ""},
		{`imageFrom("a/b").Tag == chartFrom("oci://a/c").Version`, ""},
		{`commitFrom("https://x/y").Subject startsWith "Release" && semverDiff("1.0.0", "1.1.0") == "Minor"`, ""},
		{`imageFrom("a/b").Tag ==`, "unexpected token EOF"},
		{`vars.x == imageFrom("a/b").Tag`, "unknown variable vars: freight creation criteria have no variables"},
		{`secret("s").x == "y"`, "function secret is not available in freight creation criteria"},
		{`imageFron("a/b")`, "did you mean imageFrom?"},
	}
	for _, tt := range tests {
		err := ValidateFreightCreationCriteria(tt.expr)
		if tt.want == "" && err != nil {
			t.Errorf("ValidateFreightCreationCriteria(%q): %v", tt.expr, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("ValidateFreightCreationCriteria(%q) = %v, want an error containing %q", tt.expr, err, tt.want)
		}
	}
}
