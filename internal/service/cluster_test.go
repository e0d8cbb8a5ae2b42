package service

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/cluster"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/testpki"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func routePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tlsNode starts a node of the cluster "tls" whose routes use mutual TLS
// with a certificate ca issues, on route, routing to peers.
func tlsNode(t *testing.T, name string, ca *testpki.CA, route string, peers ...string) (*cluster.Node, *lockedBuffer) {
	t.Helper()
	cert := ca.Issue(name, nil)
	cfg := &config.Config{Cluster: config.Cluster{
		Name: "tls", NodeName: name, Listen: route, Peers: peers,
		CAFile: ca.File, CertFile: cert.CertFile, KeyFile: cert.KeyFile, File: "midge.conf", Line: 1,
	}}
	logs := &lockedBuffer{}
	node, err := startCluster(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.Relay = node
	srv := broker.New(opts)
	if err := node.Start(srv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); node.Close() })
	return node, logs
}

// Nodes whose certificates one CA signs form a cluster; a node with a
// certificate of another CA is kept out, and the reason is logged.
func TestClusterRoutesUseMutualTLS(t *testing.T) {
	ca := testpki.NewCA(t, "cluster")
	seed := routePort(t)
	a, aLog := tlsNode(t, "a", ca, seed)
	b, _ := tlsNode(t, "b", ca, routePort(t), seed)
	deadline := time.Now().Add(15 * time.Second)
	for len(a.Peers()) != 1 || len(b.Peers()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a sees %v, b sees %v; a's log:\n%s", a.Peers(), b.Peers(), aLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stranger, sLog := tlsNode(t, "stranger", testpki.NewCA(t, "other"), routePort(t), seed)
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(sLog.String()+aLog.String(), "tls: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no TLS error logged; the stranger's log:\n%s\na's log:\n%s", sLog, aLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if p := stranger.Peers(); len(p) != 0 {
		t.Fatalf("a node with another CA's certificate joined: it sees %v", p)
	}
	if p := a.Peers(); len(p) != 1 {
		t.Fatalf("a sees %v", p)
	}
}

func TestNodeNameOfHostName(t *testing.T) {
	for host, want := range map[string]string{
		"web-1.example.com": "web-1",
		"box":               "box",
		"a b":               "a-b",
		"":                  "node",
	} {
		if got := nodeNameOf(host); got != want {
			t.Errorf("nodeNameOf(%q) = %q, want %q", host, got, want)
		}
	}
}
