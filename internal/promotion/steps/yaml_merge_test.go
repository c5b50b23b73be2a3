package steps

import (
	"testing"
)

func TestYAMLMergeValidation(t *testing.T) {
	checkValidation(t, NewYAMLMerge(), []validationCase{
		{name: "valid", config: `{inFiles: [a.yaml, b.yaml], outFile: out.yaml, ignoreMissingFiles: true}`},
		{name: "inFiles missing", config: `{outFile: out.yaml}`, want: "missing property 'inFiles'"},
		{name: "inFiles empty", config: `{inFiles: [], outFile: out.yaml}`, want: "/inFiles"},
		{name: "outFile missing", config: `{inFiles: [a.yaml]}`, want: "missing property 'outFile'"},
		{name: "Kargo docs' older keys", config: `{inPaths: [a.yaml], outPath: out.yaml}`, want: "additional properties"},
		{name: "missing input", config: `{inFiles: [a.yaml, b.yaml], outFile: out.yaml}`,
			files: map[string]string{"a.yaml": "a: 1\n"}, want: `inFiles[1] "b.yaml": no such file in the promotion's workspace: check the path, or set ignoreMissingFiles: true`},
		{name: "input not YAML", config: `{inFiles: [a.yaml], outFile: out.yaml}`,
			files: map[string]string{"a.yaml": "a: [\n"}, want: `inFiles[0] "a.yaml": parse the file as YAML`},
		{name: "outFile a directory", config: `{inFiles: [a.yaml], outFile: out}`,
			files: map[string]string{"a.yaml": "a: 1\n", "out/x": ""}, want: `outFile "out" is a directory`},
	})
}

func TestYAMLMerge(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"src/values.yaml": `# global defaults
image:
  repository: ghcr.io/example/app # the image
  tag: latest
replicas: 1
hosts: [a.example.com]
features:
  a: true
  b: true
`,
		"src/qa/values.yaml": `image:
  tag: v1.2.3
hosts: [qa.example.com, qa2.example.com]
features:
  b: false
  c: null
resources:
  limits: {cpu: 500m}
`,
		"src/qa/empty.yaml": "",
	})
	res := runTwice(t, NewYAMLMerge(), dir, `
inFiles: [./src/values.yaml, ./src/qa/empty.yaml, ./src/qa/missing.yaml, ./src/qa/values.yaml]
outFile: ./out/values.yaml
ignoreMissingFiles: true
`)
	const want = `# global defaults
image:
  repository: ghcr.io/example/app # the image
  tag: v1.2.3
replicas: 1
hosts: [qa.example.com, qa2.example.com]
features:
  a: true
  b: false
  c: null
resources:
  limits: {cpu: 500m}
`
	if got := readFile(t, dir, "out/values.yaml"); got != want {
		t.Fatalf("merged:\n%s\nwant:\n%s", got, want)
	}
	wantMsg := "Merged YAML files into ./out/values.yaml\n\n- ./src/values.yaml\n- ./src/qa/empty.yaml\n- ./src/qa/values.yaml"
	if res.Output["commitMessage"] != wantMsg {
		t.Fatalf("commitMessage %q, want %q", res.Output["commitMessage"], wantMsg)
	}
}
