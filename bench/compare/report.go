package main

import (
	"fmt"
	"github.com/midge-mqtt/midge/internal/cli/bench"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// metric is one figure a scenario measured.
type metric struct {
	name          string
	value         float64
	format        string // for fmt, e.g. "%.1f"
	lowerIsBetter bool
	info          bool   // context, not a merit of the broker (no "better" column)
	group         string // summary table the metric also appears in, if any
}

// Summary tables: the figures the comparison is about.
const (
	groupThroughput = "Delivered messages per second (higher is better)"
	groupLatency    = "Latency p99 at a fixed rate, half of Mosquitto's maximum, in ms (lower is better)"
	groupMemory     = "Broker memory per idle connection, in bytes (lower is better)"
	groupSlow       = "One slow subscriber (never reads): the others' delivered rate with it, in % of without, and broker peak RSS with it, in MB"
)

// results collects every round's figures by metric and broker.
type results struct {
	brokers []string
	order   []string // metric names in first-seen order
	meta    map[string]metric
	values  map[string]map[string][]float64 // metric -> broker -> one per round
}

func newResults(brokers []string) *results {
	return &results{brokers: brokers, meta: map[string]metric{}, values: map[string]map[string][]float64{}}
}

func (r *results) add(broker string, ms []metric) {
	for _, m := range ms {
		if _, ok := r.meta[m.name]; !ok {
			r.order = append(r.order, m.name)
			r.meta[m.name] = m
			r.values[m.name] = map[string][]float64{}
		}
		r.values[m.name][broker] = append(r.values[m.name][broker], m.value)
	}
}

// table is the final comparison: a header row and one row per metric.
type table struct {
	header []string
	rows   [][]string
	note   string
}

// table builds the comparison with the median of the rounds for each
// figure and, when both brokers ran, the ratio midge/mosquitto.
func (r *results) table(rounds int) table {
	both := slices.Contains(r.brokers, "midge") && slices.Contains(r.brokers, "mosquitto")
	t := table{header: append([]string{"metric"}, r.brokers...)}
	if both {
		t.header = append(t.header, "midge/mosquitto", "better")
	}
	for _, name := range r.order {
		m := r.meta[name]
		row := []string{name}
		medians := map[string]float64{}
		for _, b := range r.brokers {
			v, ok := median(r.values[name][b])
			if !ok {
				row = append(row, "-")
				continue
			}
			medians[b] = v
			row = append(row, fmt.Sprintf(m.format, v))
		}
		if both {
			ratio := "-"
			if d := medians["mosquitto"]; d != 0 {
				ratio = fmt.Sprintf("%.2f", medians["midge"]/d)
			}
			better := "higher"
			switch {
			case m.info:
				better = ""
			case m.lowerIsBetter:
				better = "lower"
			}
			row = append(row, ratio, better)
		}
		t.rows = append(t.rows, row)
	}
	if rounds > 1 {
		t.note = fmt.Sprintf("Each figure is the median of %d rounds.", rounds)
	}
	return t
}

// summary builds one small table per metric group, in the order the
// groups are declared.
func (r *results) summary(rounds int) []namedTable {
	full := r.table(rounds)
	var out []namedTable
	for _, g := range []string{groupThroughput, groupLatency, groupMemory, groupSlow} {
		t := table{header: full.header}
		for i, name := range r.order {
			if r.meta[name].group == g {
				row := slices.Clone(full.rows[i])
				if len(row) > len(r.brokers)+1 {
					row = row[:len(row)-1] // the group's title says which way is better
				}
				t.rows = append(t.rows, row)
			}
		}
		if len(t.rows) > 0 {
			if len(t.header) > len(r.brokers)+1 {
				t.header = t.header[:len(t.header)-1]
			}
			out = append(out, namedTable{title: g, table: t})
		}
	}
	return out
}

type namedTable struct {
	title string
	table table
}

func median(v []float64) (float64, bool) {
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

// text renders the table with aligned columns: the metric name left
// aligned, the numbers right aligned.
func (t table) text() string {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var sb strings.Builder
	line := func(row []string) {
		for i, cell := range row {
			if i > 0 {
				sb.WriteString("  ")
			}
			if i == 0 {
				fmt.Fprintf(&sb, "%-*s", widths[i], cell)
			} else {
				fmt.Fprintf(&sb, "%*s", widths[i], cell)
			}
		}
		sb.WriteString("\n")
	}
	line(t.header)
	for _, row := range t.rows {
		line(row)
	}
	if t.note != "" {
		sb.WriteString(t.note + "\n")
	}
	return sb.String()
}

func (t table) markdown() string {
	var sb strings.Builder
	sb.WriteString("| " + strings.Join(t.header, " | ") + " |\n|")
	for i := range t.header {
		if i == 0 {
			sb.WriteString("---|")
		} else {
			sb.WriteString("---:|")
		}
	}
	sb.WriteString("\n")
	for _, row := range t.rows {
		cells := slices.Clone(row)
		for i := range cells {
			cells[i] = strings.ReplaceAll(cells[i], "|", `\|`)
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	if t.note != "" {
		sb.WriteString("\n" + t.note + "\n")
	}
	return sb.String()
}

// report is everything a run prints at the end and writes as markdown.
type report struct {
	machine   []string
	command   string
	summary   []namedTable
	full      table
	lossCheck []string
}

func (r report) text() string {
	var sb strings.Builder
	for _, t := range r.summary {
		sb.WriteString(t.title + "\n" + t.table.text() + "\n")
	}
	if len(r.lossCheck) > 0 {
		sb.WriteString("QoS 1/2 zero-loss check:\n")
		for _, l := range r.lossCheck {
			sb.WriteString("  " + l + "\n")
		}
		sb.WriteString("\n")
	}
	sb.WriteString("All figures\n" + r.full.text())
	return sb.String()
}

func (r report) markdown() string {
	var sb strings.Builder
	sb.WriteString("# Benchmarks: midge vs Mosquitto\n\n")
	sb.WriteString("Generated by `" + r.command + "`, which builds midge, starts it and Debian's\n" +
		"mosquitto in turn with the same configuration on loopback, and runs the same load against\n" +
		"each with the load generator of `midge bench`. See [bench/README.md](../bench/README.md)\n" +
		"for what each figure means. The generator runs on the same machine as the broker: the\n" +
		"CPU rows say how much of it each took. Figures from one short round on a machine\n" +
		"shared with other work are noisy: run with -rounds 3 on a quiet machine for figures\n" +
		"worth quoting.\n\n")
	for _, line := range r.machine {
		sb.WriteString("- " + line + "\n")
	}
	for _, t := range r.summary {
		sb.WriteString("\n## " + t.title + "\n\n" + t.table.markdown())
	}
	if len(r.lossCheck) > 0 {
		sb.WriteString("\n## QoS 1/2 zero-loss check\n\n")
		for _, l := range r.lossCheck {
			sb.WriteString("- " + l + "\n")
		}
	}
	sb.WriteString("\n## All figures\n\n" + r.full.markdown())
	return sb.String()
}

// describeMachine returns the lines that say where and how the figures
// were measured.
func describeMachine(specs []brokerSpec, s settings, scenarios []string, rounds int) []string {
	lines := []string{
		fmt.Sprintf("date: %s", time.Now().UTC().Format("2006-01-02 15:04 MST")),
		fmt.Sprintf("CPU: %s, %d cores", cpuModel(), runtime.NumCPU()),
		fmt.Sprintf("memory: %s", memTotal()),
		fmt.Sprintf("kernel: Linux %s", readTrimmed("/proc/sys/kernel/osrelease")),
		fmt.Sprintf("Go: %s", runtime.Version()),
	}
	for _, spec := range specs {
		switch spec.name {
		case "midge":
			lines = append(lines, "midge: "+binaryVersion(spec.path, "version"))
		case "mosquitto":
			lines = append(lines, "mosquitto: "+binaryVersion(spec.path, "-h"))
		}
	}
	rate := "as fast as the broker takes them"
	if s.rate > 0 {
		rate = fmt.Sprintf("at %.0f msg/s", s.rate)
	}
	proto := "MQTT 3.1.1"
	if s.version == bench.V5 {
		proto = "MQTT 5"
	}
	lines = append(lines, fmt.Sprintf("load: scenarios %s; %s; idle %d connections (%d connecting at once); fanout %d subscribers, QoS %d, published %s; %d-byte payloads; %v per run; %d round(s)",
		strings.Join(scenarios, ", "), proto, s.conns, s.parallel, s.subs, s.qos, rate, s.payload, s.duration, rounds))
	return lines
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
			if f := strings.Fields(v); len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return "unknown"
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}
