package benchkit

import (
	"fmt"
	"sort"
)

// Figure is one measured figure: a row of the table.
type Figure struct {
	Name    string
	Unit    string
	Format  string // the fmt verb for one sample, e.g. "%.1f"
	Samples []float64
}

// Add records a sample.
func (f *Figure) Add(v float64) { f.Samples = append(f.Samples, v) }

// Row is the figure's table row: | name | min / median / max unit |, or
// | name | n/a | without samples.
func (f *Figure) Row() string {
	s := append([]float64(nil), f.Samples...)
	sort.Float64s(s)
	if len(s) == 0 {
		return "| " + f.Name + " | n/a |"
	}
	format := f.Format
	return fmt.Sprintf("| %s | "+format+" / "+format+" / "+format+" %s |", f.Name, s[0], s[len(s)/2], s[len(s)-1], f.Unit)
}

// PrintTable prints the figures as a Markdown table to stdout.
func PrintTable(figures []*Figure) {
	fmt.Println("| figure | min / median / max |")
	fmt.Println("|---|---|")
	for _, f := range figures {
		fmt.Println(f.Row())
	}
}
