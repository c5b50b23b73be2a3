package steps

import (
	"reflect"
	"testing"
)

func TestJSONParseValidation(t *testing.T) {
	checkValidation(t, NewJSONParse(), []validationCase{
		{name: "valid", config: `{path: v.json, outputs: [{name: tag, fromExpression: image.tag}]}`},
		{name: "path missing", config: `{outputs: [{name: tag, fromExpression: image.tag}]}`, want: "missing property 'path'"},
		{name: "unknown field", config: `{path: v.json, outputs: [{name: a, fromExpression: b, from: c}]}`, want: "additional properties 'from'"},
		{name: "trailing data", config: `{path: v.json, outputs: [{name: a, fromExpression: a}]}`,
			files: map[string]string{"v.json": `{"a": 1} {"b": 2}`}, want: "there is more after the first value"},
		{name: "not JSON", config: `{path: v.json, outputs: [{name: a, fromExpression: a}]}`,
			files: map[string]string{"v.json": `a: 1`}, want: "parse v.json: parse the file as JSON"},
		{name: "file missing", config: `{path: nope.json, outputs: [{name: a, fromExpression: a}]}`, want: `path "nope.json": no such file`},
	})
}

func TestJSONParseOutputs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"values.json": `{"image": {"tag": "latest", "digest": null}, "rbac": {"installClusterRoles": true}, "big": 12345678901234, "list": [1, 2.5]}`,
		"array.json":  `[{"name": "a"}, {"name": "b"}]`,
	})
	res := runTwice(t, NewJSONParse(), dir, `
path: values.json
outputs:
- {name: imageTag, fromExpression: image.tag}
- {name: digest, fromExpression: image.digest}
- {name: roles, fromExpression: rbac.installClusterRoles}
- {name: big, fromExpression: big}
- {name: sum, fromExpression: 'list[0] + list[1]'}
`)
	want := map[string]any{"imageTag": "latest", "digest": nil, "roles": true, "big": int64(12345678901234), "sum": 3.5}
	if !reflect.DeepEqual(res.Output, want) {
		t.Fatalf("outputs:\n%#v\nwant:\n%#v", res.Output, want)
	}
	res = runTwice(t, NewJSONParse(), dir, `{path: array.json, outputs: [{name: names, fromExpression: "map(root, .name)"}]}`)
	if !reflect.DeepEqual(res.Output["names"], []any{"a", "b"}) {
		t.Fatalf("outputs of an array document: %#v", res.Output)
	}
}
