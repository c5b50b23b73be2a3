package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/jsonpath"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// tablePrinter renders objects of one kind as kubectl's default table.
type tablePrinter struct {
	info    *kinds.Info
	now     time.Time
	headers []string
	cells   func(*unstructured.Unstructured) []string
}

func newTablePrinter(info *kinds.Info, now time.Time) (*tablePrinter, error) {
	p := &tablePrinter{info: info, now: now}
	switch info.Kind {
	case "Secret":
		p.headers = []string{"NAME", "TYPE", "DATA", "AGE"}
		p.cells = func(u *unstructured.Unstructured) []string {
			typ, _, _ := unstructured.NestedString(u.Object, "type")
			if typ == "" {
				typ = "Opaque"
			}
			return []string{u.GetName(), typ, strconv.Itoa(secretDataCount(u)), p.age(u.GetCreationTimestamp().Time)}
		}
	case "ConfigMap":
		p.headers = []string{"NAME", "DATA", "AGE"}
		p.cells = func(u *unstructured.Unstructured) []string {
			data, _, _ := unstructured.NestedMap(u.Object, "data")
			bin, _, _ := unstructured.NestedMap(u.Object, "binaryData")
			return []string{u.GetName(), strconv.Itoa(len(data) + len(bin)), p.age(u.GetCreationTimestamp().Time)}
		}
	case "Event":
		p.headers = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
		p.cells = p.eventCells
	default:
		cols := printerColumns[info.Kind]
		if cols == nil {
			cols = []column{ageColumn}
		}
		paths := make([]*jsonpath.JSONPath, len(cols))
		p.headers = []string{"NAME"}
		for i, c := range cols {
			jp := jsonpath.New(c.header).AllowMissingKeys(true)
			if err := jp.Parse(c.path); err != nil {
				return nil, fmt.Errorf("parse printer column %s of %s: %w", c.header, info.Kind, err)
			}
			paths[i] = jp
			p.headers = append(p.headers, c.header)
		}
		p.cells = func(u *unstructured.Unstructured) []string {
			row := []string{u.GetName()}
			for i, c := range cols {
				v := columnValue(paths[i], u)
				if c.date {
					v = p.ageOf(v)
				}
				row = append(row, v)
			}
			return row
		}
	}
	return p, nil
}

// print writes the header and one row per object.
func (p *tablePrinter) print(w io.Writer, objs []unstructured.Unstructured) error {
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(p.headers, "\t"))
	for i := range objs {
		cells := p.cells(&objs[i])
		for j, c := range cells {
			cells[j] = oneLine(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func (p *tablePrinter) eventCells(u *unstructured.Unstructured) []string {
	typ, _, _ := unstructured.NestedString(u.Object, "type")
	reason, _, _ := unstructured.NestedString(u.Object, "reason")
	msg, _, _ := unstructured.NestedString(u.Object, "message")
	kind, _, _ := unstructured.NestedString(u.Object, "involvedObject", "kind")
	name, _, _ := unstructured.NestedString(u.Object, "involvedObject", "name")
	obj := strings.ToLower(kind) + "/" + name
	last := ""
	for _, f := range [][]string{{"series", "lastObservedTime"}, {"lastTimestamp"}, {"eventTime"}, {"firstTimestamp"}} {
		if s, _, _ := unstructured.NestedString(u.Object, f...); s != "" {
			last = s
			break
		}
	}
	seen := p.ageOf(last)
	if last == "" {
		seen = p.age(u.GetCreationTimestamp().Time)
	}
	return []string{seen, typ, reason, obj, msg}
}

// ageOf renders an RFC 3339 timestamp as an age; "" stays "<unknown>".
func (p *tablePrinter) ageOf(ts string) string {
	if ts == "" {
		return "<unknown>"
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return ts
	}
	return p.age(t)
}

// age renders the time since t the way kubectl does ("45s", "5m", "3d2h").
func (p *tablePrinter) age(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(p.now.Sub(t))
}

// columnValue evaluates a printer column: every value found, joined by ",".
func columnValue(jp *jsonpath.JSONPath, u *unstructured.Unstructured) string {
	results, err := jp.FindResults(u.Object)
	if err != nil {
		return ""
	}
	var vals []string
	for _, r := range results {
		for _, v := range r {
			vals = append(vals, formatValue(v))
		}
	}
	return strings.Join(vals, ",")
}

func formatValue(v reflect.Value) string {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Map, reflect.Slice, reflect.Array:
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(v.Interface()); err != nil {
			return fmt.Sprint(v.Interface())
		}
		return strings.TrimSpace(b.String())
	default:
		return fmt.Sprint(v.Interface())
	}
}

func secretDataCount(u *unstructured.Unstructured) int {
	data, _, _ := unstructured.NestedMap(u.Object, "data")
	n := len(data)
	str, _, _ := unstructured.NestedMap(u.Object, "stringData")
	for k := range str {
		if _, ok := data[k]; !ok {
			n++
		}
	}
	return n
}

// oneLine keeps a cell on one line so rows stay aligned.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + "…"
	}
	return strings.ReplaceAll(s, "\t", " ")
}
