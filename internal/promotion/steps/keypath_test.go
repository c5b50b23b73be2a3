package steps

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitKeyPath(t *testing.T) {
	cases := []struct {
		key  string
		want []keyPart
		err  string
	}{
		{key: "image.tag", want: []keyPart{{name: "image"}, {name: "tag"}}},
		{key: `example\.com/version`, want: []keyPart{{name: "example.com/version"}}},
		{key: `configs.example\.com/feature.enabled`, want: []keyPart{{name: "configs"}, {name: "example.com/feature"}, {name: "enabled"}}},
		{key: `path\\to.file`, want: []keyPart{{name: `path\to`}, {name: "file"}}},
		{key: "containers.0.image", want: []keyPart{{name: "containers"}, {name: "0"}, {name: "image"}}},
		{key: "m.:0", want: []keyPart{{name: "m"}, {name: "0", forceKey: true}}},
		{key: `a.\:b`, want: []keyPart{{name: "a"}, {name: ":b"}}},
		{key: "", err: "the key is empty"},
		{key: "a..b", err: "has an empty part"},
		{key: "a.", err: "has an empty part"},
		{key: `a\`, err: "ends with a lone backslash"},
	}
	for _, tc := range cases {
		got, err := splitKeyPath(tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.key, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %#v, %v; want %#v", tc.key, got, err, tc.want)
		}
	}
	for part, want := range map[keyPart]int{{name: "0"}: 0, {name: "12"}: 12, {name: "-1"}: -1} {
		if i, ok := part.index(); !ok || i != want {
			t.Errorf("%v.index() = %d, %v", part, i, ok)
		}
	}
	for _, part := range []keyPart{{name: "0", forceKey: true}, {name: "-2"}, {name: "x"}, {name: "1.5"}} {
		if _, ok := part.index(); ok {
			t.Errorf("%v is not an index", part)
		}
	}
}
