package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// quickstartObjects are the objects of examples/quickstart, as apply prints them.
var quickstartObjects = []string{
	"project/kargo-demo",
	"projectconfig/kargo-demo",
	"warehouse/kargo-demo",
	"analysistemplate/smoke-test",
	"stage/test",
	"stage/uat",
	"stage/prod",
}

// applyLines parses apply's stdout into object → action.
func applyLines(t *testing.T, stdout string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		obj, action, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("apply line %q is not '<kind>/<name> <action>'", line)
		}
		got[obj] = action
	}
	return got
}

func wantActions(t *testing.T, r result, want map[string]string) {
	t.Helper()
	got := applyLines(t, r.stdout)
	if len(got) != len(want) {
		t.Fatalf("apply printed %d objects, want %d: %s", len(got), len(want), r)
	}
	for obj, action := range want {
		if got[obj] != action {
			t.Errorf("apply: %s is %q, want %q\n%s", obj, got[obj], action, r)
		}
	}
}

func allActions(action string) map[string]string {
	m := map[string]string{}
	for _, o := range quickstartObjects {
		m[o] = action
	}
	return m
}

// TestQuickstartLifecycle applies the quickstart, reads it back in every
// output format, changes and deletes objects, stops the server with SIGTERM
// and checks that a restart keeps the data.
func TestQuickstartLifecycle(t *testing.T) {
	e := newEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := e.startServer(t, "--data-dir", dataDir)
	tokenFile := filepath.Join(dataDir, "admin-token")
	if fi, err := os.Stat(tokenFile); err != nil {
		t.Fatalf("admin token file: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(srv.logs.String(), tokenFile) {
		t.Errorf("ready line does not say where the admin token is (%s):\n%s", tokenFile, srv.logs)
	}
	conn := []string{"--server", srv.url, "--token-file", tokenFile}
	quickstart := repoFile(t, "examples/quickstart")

	t.Run("apply creates", func(t *testing.T) {
		r := e.mustCaravan(t, append([]string{"apply", "-f", quickstart}, conn...)...)
		wantActions(t, r, allActions("created"))
	})
	t.Run("apply again is unchanged", func(t *testing.T) {
		r := e.mustCaravan(t, append([]string{"apply", "-f", quickstart}, conn...)...)
		wantActions(t, r, allActions("unchanged"))
	})
	t.Run("apply a changed stage is configured", func(t *testing.T) {
		stages, err := os.ReadFile(filepath.Join(quickstart, "30-stages.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(stages), "https://uat.kargo-demo.example.com/healthz", "https://uat.kargo-demo.example.com/ready", 1)
		if changed == string(stages) {
			t.Fatal("test did not change the uat stage")
		}
		r := e.caravan(t, strings.NewReader(changed), append([]string{"apply", "-f", "-"}, conn...)...)
		if r.code != 0 {
			t.Fatalf("apply: %s", r)
		}
		wantActions(t, r, map[string]string{"stage/test": "unchanged", "stage/uat": "configured", "stage/prod": "unchanged"})
	})

	t.Run("freight by computed ID", func(t *testing.T) {
		doc := `apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata:
  name: hand-made
  namespace: kargo-demo
origin:
  kind: Warehouse
  name: kargo-demo
images:
- repoURL: public.ecr.aws/nginx/nginx
  tag: 1.27.1
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
commits:
- repoURL: https://github.com/example/kargo-demo-gitops.git
  id: "1111111111111111111111111111111111111111"
  branch: main
`
		file := filepath.Join(t.TempDir(), "freight.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.mustCaravan(t, append([]string{"apply", "-f", file}, conn...)...)
		m := regexp.MustCompile(`^freight/([0-9a-f]{40}) created\n$`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("want 'freight/<computed ID> created': %s", r)
		}
		id := m[1]
		r = e.mustCaravan(t, append([]string{"get", "freight", "-p", "kargo-demo"}, conn...)...)
		if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "ALIAS") {
			t.Errorf("get freight does not list %s with its alias:\n%s", id, r)
		}
		r = e.mustCaravan(t, append([]string{"delete", "-f", file}, conn...)...)
		if strings.TrimSpace(r.stdout) != "freight/"+id+" deleted" {
			t.Errorf("delete -f: want 'freight/%s deleted': %s", id, r)
		}
	})

	t.Run("get table", func(t *testing.T) {
		r := e.mustCaravan(t, append([]string{"get", "stages", "--project", "kargo-demo"}, conn...)...)
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("want a header and 3 rows: %s", r)
		}
		header := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines[0]), -1)
		wantHeader := []string{"NAME", "SHARD", "CURRENT FREIGHT", "HEALTH", "READY", "STATUS", "AGE"}
		if strings.Join(header, "|") != strings.Join(wantHeader, "|") {
			t.Errorf("header %q, want %q", header, wantHeader)
		}
		var names []string
		for _, l := range lines[1:] {
			names = append(names, strings.Fields(l)[0])
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "prod,test,uat" {
			t.Errorf("rows %v, want prod, test, uat:\n%s", names, r.stdout)
		}
		age := strings.Fields(lines[1])
		if !regexp.MustCompile(`^\d+(s|m)$`).MatchString(age[len(age)-1]) {
			t.Errorf("AGE %q is not a kubectl-style age:\n%s", age[len(age)-1], r.stdout)
		}

		// Short names and any case, as kubectl.
		r = e.mustCaravan(t, append([]string{"get", "Warehouse", "kargo-demo", "-p", "kargo-demo"}, conn...)...)
		if !strings.HasPrefix(r.stdout, "NAME") || !strings.Contains(r.stdout, "kargo-demo") {
			t.Errorf("get Warehouse kargo-demo:\n%s", r)
		}
		r = e.mustCaravan(t, append([]string{"get", "projects"}, conn...)...)
		if !strings.Contains(r.stdout, "READY") || !strings.Contains(r.stdout, "kargo-demo") {
			t.Errorf("get projects:\n%s", r)
		}
	})

	t.Run("get yaml", func(t *testing.T) {
		r := e.mustCaravan(t, append([]string{"get", "stage", "uat", "-p", "kargo-demo", "-o", "yaml"}, conn...)...)
		for _, want := range []string{"kind: Stage", "name: uat", "namespace: kargo-demo", "https://uat.kargo-demo.example.com/ready"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("yaml lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("get json", func(t *testing.T) {
		r := e.mustCaravan(t, append([]string{"get", "stage", "test", "-p", "kargo-demo", "-o", "json"}, conn...)...)
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
			t.Fatalf("json: %v\n%s", err, r.stdout)
		}
		if obj.Kind != "Stage" || obj.Metadata.Name != "test" {
			t.Errorf("got %s %q, want Stage test", obj.Kind, obj.Metadata.Name)
		}

		r = e.mustCaravan(t, append([]string{"get", "stages", "-p", "kargo-demo", "-o", "json"}, conn...)...)
		var list struct {
			APIVersion string           `json:"apiVersion"`
			Kind       string           `json:"kind"`
			Items      []map[string]any `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("json: %v\n%s", err, r.stdout)
		}
		if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 3 {
			t.Errorf("got %s %s with %d items, want v1 List with 3", list.APIVersion, list.Kind, len(list.Items))
		}
	})

	t.Run("unknown kind", func(t *testing.T) {
		r := e.caravan(t, nil, append([]string{"get", "stagez", "-p", "kargo-demo"}, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, `unknown kind "stagez"`) || !strings.Contains(r.stderr, "promos") {
			t.Errorf("want exit 1 naming the kind and listing valid names: %s", r)
		}
	})
	t.Run("missing project", func(t *testing.T) {
		r := e.caravan(t, nil, append([]string{"get", "stages"}, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "--project") {
			t.Errorf("want exit 1 saying --project is needed: %s", r)
		}
	})
	t.Run("not found", func(t *testing.T) {
		r := e.caravan(t, nil, append([]string{"get", "stage", "nope", "-p", "kargo-demo"}, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, `"nope" not found`) || r.stdout != "" {
			t.Errorf("want exit 1 with the server's not-found message: %s", r)
		}
	})
	t.Run("apply failure", func(t *testing.T) {
		bad := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: broken\n  namespace: kargo-demo\nspec:\n  requestedFreigth: []\n"
		r := e.caravan(t, strings.NewReader(bad), append([]string{"apply", "-f", "-"}, conn...)...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "stage/broken: ") || !strings.Contains(r.stderr, "requestedFreigth") {
			t.Errorf("want exit 1 and 'stage/broken: <message naming the field>': %s", r)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := e.mustCaravan(t, append([]string{"delete", "stage", "prod", "-p", "kargo-demo"}, conn...)...)
		if strings.TrimSpace(r.stdout) != "stage/prod deleted" {
			t.Errorf("delete printed %q", r.stdout)
		}
		r = e.caravan(t, nil, append([]string{"get", "stage", "prod", "-p", "kargo-demo"}, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("deleted stage still readable: %s", r)
		}
		r = e.caravan(t, nil, append([]string{"delete", "stage", "prod", "-p", "kargo-demo"}, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("deleting a missing stage: want exit 1 not found: %s", r)
		}
	})

	t.Run("delete -f refuses promotions", func(t *testing.T) {
		doc := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata:\n  name: test.01abc.1234567\n  namespace: kargo-demo\nspec:\n  stage: test\n  freight: abc\n"
		r := e.caravan(t, strings.NewReader(doc), append([]string{"delete", "-f", "-"}, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "promotion/test.01abc.1234567: ") || !strings.Contains(r.stderr, "Promotion") {
			t.Errorf("want the Promotion document refused: %s", r)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		r := e.caravan(t, nil, "get", "projects", "--server", srv.url, "--token", "not-the-token")
		if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "unauthorized") {
			t.Errorf("want exit 1 and Unauthorized: %s", r)
		}
	})

	t.Run("SIGTERM stops cleanly", func(t *testing.T) {
		if code := srv.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, srv.logs)
		}
	})

	t.Run("restart keeps the data", func(t *testing.T) {
		srv2 := e.startServer(t, "--data-dir", dataDir)
		conn := []string{"--server", srv2.url, "--token-file", tokenFile}
		r := e.mustCaravan(t, append([]string{"get", "stages", "-p", "kargo-demo", "-o", "json"}, conn...)...)
		var list struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("json: %v\n%s", err, r.stdout)
		}
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Metadata.Name)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "test,uat" {
			t.Errorf("after restart stages are %v, want test, uat", names)
		}
		r = e.mustCaravan(t, append([]string{"apply", "-f", quickstart}, conn...)...)
		want := allActions("unchanged")
		want["stage/uat"] = "configured" // back to the quickstart's URL
		want["stage/prod"] = "created"
		wantActions(t, r, want)

		// delete -f removes the project's contents first, then the project.
		r = e.mustCaravan(t, append([]string{"delete", "-f", quickstart}, conn...)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != len(quickstartObjects) || lines[len(lines)-1] != "project/kargo-demo deleted" {
			t.Errorf("delete -f: want %d lines ending with the project: %s", len(quickstartObjects), r)
		}
		r = e.mustCaravan(t, append([]string{"get", "projects"}, conn...)...)
		if r.stdout != "" || !strings.Contains(r.stderr, "No projects found") {
			t.Errorf("after delete -f: %s", r)
		}
		if code := srv2.stop(t, syscall.SIGINT); code != 0 {
			t.Fatalf("exit code %d after SIGINT, want 0:\n%s", code, srv2.logs)
		}
	})
}

// TestDefaultConnection checks the defaults: a server on the default data
// directory, and a CLI given only the server URL that finds the admin token
// there; then CARAVAN_SERVER and CARAVAN_TOKEN, and flags beating them.
func TestDefaultConnection(t *testing.T) {
	e := newEnv(t)
	srv := e.startServer(t) // no --data-dir: $XDG_DATA_HOME/caravan
	if _, err := os.Stat(filepath.Join(e.defaultDataDir(), "admin-token")); err != nil {
		t.Fatalf("no admin token in the default data dir: %v", err)
	}
	r := e.caravan(t, nil, "get", "projects", "--server", srv.url)
	if r.code != 0 {
		t.Fatalf("CLI did not use the default admin token: %s", r)
	}
	token, err := os.ReadFile(filepath.Join(e.defaultDataDir(), "admin-token"))
	if err != nil {
		t.Fatal(err)
	}

	// Environment variables instead of flags, from a HOME without a token.
	e2 := newEnv(t)
	e2.vars = []string{"CARAVAN_SERVER=" + srv.url, "CARAVAN_TOKEN=" + strings.TrimSpace(string(token))}
	if r := e2.caravan(t, nil, "get", "projects"); r.code != 0 {
		t.Fatalf("CARAVAN_SERVER/CARAVAN_TOKEN: %s", r)
	}
	// A flag beats the environment.
	if r := e2.caravan(t, nil, "get", "projects", "--token", "wrong"); r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "unauthorized") {
		t.Errorf("--token did not beat CARAVAN_TOKEN: %s", r)
	}
	// No token anywhere: 401, with a hint.
	e3 := newEnv(t)
	r = e3.caravan(t, nil, "get", "projects", "--server", srv.url)
	if r.code != 1 || !strings.Contains(r.stderr, "--token") {
		t.Errorf("no token: want exit 1 with a hint: %s", r)
	}
	if code := srv.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, srv.logs)
	}
}

// TestServerUnreachable checks the message when nothing listens.
func TestServerUnreachable(t *testing.T) {
	e := newEnv(t)
	r := e.caravan(t, nil, "get", "projects", "--server", "http://127.0.0.1:1", "--token", "x")
	if r.code != 1 || !strings.Contains(r.stderr, "caravan server") {
		t.Errorf("want exit 1 saying the server cannot be reached: %s", r)
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	r := e.mustCaravan(t, "version")
	if !strings.Contains(r.stdout, e2eVersion) || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version printed %q, want %s and the Go version", r.stdout, e2eVersion)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"get"},
		{"get", "stages", "-o", "xml", "-p", "x"},
		{"delete", "stage"},
		{"apply"},
		{"frobnicate"},
	} {
		r := e.caravan(t, nil, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("caravan %s: want exit 1 and an error on stderr: %s", strings.Join(args, " "), r)
		}
	}
}
