package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/kinds"
)

func obj(t *testing.T, y string) unstructured.Unstructured {
	t.Helper()
	u, err := document{source: "test", raw: []byte(y)}.decode()
	if err != nil {
		t.Fatal(err)
	}
	return *u
}

func TestTablePrinter(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		kind string
		objs []string
		want string
	}{
		{
			kind: "Stage",
			objs: []string{`
metadata: {name: uat, creationTimestamp: "2026-08-01T11:55:00Z"}
spec: {shard: east}
status:
  freightSummary: abc123
  health: {status: Healthy}
  conditions:
  - {type: Healthy, status: "True", message: fine}
  - {type: Ready, status: "False", message: "waiting for\nverification"}
`, `metadata: {name: test, creationTimestamp: "2026-07-29T10:00:00Z"}`},
			want: `
NAME   SHARD   CURRENT FREIGHT   HEALTH    READY   STATUS         AGE
uat    east    abc123            Healthy   False   waiting for…   5m
test                                                              3d2h
`,
		},
		{
			kind: "Freight",
			objs: []string{`
metadata: {name: 654b709c, labels: {kargo.akuity.io/alias: wonky-wombat}, creationTimestamp: "2026-08-01T11:59:30Z"}
origin: {kind: Warehouse, name: shop}
`},
			want: `
NAME       ALIAS          ORIGIN (KIND)   ORIGIN (NAME)   AGE
654b709c   wonky-wombat   Warehouse       shop            30s
`,
		},
		{
			kind: "Secret",
			objs: []string{`
metadata: {name: creds, creationTimestamp: "2026-08-01T10:00:00Z"}
data: {username: YQ==, password: Yg==}
`},
			want: `
NAME    TYPE     DATA   AGE
creds   Opaque   2      120m
`,
		},
		{
			kind: "Event",
			objs: []string{`
metadata: {name: e1, creationTimestamp: "2026-08-01T11:00:00Z"}
type: Normal
reason: PromotionSucceeded
message: promoted
involvedObject: {kind: Promotion, name: uat.01j}
lastTimestamp: "2026-08-01T11:59:00Z"
`},
			want: `
LAST SEEN   TYPE     REASON               OBJECT              MESSAGE
60s         Normal   PromotionSucceeded   promotion/uat.01j   promoted
`,
		},
		{
			kind: "PromotionTask",
			objs: []string{`metadata: {name: render}`},
			want: `
NAME     AGE
render   <unknown>
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			p, err := newTablePrinter(kinds.ByKind(tt.kind), now)
			if err != nil {
				t.Fatal(err)
			}
			var objs []unstructured.Unstructured
			for _, y := range tt.objs {
				objs = append(objs, obj(t, y))
			}
			var b bytes.Buffer
			if err := p.print(&b, objs); err != nil {
				t.Fatal(err)
			}
			if got, want := trimLines(b.String()), trimLines(tt.want); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// trimLines drops trailing spaces and surrounding blank lines.
func trimLines(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// Every kind has a table.
func TestTablePrinterEveryKind(t *testing.T) {
	for _, info := range kinds.All() {
		if _, err := newTablePrinter(info, time.Now()); err != nil {
			t.Errorf("%s: %v", info.Kind, err)
		}
	}
}
