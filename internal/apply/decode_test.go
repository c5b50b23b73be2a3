package apply

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // names, or ! for a failed document
	}{
		{"one YAML", "kind: A\nmetadata: {name: a}\n", "a"},
		{"separators and comments", "---\nkind: A\nmetadata: {name: a}\n--- # next\n# only a comment\n---\nkind: A\nmetadata: {name: b}\n...\n", "a b"},
		{"CRLF", "kind: A\r\nmetadata: {name: a}\r\n---\r\nkind: A\r\nmetadata: {name: b}\r\n", "a b"},
		{"JSON object", `{"kind":"A","metadata":{"name":"a"}}`, "a"},
		{"JSON array", `[{"kind":"A","metadata":{"name":"a"}},{"kind":"A","metadata":{"name":"b"}}]`, "a b"},
		{"YAML array", "- kind: A\n  metadata: {name: a}\n- 3\n", "a !"},
		{"List", `{"kind":"List","items":[{"kind":"A","metadata":{"name":"a"}}]}`, "a"},
		{"StageList", "kind: StageList\nitems:\n- kind: Stage\n  metadata: {name: a}\n", "a"},
		{"bad YAML between good", "kind: A\nmetadata: {name: a}\n---\na: b: c\n---\nkind: A\nmetadata: {name: b}\n", "a ! b"},
		{"scalar", "just text\n", "!"},
		{"null", "null\n---\n~\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Decode(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				if d.Err != nil {
					got = append(got, "!")
				} else {
					got = append(got, d.Object.GetName())
				}
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}

func TestMergeKeys(t *testing.T) {
	got := mergeKeys(
		map[string]string{"kept": "1", "dropped": "1", "others": "1", "changed": "1"},
		map[string]string{"kept": "1", "changed": "2", "new": "1"},
		[]string{"kept", "dropped", "changed"},
	)
	want := map[string]string{"kept": "1", "others": "1", "changed": "2", "new": "1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
