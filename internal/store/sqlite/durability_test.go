package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/store"
)

// durabilityEnv names the database a re-executed test binary writes to.
const durabilityEnv = "CARAVAN_SQLITE_DURABILITY_DB"

// TestDurabilityChild is the child process of TestDurability: it writes
// Freight in a loop and prints "ack <op> <name> <n>" after each write the
// store acknowledged, until it is killed.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(durabilityEnv)
	if path == "" {
		t.Skip("helper process of TestDurability")
	}
	prefix := os.Getenv(durabilityEnv + "_PREFIX")
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%06d", prefix, i)
		if _, err := s.Create(ctx, benchFreight("p1", name, i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("ack create %s 0\n", name)
		if i%3 == 2 { // now and then, a status write to an earlier object
			prev := fmt.Sprintf("%s-%06d", prefix, i-1)
			u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"n": int64(i)}}}
			u.SetAPIVersion("kargo.akuity.io/v1alpha1")
			u.SetKind("Freight")
			u.SetNamespace("p1")
			u.SetName(prev)
			if _, err := s.UpdateStatus(ctx, u); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Printf("ack status %s %d\n", prev, i)
		}
	}
}

// TestDurability kills a writing child process with SIGKILL mid-load, twice
// on the same database, and checks that every acknowledged write survived
// and the database is consistent.
func TestDurability(t *testing.T) {
	if os.Getenv(durabilityEnv) != "" {
		t.Skip("in the child process")
	}
	path := filepath.Join(t.TempDir(), "caravan.db")
	acked := map[string]int64{} // name → last acknowledged status n (0: created)
	for round, prefix := range []string{"a", "b"} {
		runChildUntilKilled(t, path, prefix, 150+round*100, acked)
		checkDurable(t, path, acked, round+1)
	}
}

func runChildUntilKilled(t *testing.T, path, prefix string, kills int, acked map[string]int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), durabilityEnv+"="+path, durabilityEnv+"_PREFIX="+prefix)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	n := 0
	killed := false
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue // test framework output
		}
		v, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatalf("bad ack line %q", lines.Text())
		}
		acked[f[2]] = max(acked[f[2]], v)
		if n++; n == kills && !killed {
			// Mid-load: the child is inside its next write now.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
}

// checkDurable reopens the database, checks every acknowledged write and
// the consistency of tables, then closes it. Each of the kills so far may have
// left one committed but unacknowledged create.
func checkDurable(t *testing.T, path string, acked map[string]int64, kills int) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	for name, n := range acked {
		u, err := s.Get(ctx, "Freight", "p1", name)
		if err != nil {
			t.Fatalf("acknowledged Freight %s lost: %v", name, err)
		}
		got, _, _ := unstructured.NestedInt64(u.Object, "status", "n")
		if got < n {
			t.Errorf("Freight %s: status.n = %d, acknowledged %d", name, got, n)
		}
	}
	raw, rv, err := s.ListRaw(ctx, "Freight", "p1", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < len(acked) || len(raw) > len(acked)+kills {
		t.Errorf("%d Freight stored, %d acknowledged (at most one more per kill may have been in flight, %d kills)", len(raw), len(acked), kills)
	}
	top, _ := strconv.ParseInt(rv, 10, 64)
	for _, b := range raw {
		var o struct {
			Metadata struct{ ResourceVersion string } `json:"metadata"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		if v, _ := strconv.ParseInt(o.Metadata.ResourceVersion, 10, 64); v <= 0 || v > top {
			t.Errorf("object resourceVersion %s outside (0, %d]", o.Metadata.ResourceVersion, top)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q, want := range map[string]string{
		`PRAGMA integrity_check`: "ok",
		`SELECT COUNT(*) FROM objects WHERE rv > (SELECT value FROM meta WHERE key = 'rv')`:                       "0",
		`SELECT COUNT(*) FROM objects WHERE json_extract(data, '$.metadata.resourceVersion') != CAST(rv AS TEXT)`: "0",
		`SELECT COUNT(*) FROM objects o WHERE kind = 'Freight' AND (SELECT COUNT(*) FROM field_index f
			WHERE f.kind = o.kind AND f.namespace = o.namespace AND f.name = o.name) != 3`: "0",
		`SELECT COUNT(*) FROM field_index f WHERE NOT EXISTS (SELECT 1 FROM objects o
			WHERE f.kind = o.kind AND f.namespace = o.namespace AND f.name = o.name)`: "0",
	} {
		var got string
		if err := db.QueryRow(q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
}
