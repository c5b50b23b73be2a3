package steps

import (
	"reflect"
	"testing"
)

func TestComposeOutputValidation(t *testing.T) {
	checkValidation(t, NewComposeOutput(), []validationCase{
		{name: "valid", config: `{url: "https://github.com/example/repo/pull/42"}`},
		{name: "empty", config: `{}`, want: "minProperties"},
		{name: "not an object", config: `[a]`, want: "want object"},
	})
}

func TestComposeOutput(t *testing.T) {
	res := runTwice(t, NewComposeOutput(), t.TempDir(), `
url: https://github.com/example/repo/pull/42
prNumber: 42
ratio: 0.5
merged: false
labels: [a, b]
nested: {k: v, num: 1}
none: null
`)
	want := map[string]any{
		"url": "https://github.com/example/repo/pull/42", "prNumber": int64(42), "ratio": 0.5, "merged": false,
		"labels": []any{"a", "b"}, "nested": map[string]any{"k": "v", "num": int64(1)}, "none": nil,
	}
	if res.Status != "Succeeded" || !reflect.DeepEqual(res.Output, want) {
		t.Fatalf("got %#v\nwant outputs %#v", res, want)
	}
}
