package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// describe says in one line what a run did.
func describe(c *Config) string {
	proto := "MQTT 3.1.1"
	if c.Version == V5 {
		proto = "MQTT 5"
	}
	rate := "as fast as possible"
	if c.Rate > 0 {
		rate = fmt.Sprintf("%.0f msg/s offered", c.Rate)
	}
	var who string
	switch c.Scenario {
	case Idle:
		return fmt.Sprintf("idle: %d connections, %d connecting at once, %s, held %v", c.Connections, c.Parallel, proto, c.Duration)
	case Pairs:
		who = fmt.Sprintf("%d publisher -> subscriber pairs", c.Publishers)
	case Shared:
		who = fmt.Sprintf("%d %s -> %d %s in one shared group", c.Publishers, plural(c.Publishers, "publisher"), c.Subscribers, plural(c.Subscribers, "subscriber"))
	default:
		who = fmt.Sprintf("%d %s -> %d %s", c.Publishers, plural(c.Publishers, "publisher"), c.Subscribers, plural(c.Subscribers, "subscriber"))
	}
	if c.Topics > 1 && (c.Scenario == Fanout || c.Scenario == Shared) {
		who += fmt.Sprintf(" over %d topics", c.Topics)
	}
	if c.SlowSubscribers > 0 {
		who += fmt.Sprintf(" (+%d slow, never reading)", c.SlowSubscribers)
	}
	if c.Persistent {
		who += " with persistent sessions"
	}
	if len(c.PubBrokers) > 0 || len(c.SubBrokers) > 0 {
		who += fmt.Sprintf(" (publishers on %s, subscribers on %s)", c.brokerAddrs(c.PubBrokers), c.brokerAddrs(c.SubBrokers))
	}
	return fmt.Sprintf("%s: %s, QoS %d, %d-byte payload, %s, %s for %v",
		c.Scenario, who, c.QoS, c.Payload, proto, rate, c.Duration)
}

// brokerAddrs lists the addresses of brokers, or Addr if there are none.
func (c *Config) brokerAddrs(brokers []Endpoint) string {
	if len(brokers) == 0 {
		return c.Addr
	}
	addrs := make([]string, len(brokers))
	for i, e := range brokers {
		addrs[i] = e.Addr
	}
	return strings.Join(addrs, " ")
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// WriteText writes a human-readable report of r: a line saying what ran,
// then the figures.
func WriteText(w io.Writer, r *Result) error {
	if _, err := fmt.Fprintln(w, describe(&r.Config)); err != nil {
		return err
	}
	return writeFigures(w, r)
}

// writeFigures writes the figures of a text report.
func writeFigures(w io.Writer, r *Result) error {
	c := &r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "  connected   %d in %v (%.0f conn/s)\n", r.Connections, r.ConnectTime.Round(time.Millisecond), r.ConnectRate)
	if l := r.ConnectLatency; c.Scenario == Idle && l.Count > 0 {
		fmt.Fprintf(&b, "  connect     dial to CONNACK p50 %v, p99 %v, max %v\n", l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond), l.Max.Round(time.Microsecond))
	}
	if c.Scenario != Idle {
		fmt.Fprintf(&b, "  sent        %d in %v (%.0f msg/s)", r.Sent, r.Elapsed.Round(time.Millisecond), r.SentRate)
		if c.QoS > 0 {
			fmt.Fprintf(&b, ", %d acknowledged", r.Acked)
			if r.Rejected > 0 {
				fmt.Fprintf(&b, " (%d with an error reason code)", r.Rejected)
			}
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  delivered   %d (%.0f msg/s while publishing); %d by the end of the drain\n", r.DeliveredInWindow, r.DeliveredRate, r.Delivered)
		fmt.Fprintf(&b, "  lost        %d of %d expected (%.3f%%)\n", r.Lost, r.Expected, pct(r.Lost, r.Expected))
		l := r.Latency
		fmt.Fprintf(&b, "  latency     p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
			round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max))
	}
	fmt.Fprintf(&b, "  CPU         generator %.0f%%", r.GeneratorCPUPercent)
	if c.BrokerPID > 0 {
		fmt.Fprintf(&b, ", broker %.0f%%, other processes %.0f%%", r.BrokerCPUPercent, r.OtherCPUPercent)
	} else {
		fmt.Fprintf(&b, ", everything else (broker included) %.0f%%", r.OtherCPUPercent)
	}
	fmt.Fprintf(&b, " (%% of one core; %d cores)\n", runtime.NumCPU())
	if c.BrokerPID > 0 {
		fmt.Fprintf(&b, "  broker RSS  %.1f MB before, %.1f MB after, %.1f MB peak", mib(r.BrokerRSSBefore), mib(r.BrokerRSSAfter), mib(r.BrokerPeakRSS))
		if c.Scenario == Idle {
			fmt.Fprintf(&b, "; %.0f bytes per connection", r.MemoryPerConnection)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// round shortens a latency for reading: three significant digits.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// jsonResult is the --json form: plain numbers with units in the names.
type jsonResult struct {
	Scenario        string   `json:"scenario"`
	Protocol        string   `json:"protocol"`
	QoS             byte     `json:"qos"`
	PayloadBytes    int      `json:"payload_bytes"`
	Publishers      int      `json:"publishers"`
	Subscribers     int      `json:"subscribers"`
	SlowSubscribers int      `json:"slow_subscribers"`
	Persistent      bool     `json:"persistent_sessions"`
	Topics          int      `json:"topics"`
	OfferedRate     float64  `json:"offered_rate"`
	DurationSeconds float64  `json:"duration_seconds"`
	PubBrokers      []string `json:"pub_brokers,omitempty"`
	SubBrokers      []string `json:"sub_brokers,omitempty"`

	Connections       int     `json:"connections"`
	ConnectSeconds    float64 `json:"connect_seconds"`
	ConnectRate       float64 `json:"connect_rate"`
	ConnectP99Millis  float64 `json:"connect_p99_ms,omitempty"`
	Sent              int64   `json:"sent"`
	Acked             int64   `json:"acked"`
	Rejected          int64   `json:"rejected"`
	Expected          int64   `json:"expected"`
	DeliveredInWindow int64   `json:"delivered_in_window"`
	Delivered         int64   `json:"delivered"`
	Lost              int64   `json:"lost"`
	ElapsedSeconds    float64 `json:"elapsed_seconds"`
	SentRate          float64 `json:"sent_rate"`
	DeliveredRate     float64 `json:"delivered_rate"`
	Latency           struct {
		Count uint64  `json:"count"`
		P50   float64 `json:"p50"`
		P90   float64 `json:"p90"`
		P99   float64 `json:"p99"`
		P999  float64 `json:"p999"`
		Max   float64 `json:"max"`
	} `json:"latency_ms"`
	CPU struct {
		Cores            int      `json:"cores"`
		GeneratorPercent float64  `json:"generator_percent"`
		BrokerPercent    *float64 `json:"broker_percent,omitempty"`
		OtherPercent     float64  `json:"other_percent"`
	} `json:"cpu"`
	Broker *jsonBroker `json:"broker,omitempty"`
}

type jsonBroker struct {
	PID                 int     `json:"pid"`
	RSSBeforeBytes      int64   `json:"rss_before_bytes"`
	RSSAfterBytes       int64   `json:"rss_after_bytes"`
	PeakRSSBytes        int64   `json:"peak_rss_bytes"`
	MemoryPerConnection float64 `json:"memory_per_connection_bytes,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteJSON writes r as one JSON object on one line.
func WriteJSON(w io.Writer, r *Result) error {
	c := &r.Config
	j := jsonResult{
		Scenario: c.Scenario, Protocol: "3.1.1", QoS: c.QoS, PayloadBytes: c.Payload,
		Publishers: c.Publishers, Subscribers: c.Subscribers, SlowSubscribers: c.SlowSubscribers,
		Persistent: c.Persistent, Topics: c.Topics, OfferedRate: c.Rate, DurationSeconds: c.Duration.Seconds(),
		Connections: r.Connections, ConnectSeconds: r.ConnectTime.Seconds(), ConnectRate: r.ConnectRate,
		ConnectP99Millis: float64(r.ConnectLatency.P99) / float64(time.Millisecond),
		Sent:             r.Sent, Acked: r.Acked, Rejected: r.Rejected, Expected: r.Expected,
		DeliveredInWindow: r.DeliveredInWindow, Delivered: r.Delivered, Lost: r.Lost,
		ElapsedSeconds: r.Elapsed.Seconds(), SentRate: r.SentRate, DeliveredRate: r.DeliveredRate,
	}
	if c.Version == V5 {
		j.Protocol = "5"
	}
	if len(c.PubBrokers) > 0 || len(c.SubBrokers) > 0 {
		j.PubBrokers = strings.Fields(c.brokerAddrs(c.PubBrokers))
		j.SubBrokers = strings.Fields(c.brokerAddrs(c.SubBrokers))
	}
	if c.Scenario == Idle {
		j.Publishers, j.Subscribers = 0, 0
	}
	j.Latency.Count = r.Latency.Count
	j.Latency.P50, j.Latency.P90, j.Latency.P99 = ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99)
	j.Latency.P999, j.Latency.Max = ms(r.Latency.P999), ms(r.Latency.Max)
	j.CPU.Cores = runtime.NumCPU()
	j.CPU.GeneratorPercent = r.GeneratorCPUPercent
	j.CPU.OtherPercent = r.OtherCPUPercent
	if c.BrokerPID > 0 {
		bp := r.BrokerCPUPercent
		j.CPU.BrokerPercent = &bp
		j.Broker = &jsonBroker{
			PID: c.BrokerPID, RSSBeforeBytes: r.BrokerRSSBefore, RSSAfterBytes: r.BrokerRSSAfter,
			PeakRSSBytes: r.BrokerPeakRSS, MemoryPerConnection: r.MemoryPerConnection,
		}
	}
	enc := json.NewEncoder(w)
	if err := enc.Encode(j); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return nil
}

// progressPrinter renders Progress snapshots: rewritten in place with a
// carriage return on a terminal, one plain line each otherwise.
type progressPrinter struct {
	w        io.Writer
	terminal bool
	idle     bool
	last     Progress
	width    int // of the last line on a terminal, to blank leftovers
}

func (p *progressPrinter) print(s Progress) {
	dt := (s.Elapsed - p.last.Elapsed).Seconds()
	if dt <= 0 {
		dt = 1
	}
	var line string
	if p.idle {
		line = fmt.Sprintf("%6.1fs  connected %d (%.0f/s)", s.Elapsed.Seconds(), s.Connected,
			float64(s.Connected-p.last.Connected)/dt)
	} else {
		line = fmt.Sprintf("%6.1fs  sent %d (%.0f msg/s)  delivered %d (%.0f msg/s)", s.Elapsed.Seconds(),
			s.Sent, float64(s.Sent-p.last.Sent)/dt, s.Delivered, float64(s.Delivered-p.last.Delivered)/dt)
	}
	p.last = s
	if !p.terminal {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := max(0, p.width-len(line))
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// finish ends the progress display so that the report starts on a clean line.
func (p *progressPrinter) finish() {
	if p.terminal && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	}
}
