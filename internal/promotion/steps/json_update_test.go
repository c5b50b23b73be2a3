package steps

import (
	"testing"
)

func TestJSONUpdateValidation(t *testing.T) {
	checkValidation(t, NewJSONUpdate(), []validationCase{
		{name: "valid", config: `{path: settings.json, updates: [{key: image.tag, value: v2}]}`},
		{name: "path missing", config: `{updates: [{key: a, value: b}]}`, want: "missing property 'path'"},
		{name: "updates empty", config: `{path: s.json, updates: []}`, want: "/updates"},
		{name: "key missing", config: `{path: s.json, updates: [{value: 1}]}`, want: "missing property 'key'"},
		{name: "unknown field in an update", config: `{path: s.json, updates: [{key: a, value: 1, type: int}]}`, want: "additional properties 'type'"},
		{name: "lone backslash", config: `{path: s.json, updates: [{key: 'a\', value: 1}]}`,
			files: map[string]string{"s.json": "{}"}, want: `updates[0].key: key "a\\" ends with a lone backslash`},
		{name: "file missing", config: `{path: s.json, updates: [{key: a, value: 1}]}`, want: `path "s.json": no such file`},
		{name: "not JSON", config: `{path: s.json, updates: [{key: a, value: 1}]}`,
			files: map[string]string{"s.json": "{a: 1}"}, want: "update s.json: parse the file as JSON"},
		{name: "index past the end", config: `{path: s.json, updates: [{key: list.5, value: 1}]}`,
			files: map[string]string{"s.json": `{"list": [1, 2]}`},
			want:  `updates[0].key "list.5": "list" is an array of 2 elements: index 5 is past its end: use 0 to 1, or -1 to append`},
		{name: "below a value", config: `{path: s.json, updates: [{key: a.b, value: 1}]}`,
			files: map[string]string{"s.json": `{"a": "x"}`}, want: `"a" is a single value, so "b" cannot be below it`},
	})
}

func TestJSONUpdateKeepsFormatting(t *testing.T) {
	const before = `{
    "image": {
        "repository": "ghcr.io/example/app",
        "tag": "v1.0.0"
    },
    "example.com/version": "v1",
    "replicas": 2,
    "containers": [
        { "name": "app", "image": "app:v1" }
    ],
    "ports": [80],
    "labels": {}
}
`
	const after = `{
    "image": {
        "repository": "ghcr.io/example/app",
        "tag": "v1.2.0"
    },
    "example.com/version": "v2",
    "replicas": 3,
    "containers": [
        { "name": "app", "image": "app:v2", "pullPolicy": "Always" }
    ],
    "ports": [80, 443],
    "labels": {
        "team": "web"
    },
    "debug": true,
    "resources": {
        "limits": {
            "cpu": "500m"
        }
    }
}
`
	const config = `
path: config/settings.json
updates:
- {key: image.tag, value: v1.2.0}
- {key: example\.com/version, value: v2}
- {key: replicas, value: 3}
- {key: containers.0.image, value: "app:v2"}
- {key: containers.0.pullPolicy, value: Always}
- {key: ports.-1, value: 443}
- {key: labels.team, value: web}
- {key: debug, value: true}
- {key: resources.limits.cpu, value: 500m}
`
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config/settings.json": before})
	res, err := runStep(t, NewJSONUpdate(), dir, config)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir, "config/settings.json"); got != after {
		t.Fatalf("file after update:\n%s\nwant:\n%s", got, after)
	}
	wantMsg := "Updated config/settings.json\n\n- image.tag: \"v1.2.0\"\n- example\\.com/version: \"v2\"\n- replicas: 3\n" +
		"- containers.0.image: \"app:v2\"\n- containers.0.pullPolicy: \"Always\"\n- ports.-1: 443\n- labels.team: \"web\"\n" +
		"- debug: true\n- resources.limits.cpu: \"500m\""
	if got := res.Output["commitMessage"]; got != wantMsg {
		t.Fatalf("commitMessage:\n%v\nwant:\n%s", got, wantMsg)
	}
	// Setting the same values again changes nothing but the appended port,
	// which -1 appends once more by definition; without it the step is
	// idempotent.
	const again = `
path: config/settings.json
updates:
- {key: image.tag, value: v1.2.0}
- {key: containers.0.pullPolicy, value: Always}
- {key: resources.limits.cpu, value: 500m}
`
	runTwice(t, NewJSONUpdate(), dir, again)
	if got := readFile(t, dir, "config/settings.json"); got != after {
		t.Fatalf("file after running again:\n%s\nwant:\n%s", got, after)
	}
}

func TestJSONUpdateValues(t *testing.T) {
	cases := []struct {
		name, before, key, value, after string
	}{
		{"compact object", `{"a":1,"b":{"c":"x"}}`, "b.c", `"y"`, `{"a":1,"b":{"c":"y"}}`},
		{"compact insert", `{"a":1}`, "b", `2`, `{"a":1,"b":2}`},
		{"nested insert into a compact object", `{"a":1}`, "b.c.0", `x`, `{"a":1,"b":{"c":["x"]}}`},
		{"empty compact object", `{}`, "a", `1`, `{"a":1}`},
		{"escapes in strings", `{"a": "x"}`, "a", `"<\"q\">"`, `{"a": "<\"q\">"}`},
		{"numbers as JSON writes them", `{"a": 1}`, "a", `1.50`, `{"a": 1.5}`},
		{"replace an object", `{"a": {"b": 1}}`, "a", `"flat"`, `{"a": "flat"}`},
		{"colon forces a key", `{"m": {"0": "a"}}`, "m.:0", `b`, `{"m": {"0": "b"}}`},
		{"array root", `[1, 2]`, "0", `3`, `[3, 2]`},
		{"duplicate keys: the last one counts", `{"a": 1, "a": 2}`, "a", `3`, `{"a": 1, "a": 3}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"s.json": tc.before})
			runTwice(t, NewJSONUpdate(), dir, "{path: s.json, updates: [{key: '"+tc.key+"', value: "+tc.value+"}]}")
			if got := readFile(t, dir, "s.json"); got != tc.after {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.after)
			}
		})
	}
}
