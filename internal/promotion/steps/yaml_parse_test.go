package steps

import (
	"reflect"
	"testing"
)

func TestYAMLParseValidation(t *testing.T) {
	checkValidation(t, NewYAMLParse(), []validationCase{
		{name: "valid", config: `{path: values.yaml, outputs: [{name: tag, fromExpression: image.tag}]}`},
		{name: "outputs missing", config: `{path: values.yaml}`, want: "missing property 'outputs'"},
		{name: "outputs empty", config: `{path: values.yaml, outputs: []}`, want: "/outputs"},
		{name: "expression missing", config: `{path: v.yaml, outputs: [{name: tag}]}`, want: "missing property 'fromExpression'"},
		{name: "name empty", config: `{path: v.yaml, outputs: [{name: "", fromExpression: a}]}`, want: "/outputs/0/name"},
		{name: "names repeat", config: `{path: v.yaml, outputs: [{name: a, fromExpression: x}, {name: a, fromExpression: z}]}`,
			files: map[string]string{"v.yaml": "x: 1\nz: 2\n"}, want: `outputs[1].name "a": outputs[0] has the same name`},
		{name: "empty file", config: `{path: v.yaml, outputs: [{name: a, fromExpression: x}]}`,
			files: map[string]string{"v.yaml": ""}, want: "parse v.yaml: the file is empty"},
		{name: "unknown variable", config: `{path: v.yaml, outputs: [{name: tag, fromExpression: imag.tag}]}`,
			files: map[string]string{"v.yaml": "image:\n  tag: v1\n"}, want: "outputs[0] (tag):"},
		{name: "bad expression", config: `{path: v.yaml, outputs: [{name: tag, fromExpression: "image.("}]}`,
			files: map[string]string{"v.yaml": "image:\n  tag: v1\n"}, want: "outputs[0] (tag): invalid expression"},
		{name: "not YAML", config: `{path: v.yaml, outputs: [{name: a, fromExpression: a}]}`,
			files: map[string]string{"v.yaml": "a: [\n"}, want: "parse v.yaml: parse the file as YAML"},
	})
}

func TestYAMLParseOutputs(t *testing.T) {
	const values = `# chart values
image:
  repository: ghcr.io/example/app
  tag: "1.20"
replicas: 3
ratio: 0.5
rbac:
  installClusterRoles: true
created: 2024-05-01T10:00:00Z
hosts: [a.example.com, b.example.com]
quote: reserved-name
`
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src/values.yaml": values, "list.yaml": "- a\n- b\n"})
	res := runTwice(t, NewYAMLParse(), dir, `
path: ./src/values.yaml
outputs:
- {name: imageTag, fromExpression: image.tag}
- {name: replicas, fromExpression: replicas + 1}
- {name: ratio, fromExpression: ratio}
- {name: rbac, fromExpression: rbac.installClusterRoles}
- {name: created, fromExpression: created}
- {name: firstHost, fromExpression: 'hosts[0]'}
- {name: hostCount, fromExpression: len(hosts)}
- {name: image, fromExpression: image}
- {name: missing, fromExpression: 'image.digest ?? "none"'}
- {name: viaOutputs, fromExpression: outputs.quote}
`)
	want := map[string]any{
		"imageTag": "1.20", "replicas": int64(4), "ratio": 0.5, "rbac": true,
		"created": "2024-05-01T10:00:00Z", "firstHost": "a.example.com", "hostCount": int64(2),
		"image":   map[string]any{"repository": "ghcr.io/example/app", "tag": "1.20"},
		"missing": "none", "viaOutputs": "reserved-name",
	}
	if !reflect.DeepEqual(res.Output, want) {
		t.Fatalf("outputs:\n%#v\nwant:\n%#v", res.Output, want)
	}
	res = runTwice(t, NewYAMLParse(), dir, `{path: list.yaml, outputs: [{name: second, fromExpression: "root[1]"}]}`)
	if res.Output["second"] != "b" {
		t.Fatalf("root of a sequence document: %v", res.Output)
	}
}
