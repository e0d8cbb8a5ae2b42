package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReportKeepsNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writeReport(path, "first\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, "\n## Notes\n\nby hand\n"...), 0o644)
	if err := writeReport(path, "second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	want := beginGenerated + "\nsecond\n" + endGenerated + "\n\n## Notes\n\nby hand\n"
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestTableRatios(t *testing.T) {
	r := newResults([]string{"midge", "mosquitto", "nats"})
	r.add("midge", []metric{{name: "rate", value: 300, format: "%.0f"}})
	r.add("mosquitto", []metric{{name: "rate", value: 100, format: "%.0f"}})
	r.add("nats", []metric{{name: "rate", value: 150, format: "%.0f"}})
	tb := r.table(1)
	if got := strings.Join(tb.Header, ","); got != "metric,midge,mosquitto,nats,midge/mosquitto,midge/nats,better" {
		t.Errorf("header %s", got)
	}
	if got := strings.Join(tb.Rows[0], ","); got != "rate,300,100,150,3.00,2.00,higher" {
		t.Errorf("row %s", got)
	}
	// Without midge there is no ratio.
	r = newResults([]string{"mosquitto", "nats"})
	r.add("nats", []metric{{name: "rate", value: 150, format: "%.0f"}})
	if got := strings.Join(r.table(1).Header, ","); got != "metric,mosquitto,nats" {
		t.Errorf("header %s", got)
	}
}
