package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

func TestYAMLUpdateValidation(t *testing.T) {
	checkValidation(t, NewYAMLUpdate(), []validationCase{
		{name: "valid", config: `{path: values.yaml, updates: [{key: image.tag, value: v2}]}`},
		{name: "value may be any type", config: `{path: v.yaml, updates: [{key: a, value: {b: [1]}}, {key: c, value: null}]}`},
		{name: "path missing", config: `{updates: [{key: a, value: b}]}`, want: "missing property 'path'"},
		{name: "path empty", config: `{path: "", updates: [{key: a, value: b}]}`, want: "/path"},
		{name: "updates missing", config: `{path: v.yaml}`, want: "missing property 'updates'"},
		{name: "updates empty", config: `{path: v.yaml, updates: []}`, want: "/updates"},
		{name: "value missing", config: `{path: v.yaml, updates: [{key: a}]}`, want: "missing property 'value'"},
		{name: "key empty", config: `{path: v.yaml, updates: [{key: "", value: 1}]}`, want: "/updates/0/key"},
		{name: "unknown field", config: `{path: v.yaml, updates: [{key: a, value: 1}], file: x}`, want: "additional properties 'file'"},
		{name: "key with an empty part", config: `{path: v.yaml, updates: [{key: "a..b", value: 1}]}`,
			files: map[string]string{"v.yaml": "a: 1\n"}, want: `updates[0].key: key "a..b" has an empty part`},
		{name: "path outside the workspace", config: `{path: ../v.yaml, updates: [{key: a, value: 1}]}`,
			want: "leads outside the promotion's workspace"},
		{name: "file missing", config: `{path: src/values.yaml, updates: [{key: a, value: 1}]}`,
			want: `read src/values.yaml: path "src/values.yaml": no such file in the promotion's workspace`},
		{name: "key missing", config: `{path: v.yaml, updates: [{key: image.tga, value: v2}]}`,
			files: map[string]string{"v.yaml": "image:\n  repository: app\n  tag: v1\n"},
			want:  `update v.yaml: updates[0].key "image.tga": not found: "image" has no key "tga" (its keys: repository, tag): correct the key`},
		{name: "bracket index", config: `{path: k.yaml, updates: [{key: "helmCharts[0].version", value: 2.0.0}]}`,
			files: map[string]string{"k.yaml": "helmCharts:\n- name: a\n  version: 1.0.0\n"},
			want:  "write sequence indexes as parts of their own: helmCharts.0"},
		{name: "index out of range", config: `{path: k.yaml, updates: [{key: list.3, value: x}]}`,
			files: map[string]string{"k.yaml": "list: [a, b]\n"},
			want:  `"list" is a sequence of 2 items and "3" is not an index into it: use 0 to 1`},
		{name: "mapping addressed", config: `{path: v.yaml, updates: [{key: image, value: x}]}`,
			files: map[string]string{"v.yaml": "image:\n  tag: v1\n"},
			want:  `"image" is a mapping, not a single value: address one of its keys, such as image.<key>`},
		{name: "below a scalar", config: `{path: v.yaml, updates: [{key: image.tag.x, value: x}]}`,
			files: map[string]string{"v.yaml": "image:\n  tag: v1\n"},
			want:  `"image.tag" is a single value, so "x" cannot be below it`},
		{name: "through an alias", config: `{path: v.yaml, updates: [{key: b.x, value: 2}]}`,
			files: map[string]string{"v.yaml": "a: &base\n  x: 1\nb: *base\n"},
			want:  `"b" is an alias (*base): update the anchored value (&base) instead`},
		{name: "not YAML", config: `{path: v.yaml, updates: [{key: a, value: 1}]}`,
			files: map[string]string{"v.yaml": "a: [1\n"}, want: "update v.yaml: parse the file as YAML"},
	})
}

func TestYAMLUpdatePreservesCommentsAndFormatting(t *testing.T) {
	const before = `# Values for the guestbook chart.
image:
  repository: ghcr.io/example/guestbook   # the image
  tag: "1.0.0"      # bumped by Caravan

replicaCount: 2
podAnnotations:
  example.com/version: v1
containers:
    - name: app
      image: 'app:v1'
ports: {http: 80, extra: [8080, 8081]}
anchored: &tag v1
script: |
  echo one
  echo two

# a comment at the end
`
	const after = `# Values for the guestbook chart.
image:
  repository: ghcr.io/example/guestbook   # the image
  tag: "1.2.3"      # bumped by Caravan

replicaCount: 3
podAnnotations:
  example.com/version: v2
containers:
    - name: app
      image: 'app:it''s v2'
ports: {http: 8080, extra: [8080, "9000"]}
anchored: &tag v2
script: |
  echo three
  echo four

# a comment at the end
`
	const config = `
path: ./src/values.yaml
updates:
- key: image.tag
  value: 1.2.3
- key: replicaCount
  value: 3
- key: podAnnotations.example\.com/version
  value: v2
- key: containers.0.image
  value: "app:it's v2"
- key: ports.http
  value: 8080
- key: ports.extra.1
  value: "9000"
- key: anchored
  value: v2
- key: script
  value: "echo three\necho four\n"
`
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src/values.yaml": before})
	res := runTwice(t, NewYAMLUpdate(), dir, config)
	if got := readFile(t, dir, "src/values.yaml"); got != after {
		t.Fatalf("file after update:\n%s\nwant:\n%s", got, after)
	}
	if res.Status != promotion.StepStatusSucceeded {
		t.Fatalf("status %s", res.Status)
	}
	wantMsg := "Updated ./src/values.yaml\n\n- image.tag: \"1.2.3\"\n- replicaCount: 3\n- podAnnotations.example\\.com/version: v2\n" +
		"- containers.0.image: 'app:it''s v2'\n- ports.http: 8080\n- ports.extra.1: \"9000\"\n- anchored: v2\n- script: |\n  echo three\n  echo four"
	if got := res.Output["commitMessage"]; got != wantMsg {
		t.Fatalf("commitMessage:\n%v\nwant:\n%s", got, wantMsg)
	}
}

func TestYAMLUpdateValues(t *testing.T) {
	cases := []struct {
		name, before, key, value, after string
	}{
		{"plain string stays plain", "tag: v1\n", "tag", `v2`, "tag: v2\n"},
		{"string that reads as a number is quoted", "tag: v1\n", "tag", `"1.20"`, "tag: \"1.20\"\n"},
		{"string that reads as a bool is quoted", "flag: x\n", "flag", `"true"`, "flag: \"true\"\n"},
		{"number replaces a string", "replicas: \"2\"\n", "replicas", `3`, "replicas: 3\n"},
		{"bool", "enabled: false # off\n", "enabled", `true`, "enabled: true # off\n"},
		{"null", "x: 1\n", "x", `null`, "x: null\n"},
		{"double quotes kept", "a: \"x\"\n", "a", `"y \"z\""`, "a: \"y \\\"z\\\"\"\n"},
		{"single quotes kept", "a: 'x'\n", "a", `"it's"`, "a: 'it''s'\n"},
		{"multi-line string into a plain scalar", "a: x\nb: y\n", "a", `"l1\nl2"`, "a: \"l1\\nl2\"\nb: y\n"},
		{"literal block keeps chomping", "a: |-\n  x\n  y\nb: 1\n", "a", `"p\nq"`, "a: |-\n  p\n  q\nb: 1\n"},
		{"folded block to one line", "a: >\n  x\n  y\nb: 1\n", "a", `"one"`, "a: one\nb: 1\n"},
		{"multi-line plain scalar", "a: first\n  second\nb: 1\n", "a", `z`, "a: z\nb: 1\n"},
		{"value on the next line", "a:\n  x\nb: 1\n", "a", `z`, "a:\n  z\nb: 1\n"},
		{"explicit tag is replaced", "a: !!str 12\n", "a", `13`, "a: 13\n"},
		{"mapping value in flow", "a: x\n", "a", `{"k": [1, 2]}`, "a: {\"k\":[1,2]}\n"},
		{"unicode before the value", "ünï: \"ä\" # c\n", "ünï", `"ö"`, "ünï: \"ö\" # c\n"},
		{"colon forces a key", "m:\n  \"0\": a\n", "m.:0", `b`, "m:\n  \"0\": b\n"},
		{"sequence item", "- a\n- b\n", "1", `c`, "- a\n- c\n"},
		{"crlf line endings", "a: 1\r\nb: 2\r\n", "b", `3`, "a: 1\r\nb: 3\r\n"},
		{"second document untouched", "a: 1\n---\na: 1\n", "a", `2`, "a: 2\n---\na: 1\n"},
		{"empty value", "a:\nb: 1\n", "a", `x`, "a: x\nb: 1\n"},
		{"empty value with a comment", "\"a\":   # set me\nb: 1\n", "a", `x`, "\"a\": x   # set me\nb: 1\n"},
		{"flow mapping document", "{a: 1, b: [x, y]}\n", "b.1", `"z, w"`, "{a: 1, b: [x, \"z, w\"]}\n"},
		{"anchor and tag kept apart", "key: &anc !!str 5\n", "key", `"6"`, "key: &anc \"6\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"v.yaml": tc.before})
			runTwice(t, NewYAMLUpdate(), dir, "{path: v.yaml, updates: [{key: '"+tc.key+"', value: "+tc.value+"}]}")
			if got := readFile(t, dir, "v.yaml"); got != tc.after {
				t.Fatalf("got:\n%q\nwant:\n%q", got, tc.after)
			}
		})
	}
}

func TestYAMLUpdateRefusals(t *testing.T) {
	cases := []struct {
		name, before, key, want string
	}{
		{"anchor used elsewhere", "a: &v 1\nb: *v\n", "a", "the change would alter other values too"},
		{"empty file", "", "a", "the file holds no YAML document"},
		{"merge key", "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n", "c.x", "keys merged in with << must be updated where they are defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"v.yaml": tc.before})
			_, err := runStep(t, NewYAMLUpdate(), dir, "{path: v.yaml, updates: [{key: "+tc.key+", value: 2}]}")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
			if !retry.IsTerminal(err) {
				t.Fatalf("error %v is not terminal", err)
			}
			if got := readFile(t, dir, "v.yaml"); got != tc.before {
				t.Fatalf("the file changed to %q", got)
			}
		})
	}
}

func TestYAMLUpdateSymlinkOutside(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"values.yaml": "a: 1\n"})
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, err := runStep(t, NewYAMLUpdate(), dir, "{path: link/values.yaml, updates: [{key: a, value: 2}]}")
	if err == nil || !strings.Contains(err.Error(), "outside the promotion's workspace") {
		t.Fatalf("error %v; want the symlink refused", err)
	}
	if got := readFile(t, outside, "values.yaml"); got != "a: 1\n" {
		t.Fatalf("the file outside changed to %q", got)
	}
}
