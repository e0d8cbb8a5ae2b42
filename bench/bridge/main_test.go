package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/cli/bench"
	"github.com/midge-mqtt/midge/internal/config"
)

func TestParseSettings(t *testing.T) {
	s := settings{fanin: 10, duration: time.Second, rounds: 1, payload: 64, limits: limits{inflight: 100, queued: 10000}, protocol: "mqttv311"}
	if err := s.parse("midge-mosquitto, mosquitto-mosquitto,midge-mosquitto", "fanin,single", "1,0"); err != nil {
		t.Fatal(err)
	}
	want := []link{{"midge", "mosquitto"}, {"mosquitto", "mosquitto"}}
	if len(s.links) != 2 || s.links[0] != want[0] || s.links[1] != want[1] {
		t.Errorf("links %v, want %v", s.links, want)
	}
	if strings.Join(s.loads, ",") != "fanin,single" || len(s.qos) != 2 || s.qos[0] != 1 {
		t.Errorf("loads %v, QoS %v", s.loads, s.qos)
	}
	if s.reference() != want[1] {
		t.Errorf("reference %v, want mosquitto -> mosquitto", s.reference())
	}
	s.links = s.links[:1]
	if s.reference() != want[0] {
		t.Errorf("without Mosquitto's own bridge the reference is %v, want the first", s.reference())
	}

	for _, bad := range [][3]string{
		{"midge", "single", "0"},
		{"midge-hivemq", "single", "0"},
		{"midge-midge", "pairs", "0"},
		{"midge-midge", "single", "3"},
		{"midge-midge", "single", ""},
	} {
		s := settings{fanin: 10, duration: time.Second, rounds: 1, payload: 64, limits: limits{inflight: 100, queued: 10000}, protocol: "mqttv311"}
		if err := s.parse(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	s = settings{fanin: 10, duration: time.Second, rounds: 1, payload: 64, limits: limits{inflight: 100, queued: 10000, nodelay: "yes"}, protocol: "mqttv311"}
	if err := s.parse("midge-midge", "single", "0"); err == nil {
		t.Error("-set-tcp-nodelay yes accepted")
	}
}

// TestBridgeConfig checks that midge reads the near broker's config as
// meant: the limits and one bridge of bench/# out at the QoS.
func TestBridgeConfig(t *testing.T) {
	text := bridgeConfig(1884, limits{inflight: 100, queued: 10000, nodelay: "false"}, 1885, 1, "mqttv50")
	cfg, err := config.Parse("near.conf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if cfg.MaxInflightMessages != 100 || cfg.MaxQueuedMessages != 10000 || cfg.SetTCPNoDelay {
		t.Errorf("max_inflight_messages %d, max_queued_messages %d, set_tcp_nodelay %v", cfg.MaxInflightMessages, cfg.MaxQueuedMessages, cfg.SetTCPNoDelay)
	}
	if len(cfg.Bridges) != 1 {
		t.Fatalf("%d bridges", len(cfg.Bridges))
	}
	b := cfg.Bridges[0]
	if len(b.Addresses) != 1 || b.Addresses[0].Port != 1885 || b.ProtocolVersion != "mqttv50" ||
		len(b.Topics) != 1 || b.Topics[0].Pattern != "bench/#" || b.Topics[0].Direction != "out" || b.Topics[0].QoS != 1 {
		t.Errorf("bridge %+v, topics %+v", b, b.Topics)
	}
}

func TestTables(t *testing.T) {
	mm, gm := link{"mosquitto", "mosquitto"}, link{"midge", "mosquitto"}
	res := newResults([]link{gm, mm}, mm)
	out := func(delivered float64) *outcome {
		return &outcome{r: bench.Result{Config: bench.Config{QoS: 1}, Sent: 100, Expected: 100, Delivered: 100, DeliveredRate: delivered}}
	}
	for _, v := range []float64{1000, 3000, 2000} {
		res.addMax(mm, "1 -> 1, QoS 1", out(v))
	}
	res.addMax(gm, "1 -> 1, QoS 1", out(3000))
	res.addMax(gm, "1 -> 1, QoS 1", out(3000))
	ts := res.tables(3)
	if ts[0].title != groupThroughput {
		t.Fatalf("first table %q", ts[0].title)
	}
	got := ts[0].table
	wantHeader := "load|mosquitto -> mosquitto|midge -> mosquitto|midge -> mosquitto / ref"
	if h := strings.Join(got.Header, "|"); h != wantHeader {
		t.Errorf("header %q, want %q", h, wantHeader)
	}
	if r := strings.Join(got.Rows[0], "|"); r != "1 -> 1, QoS 1|2000|3000|1.50" {
		t.Errorf("row %q", r)
	}
	lossy := out(3000)
	lossy.r.Delivered, lossy.r.Lost = 75, 25
	res.addMax(gm, "1 -> 1, QoS 1", lossy)
	want := []string{
		"mosquitto -> mosquitto, 1 -> 1, QoS 1, as fast as possible: no loss in 3 runs",
		"midge -> mosquitto, 1 -> 1, QoS 1, as fast as possible: LOSS in 1 of 3 runs, at most 25.0% (25 of 100)",
	}
	if got := res.lossCheck(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("loss check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last := ts[len(ts)-1]; last.title != "All figures" || len(last.table.Rows) != 11 {
		t.Errorf("last table %q with %d rows", last.title, len(last.table.Rows))
	}
}

// TestMeasure runs each bridge whose brokers are at hand briefly, through
// the same code as the program: midge built from the tree, Mosquitto if
// installed. Figures are not checked, only that messages cross.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds midge and starts brokers")
	}
	ctx := context.Background()
	dir := t.TempDir()
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	midge, err := harness.BuildMidge(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]harness.Spec{"midge": {Name: "midge", Path: midge}}
	links := []link{{"midge", "midge"}}
	if mosq, err := harness.FindMosquitto(); err == nil {
		specs["mosquitto"] = harness.Spec{Name: "mosquitto", Path: mosq}
		links = append(links, link{"midge", "mosquitto"}, link{"mosquitto", "midge"})
	} else {
		t.Log("mosquitto not installed: only midge -> midge")
	}
	s := &settings{fanin: 3, duration: 300 * time.Millisecond, drain: 5 * time.Second, rounds: 1, payload: 64,
		limits: limits{inflight: 100, queued: 10000}, protocol: "mqttv311"}
	for _, l := range links {
		t.Run(strings.ReplaceAll(l.String(), " ", ""), func(t *testing.T) {
			cfg := loadConfig("fanin", 1, s)
			cfg.Rate = 1000
			m, err := measure(ctx, specs, dir, s, l, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if m.r.Sent == 0 || m.r.Delivered != m.r.Expected || m.r.Lost != 0 {
				t.Errorf("sent %d, delivered %d of %d", m.r.Sent, m.r.Delivered, m.r.Expected)
			}
		})
	}
}
