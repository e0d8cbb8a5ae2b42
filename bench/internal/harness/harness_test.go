package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	tb := Table{
		Header: []string{"metric", "a", "b"},
		Rows:   [][]string{{"rate", "1", "2000"}, {"x|y", "10", "2"}},
		Note:   "medians",
	}
	wantText := "metric   a     b\n" +
		"rate     1  2000\n" +
		"x|y     10     2\n" +
		"medians\n"
	if got := tb.Text(); got != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", got, wantText)
	}
	wantMD := "| metric | a | b |\n|---|---:|---:|\n| rate | 1 | 2000 |\n| x\\|y | 10 | 2 |\n\nmedians\n"
	if got := tb.Markdown(); got != wantMD {
		t.Errorf("markdown:\n%s\nwant:\n%s", got, wantMD)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	} {
		got, ok := Median(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Median(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStartFailure checks that a broker which exits at once is reported
// with its output; the benchmark programs exercise Start with real brokers.
func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "broker")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho bad config >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Spec{Name: "fake", Path: script}, dir, func(port int) string { return "listener 1\n" })
	if err == nil || !strings.Contains(err.Error(), "bad config") {
		t.Errorf("Start of a broker that exits: %v", err)
	}
}
