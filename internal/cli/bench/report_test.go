package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleResult() Result {
	cfg := Config{Addr: "127.0.0.1:1883", Scenario: Fanout, QoS: 1, Rate: 1000, Duration: 2 * time.Second, BrokerPID: 42}.withDefaults()
	return Result{
		Config: cfg, Connections: 51, ConnectTime: 20 * time.Millisecond, ConnectRate: 2550,
		Elapsed: 2 * time.Second, Sent: 2000, Acked: 2000, Expected: 100000,
		DeliveredInWindow: 99000, Delivered: 99990, Lost: 10, SentRate: 1000, DeliveredRate: 49500,
		Latency:      Latency{Count: 99990, P50: 300 * time.Microsecond, P90: 450 * time.Microsecond, P99: 1234567 * time.Nanosecond, P999: 15 * time.Millisecond, Max: 123 * time.Millisecond},
		GeneratorCPU: time.Second, GeneratorCPUPercent: 25, BrokerCPUPercent: 80, OtherCPUPercent: 3,
		BrokerRSSBefore: 10 << 20, BrokerRSSAfter: 12 << 20, BrokerPeakRSS: 13 << 20,
	}
}

func TestWriteText(t *testing.T) {
	r := sampleResult()
	var b bytes.Buffer
	if err := WriteText(&b, &r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"fanout: 1 publisher -> 50 subscribers, QoS 1, 64-byte payload, MQTT 3.1.1, 1000 msg/s offered for 2s",
		"connected   51 in 20ms (2550 conn/s)",
		"sent        2000 in 2s (1000 msg/s), 2000 acknowledged",
		"delivered   99000 (49500 msg/s while publishing); 99990 by the end of the drain",
		"lost        10 of 100000 expected (0.010%)",
		"p50 300µs  p90 450µs  p99 1.23ms  p99.9 15ms  max 123ms",
		"generator 25%, broker 80%, other processes 3%",
		"broker RSS  10.0 MB before, 12.0 MB after, 13.0 MB peak",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteTextIdle(t *testing.T) {
	r := Result{Config: Config{Scenario: Idle, Duration: time.Second}.withDefaults(), Connections: 1000, ConnectRate: 5000}
	var b bytes.Buffer
	if err := WriteText(&b, &r); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.HasPrefix(out, "idle: 1000 connections") || strings.Contains(out, "latency") || strings.Contains(out, "broker RSS") {
		t.Errorf("idle report:\n%s", out)
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleResult()
	var b bytes.Buffer
	if err := WriteJSON(&b, &r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 1 {
		t.Errorf("JSON spans %d lines, want 1", n)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	lat := got["latency_ms"].(map[string]any)
	cpu := got["cpu"].(map[string]any)
	br := got["broker"].(map[string]any)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"scenario", got["scenario"], "fanout"},
		{"protocol", got["protocol"], "3.1.1"},
		{"qos", got["qos"], 1.0},
		{"lost", got["lost"], 10.0},
		{"delivered_rate", got["delivered_rate"], 49500.0},
		{"p99", lat["p99"], 1.234567},
		{"broker_percent", cpu["broker_percent"], 80.0},
		{"peak_rss_bytes", br["peak_rss_bytes"], float64(13 << 20)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Without a broker pid there are no broker figures.
	r.Config.BrokerPID = 0
	b.Reset()
	if err := WriteJSON(&b, &r); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "broker_percent") || strings.Contains(s, `"broker"`) {
		t.Errorf("broker figures without a pid: %s", s)
	}
}

func TestProgressPrinter(t *testing.T) {
	var b bytes.Buffer
	p := &progressPrinter{w: &b}
	p.print(Progress{Elapsed: time.Second, Sent: 100, Delivered: 5000})
	p.print(Progress{Elapsed: 2 * time.Second, Sent: 300, Delivered: 15000})
	want := "   1.0s  sent 100 (100 msg/s)  delivered 5000 (5000 msg/s)\n" +
		"   2.0s  sent 300 (200 msg/s)  delivered 15000 (10000 msg/s)\n"
	if b.String() != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	p = &progressPrinter{w: &b, terminal: true, idle: true}
	p.print(Progress{Elapsed: time.Second, Connected: 1000})
	p.print(Progress{Elapsed: 2 * time.Second, Connected: 1500})
	p.finish()
	out := b.String()
	if strings.Contains(out, "\n") || strings.Count(out, "\r") != 4 || !strings.Contains(out, "connected 1500 (500/s)") {
		t.Errorf("terminal progress: %q", out)
	}
}
