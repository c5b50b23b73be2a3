package steps

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caravan-dev/caravan/internal/retry"
)

func TestHTTPDownloadValidation(t *testing.T) {
	checkValidation(t, NewHTTPDownload(nil), []validationCase{
		{name: "valid", config: `{url: "https://example.com/a.tgz", outPath: charts/a.tgz, allowOverwrite: true, timeout: 10m}`},
		{name: "outPath missing", config: `{url: "https://example.com/a.tgz"}`, want: "missing property 'outPath'"},
		{name: "method is not a key", config: `{url: "https://example.com/a.tgz", outPath: a, method: POST}`, want: "additional properties 'method'"},
		{name: "bad timeout", config: `{url: "https://example.com/a.tgz", outPath: a, timeout: 10 minutes}`, want: "/timeout"},
		{name: "outPath a directory", config: `{url: "http://127.0.0.1:1/a", outPath: charts}`,
			files: map[string]string{"charts/x": ""}, want: `outPath "charts" is not a regular file`},
		{name: "bad error expression", config: `{url: "http://127.0.0.1:1/a", outPath: a, errorExpression: "response.("}`,
			want: "errorExpression: invalid expression"},
	})
}

// fileServer serves /chart.tgz with the current contents and answers other
// paths with errors.
type fileServer struct {
	*httptest.Server
	contents atomic.Value
	lastAuth atomic.Value
}

func newFileServer(t *testing.T) *fileServer {
	s := &fileServer{}
	s.contents.Store("chart v1")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.lastAuth.Store(r.Header.Get("Authorization") + " " + r.URL.Query().Get("version"))
		switch r.URL.Path {
		case "/chart.tgz":
			io.WriteString(w, s.contents.Load().(string))
		case "/quota":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error": "quota exceeded for this tenant"}`)
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/huge":
			w.Header().Set("Content-Length", fmt.Sprint(200<<20))
			w.WriteHeader(http.StatusOK)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestHTTPDownload(t *testing.T) {
	srv := newFileServer(t)
	step := NewHTTPDownload(srv.Client())
	dir := t.TempDir()
	config := `
url: ` + srv.URL + `/chart.tgz
outPath: charts/app.tgz
headers: [{name: Authorization, value: token s3cret}]
queryParams: [{name: version, value: 1.2.3}]
`
	runTwice(t, step, dir, config)
	if got := readFile(t, dir, "charts/app.tgz"); got != "chart v1" {
		t.Fatalf("downloaded %q", got)
	}
	if got := srv.lastAuth.Load(); got != "token s3cret 1.2.3" {
		t.Fatalf("the server saw %q", got)
	}
	// A different file is there now: refused without allowOverwrite.
	srv.contents.Store("chart v2")
	_, err := runStep(t, step, dir, config)
	if err == nil || !retry.IsTerminal(err) || !strings.Contains(err.Error(), "download to charts/app.tgz: a different file is already there: set allowOverwrite: true to replace it") {
		t.Fatalf("overwrite without allowOverwrite: %v", err)
	}
	if got := readFile(t, dir, "charts/app.tgz"); got != "chart v1" {
		t.Fatalf("the file changed to %q", got)
	}
	runTwice(t, step, dir, config+"allowOverwrite: true\n")
	if got := readFile(t, dir, "charts/app.tgz"); got != "chart v2" {
		t.Fatalf("after overwrite %q", got)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "charts", ".*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestHTTPDownloadRejected(t *testing.T) {
	srv := newFileServer(t)
	step := NewHTTPDownload(srv.Client())
	cases := []struct {
		path, extra, want string
		terminal          bool
	}{
		{"/quota", "errorExpression: response.body?.message ?? response.body?.error", `download ` + srv.URL + `/quota: HTTP request failed with status 403: "quota exceeded for this tenant"`, true},
		{"/quota", "", `HTTP request failed with status 403`, true},
		{"/missing", "", `HTTP request failed with status 404`, true},
		{"/busy", "", `HTTP request failed with status 429`, false},
		{"/huge", "", fmt.Sprintf("the file is %d bytes, more than the %d a download may have", 200<<20, 100<<20), true},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			dir := t.TempDir()
			_, err := runStep(t, step, dir, "url: "+srv.URL+tc.path+"?sig=s3cret\noutPath: out/file\n"+tc.extra+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) || retry.IsTerminal(err) != tc.terminal {
				t.Fatalf("error %v (terminal %v); want %q (terminal %v)", err, retry.IsTerminal(err), tc.want, tc.terminal)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the query: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Fatal("something was written")
			}
		})
	}
}
