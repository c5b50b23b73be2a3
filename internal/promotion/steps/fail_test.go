package steps

import (
	"testing"

	"github.com/caravan-dev/caravan/internal/promotion"
)

func TestFailValidation(t *testing.T) {
	checkValidation(t, NewFail(), []validationCase{
		{name: "with a message", config: `{message: "chart name mismatch"}`},
		{name: "without config", config: `{}`},
		{name: "empty message", config: `{message: ""}`, want: "/message"},
		{name: "unknown field", config: `{reason: x}`, want: "additional properties 'reason'"},
	})
}

func TestFail(t *testing.T) {
	cases := []struct{ name, config, want string }{
		{"message", `{message: "Expected chart name foo"}`, "Expected chart name foo"},
		{"default", `{}`, failDefaultMessage},
		{"no config at all", ``, failDefaultMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runTwice(t, NewFail(), t.TempDir(), tc.config)
			if res.Status != promotion.StepStatusFailed || res.Message != tc.want || res.Output != nil {
				t.Fatalf("got %#v; want Failed with %q", res, tc.want)
			}
		})
	}
}
