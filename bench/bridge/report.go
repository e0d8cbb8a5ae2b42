package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
)

// metric is one figure of one bridge under one load.
type metric struct {
	title  string // the load, e.g. "1 -> 1, QoS 0"
	what   string // the figure, e.g. "delivered (msg/s)"
	value  float64
	format string
	group  string // summary table the metric also appears in, if any
}

func (m metric) name() string { return m.title + ": " + m.what }

// Summary tables, in the order they are printed.
const (
	groupThroughput = "Delivered at the far broker, messages per second, publishing as fast as possible (higher is better)"
	groupShare      = "Delivered at the far broker, in % of published, publishing as fast as possible"
	groupP50        = "Latency p50 from publish on the near broker to delivery on the far broker, at a fixed rate, in ms (lower is better)"
	groupP99        = "Latency p99 at the same fixed rate, in ms (lower is better)"
	groupFixedShare = "Delivered at the far broker, in % of published, at the fixed rate (100 unless the bridge cannot keep up)"
)

var groups = []string{groupThroughput, groupShare, groupP50, groupP99, groupFixedShare}

// results collects every round's figures by metric and bridge.
type results struct {
	links     []link
	ref       link
	order     []string // metric names in first-seen order
	meta      map[string]metric
	values    map[string]map[link][]float64 // metric -> bridge -> one per round
	losses    map[string]*lossRecord        // "bridge, load" -> QoS 1/2 losses
	lossOrder []string
}

func newResults(links []link, ref link) *results {
	return &results{links: links, ref: ref, meta: map[string]metric{}, values: map[string]map[link][]float64{},
		losses: map[string]*lossRecord{}}
}

func (r *results) add(l link, ms ...metric) {
	for _, m := range ms {
		name := m.name()
		if _, ok := r.meta[name]; !ok {
			r.order = append(r.order, name)
			r.meta[name] = m
			r.values[name] = map[link][]float64{}
		}
		r.values[name][l] = append(r.values[name][l], m.value)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

func deliveredPct(m *outcome) float64 {
	if m.r.Expected == 0 {
		return 0
	}
	return 100 * float64(m.r.Delivered) / float64(m.r.Expected)
}

// addMax records a run as fast as possible.
func (r *results) addMax(l link, title string, m *outcome) {
	r.checkLoss(l, title+", as fast as possible", m)
	r.add(l,
		metric{title, "delivered (msg/s)", m.r.DeliveredRate, "%.0f", groupThroughput},
		metric{title, "published (msg/s)", m.r.SentRate, "%.0f", ""},
		metric{title, "delivered of published (%)", deliveredPct(m), "%.1f", groupShare},
		metric{title, "latency p50 with the backlog (ms)", ms(m.r.Latency.P50), "%.2f", ""},
		metric{title, "latency p99 with the backlog (ms)", ms(m.r.Latency.P99), "%.2f", ""},
		metric{title, "near broker CPU (% of a core)", m.nearCPU, "%.0f", ""},
		metric{title, "far broker CPU (% of a core)", m.farCPU, "%.0f", ""},
		metric{title, "generator CPU (% of a core)", m.genCPU, "%.0f", ""},
		metric{title, "other processes' CPU (% of a core)", m.otherCPU, "%.0f", ""},
		metric{title, "near broker peak RSS (MB)", mb(m.nearPeakRSS), "%.1f", ""},
		metric{title, "far broker peak RSS (MB)", mb(m.farPeakRSS), "%.1f", ""},
	)
}

// addFixed records a run at the fixed rate.
func (r *results) addFixed(l link, title string, m *outcome) {
	r.checkLoss(l, title+", at a fixed rate", m)
	title += " at a fixed rate"
	r.add(l,
		metric{title, "offered (msg/s)", m.r.Config.Rate, "%.0f", ""},
		metric{title, "delivered of published (%)", deliveredPct(m), "%.1f", groupFixedShare},
		metric{title, "latency p50 (ms)", ms(m.r.Latency.P50), "%.3f", groupP50},
		metric{title, "latency p99 (ms)", ms(m.r.Latency.P99), "%.3f", groupP99},
		metric{title, "latency p99.9 (ms)", ms(m.r.Latency.P999), "%.3f", ""},
		metric{title, "near broker CPU (% of a core)", m.nearCPU, "%.0f", ""},
		metric{title, "far broker CPU (% of a core)", m.farCPU, "%.0f", ""},
	)
}

// lossRecord is what the QoS 1/2 runs of one bridge under one load lost
// over the rounds.
type lossRecord struct {
	runs, lossy    int
	worst          float64 // largest share lost, in %
	lost, expected int64   // of the run with the worst share
}

// checkLoss notes what a QoS 1 or 2 run lost: a finding (a queue
// overflowed: at most max_queued_messages are kept), not an error.
func (r *results) checkLoss(l link, what string, m *outcome) {
	if m.r.Config.QoS == 0 {
		return
	}
	key := l.String() + ", " + what
	rec, ok := r.losses[key]
	if !ok {
		rec = &lossRecord{}
		r.losses[key] = rec
		r.lossOrder = append(r.lossOrder, key)
	}
	rec.runs++
	if m.r.Lost > 0 {
		rec.lossy++
		if pct := 100 * float64(m.r.Lost) / float64(m.r.Expected); pct > rec.worst {
			rec.worst, rec.lost, rec.expected = pct, m.r.Lost, m.r.Expected
		}
	}
}

// lossCheck is one line per bridge and QoS 1/2 load.
func (r *results) lossCheck() []string {
	var out []string
	for _, key := range r.lossOrder {
		rec := r.losses[key]
		line := fmt.Sprintf("%s: no loss in %d %s", key, rec.runs, plural(rec.runs, "run"))
		if rec.lossy > 0 {
			line = fmt.Sprintf("%s: LOSS in %d of %d %s, at most %.1f%% (%d of %d)",
				key, rec.lossy, rec.runs, plural(rec.runs, "run"), rec.worst, rec.lost, rec.expected)
		}
		out = append(out, line)
	}
	return out
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// columns are the bridges in table order: the reference first.
func (r *results) columns() []link {
	cols := []link{r.ref}
	for _, l := range r.links {
		if l != r.ref {
			cols = append(cols, l)
		}
	}
	return cols
}

// header is a table's header: the first column, one per bridge, then the
// ratio of each other bridge to the reference.
func (r *results) header(first string) []string {
	h := []string{first}
	cols := r.columns()
	for _, l := range cols {
		h = append(h, l.String())
	}
	for _, l := range cols[1:] {
		h = append(h, l.String()+" / ref")
	}
	return h
}

// row is one metric's medians and ratios.
func (r *results) row(label, name string) []string {
	m := r.meta[name]
	row := []string{label}
	medians := map[link]float64{}
	cols := r.columns()
	for _, l := range cols {
		v, ok := harness.Median(r.values[name][l])
		if !ok {
			row = append(row, "-")
			continue
		}
		medians[l] = v
		row = append(row, fmt.Sprintf(m.format, v))
	}
	for _, l := range cols[1:] {
		v, ok := medians[l]
		ref := medians[r.ref]
		if !ok || ref == 0 {
			row = append(row, "-")
			continue
		}
		row = append(row, fmt.Sprintf("%.2f", v/ref))
	}
	return row
}

type namedTable struct {
	title string
	table harness.Table
}

// tables are the summary tables, one per group with rows, then all
// figures.
func (r *results) tables(rounds int) []namedTable {
	note := ""
	if rounds > 1 {
		note = fmt.Sprintf("Each figure is the median of %d rounds; ref is %s.", rounds, r.ref)
	} else {
		note = fmt.Sprintf("ref is %s.", r.ref)
	}
	var out []namedTable
	for _, g := range groups {
		t := harness.Table{Header: r.header("load"), Note: note}
		for _, name := range r.order {
			if m := r.meta[name]; m.group == g {
				t.Rows = append(t.Rows, r.row(m.title, name))
			}
		}
		if len(t.Rows) > 0 {
			out = append(out, namedTable{title: g, table: t})
		}
	}
	all := harness.Table{Header: r.header("metric"), Note: note}
	for _, name := range r.order {
		all.Rows = append(all.Rows, r.row(name, name))
	}
	return append(out, namedTable{title: "All figures", table: all})
}

// report is everything a run prints at the end and writes as markdown.
type report struct {
	machine   []string
	command   string
	tables    []namedTable
	lossCheck []string
}

func (r report) text() string {
	var sb strings.Builder
	for _, t := range r.tables {
		if t.title == "All figures" && len(r.lossCheck) > 0 {
			sb.WriteString("QoS 1/2 loss check:\n")
			for _, l := range r.lossCheck {
				sb.WriteString("  " + l + "\n")
			}
			sb.WriteString("\n")
		}
		sb.WriteString(t.title + "\n" + t.table.Text() + "\n")
	}
	return sb.String()
}

func (r report) markdown() string {
	var sb strings.Builder
	sb.WriteString("# Bridge throughput and latency\n\n")
	sb.WriteString("Generated by `" + r.command + "`: for each bridge, two fresh brokers on loopback, the near\n" +
		"one bridging `bench/#` out to the far one; the load of `midge bench` publishes on the near\n" +
		"broker and subscribes on the far one. See bench/README.md in the midge repository.\n\n")
	for _, line := range r.machine {
		sb.WriteString("- " + line + "\n")
	}
	for _, t := range r.tables {
		if t.title == "All figures" && len(r.lossCheck) > 0 {
			sb.WriteString("\n## QoS 1/2 loss check\n\n")
			for _, l := range r.lossCheck {
				sb.WriteString("- " + l + "\n")
			}
		}
		sb.WriteString("\n## " + t.title + "\n\n" + t.table.Markdown())
	}
	return sb.String()
}
