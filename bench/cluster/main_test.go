package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/config"
)

func testSettings() settings {
	return settings{pairs: 4, subscribers: 6, fanin: 3, duration: time.Second, payload: 64, inflight: 100, queued: 10000}
}

func TestParseSettings(t *testing.T) {
	s := testSettings()
	if err := s.parse("0, 3,1,3", "fanout,pairs", "1,0"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.nodes, []int{0, 3, 1}) || strings.Join(s.loads, ",") != "fanout,pairs" || !slices.Equal(s.qos, []byte{1, 0}) {
		t.Errorf("nodes %v, loads %v, QoS %v", s.nodes, s.loads, s.qos)
	}
	for _, bad := range [][3]string{
		{"-1", "pairs", "0"},
		{"10", "pairs", "0"},
		{"two", "pairs", "0"},
		{"2", "shared", "0"},
		{"2", "pairs", "3"},
		{"", "pairs", "0"},
	} {
		s := testSettings()
		if err := s.parse(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestNodeConfig checks that midge reads a node's config as meant: the
// limits, and the cluster options with every other node as a peer.
func TestNodeConfig(t *testing.T) {
	s := testSettings()
	routes := []int{7001, 7002, 7003}
	cfg, err := config.Parse("n2.conf", strings.NewReader(nodeConfig(1884, &s, 1, routes)))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Cluster
	if k.Name != "bench" || k.NodeName != "n2" || k.Listen != "127.0.0.1:7002" ||
		!slices.Equal(k.Peers, []string{"127.0.0.1:7001", "127.0.0.1:7003"}) {
		t.Errorf("cluster %+v", k)
	}
	if cfg.MaxInflightMessages != 100 || cfg.MaxQueuedMessages != 10000 {
		t.Errorf("max_inflight_messages %d, max_queued_messages %d", cfg.MaxInflightMessages, cfg.MaxQueuedMessages)
	}
	plain, err := config.Parse("plain.conf", strings.NewReader(nodeConfig(1884, &s, 0, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Cluster.Name != "" {
		t.Errorf("a plain midge has cluster %q", plain.Cluster.Name)
	}
}

// TestLoadPlacement checks that every load makes messages cross nodes.
func TestLoadPlacement(t *testing.T) {
	s := testSettings()
	addrs := []string{"a", "b", "c"}
	p := loadConfig("pairs", 1, &s, addrs)
	for i := range s.pairs {
		pub, sub := p.PubBrokers[i%len(p.PubBrokers)].Addr, p.SubBrokers[i%len(p.SubBrokers)].Addr
		if pub == sub {
			t.Errorf("pair %d: publisher and subscriber both on %s", i, pub)
		}
	}
	f := loadConfig("fanout", 0, &s, addrs)
	if len(f.PubBrokers) != 1 || len(f.SubBrokers) != 3 {
		t.Errorf("fanout: publishers on %v, subscribers on %v", f.PubBrokers, f.SubBrokers)
	}
	in := loadConfig("fanin", 0, &s, addrs)
	if len(in.PubBrokers) != 3 || len(in.SubBrokers) != 1 {
		t.Errorf("fanin: publishers on %v, subscribers on %v", in.PubBrokers, in.SubBrokers)
	}
}

// TestMeasure runs a short QoS 1 load through a cluster of two nodes,
// through the same code as the program. Figures are not checked, only
// that every message crosses.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds midge and starts nodes")
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
	s := testSettings()
	s.duration, s.drain = 300*time.Millisecond, 5*time.Second
	m, err := measure(ctx, harness.Spec{Name: "midge", Path: midge}, dir, &s, 2, "pairs", 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if m.r.Sent == 0 || m.r.Delivered != m.r.Expected || m.r.Lost != 0 || len(m.nodeCPU) != 2 {
		t.Errorf("sent %d, delivered %d of %d, CPU of %d nodes", m.r.Sent, m.r.Delivered, m.r.Expected, len(m.nodeCPU))
	}
}
