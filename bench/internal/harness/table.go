package harness

import (
	"fmt"
	"slices"
	"strings"
)

// Table is a result table: a header row, rows of cells and a note under it.
type Table struct {
	Header []string
	Rows   [][]string
	Note   string
}

// Text renders the table with aligned columns: the first left aligned,
// the others (numbers) right aligned.
func (t Table) Text() string {
	widths := make([]int, len(t.Header))
	for _, row := range append([][]string{t.Header}, t.Rows...) {
		for i, cell := range row {
			if i < len(widths) {
				widths[i] = max(widths[i], len(cell))
			}
		}
	}
	var sb strings.Builder
	line := func(row []string) {
		for i, cell := range row {
			w := 0
			if i < len(widths) {
				w = widths[i]
			}
			if i > 0 {
				sb.WriteString("  ")
			}
			if i == 0 {
				fmt.Fprintf(&sb, "%-*s", w, cell)
			} else {
				fmt.Fprintf(&sb, "%*s", w, cell)
			}
		}
		sb.WriteString("\n")
	}
	line(t.Header)
	for _, row := range t.Rows {
		line(row)
	}
	if t.Note != "" {
		sb.WriteString(t.Note + "\n")
	}
	return sb.String()
}

// Markdown renders the table as a GitHub markdown table, the first column
// left aligned and the others right aligned.
func (t Table) Markdown() string {
	var sb strings.Builder
	sb.WriteString("| " + strings.Join(escapeCells(t.Header), " | ") + " |\n|")
	for i := range t.Header {
		if i == 0 {
			sb.WriteString("---|")
		} else {
			sb.WriteString("---:|")
		}
	}
	sb.WriteString("\n")
	for _, row := range t.Rows {
		sb.WriteString("| " + strings.Join(escapeCells(row), " | ") + " |\n")
	}
	if t.Note != "" {
		sb.WriteString("\n" + t.Note + "\n")
	}
	return sb.String()
}

func escapeCells(row []string) []string {
	cells := slices.Clone(row)
	for i := range cells {
		cells[i] = strings.ReplaceAll(cells[i], "|", `\|`)
	}
	return cells
}

// Median returns the median of v, and false if v is empty.
func Median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}
