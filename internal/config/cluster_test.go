package config

import (
	"strings"
	"testing"
)

func TestClusterOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		conf, want string
		line       int
	}{
		{"cluster_name eu.west\n", "use letters, digits", 1},
		{"cluster_name eu\ncluster_node_name a*b\ncluster_listen :7422\n", "use letters, digits", 2},
		{"cluster_name eu\ncluster_listen 7422\n", "want HOST:PORT", 2},
		{"cluster_name eu\ncluster_listen :7422\ncluster_peer 10.0.0.1:70000\n", "invalid port", 3},
		{"cluster_name eu\ncluster_listen :7422\ncluster_listen :7423\n", "duplicate cluster_listen", 3},
		{"\ncluster_name eu\n", "needs cluster_listen", 2},
		{"cluster_listen :7422\n", "need cluster_name", 0},
		{"cluster_name eu\ncluster_nats_url nats://h:4222\ncluster_peer h:7422\n", "do not apply", 1},
		{"cluster_name eu\ncluster_listen :7422\ncluster_tls_certfile c.pem\n", "must both be given", 1},
		{"cluster_name eu\ncluster_listen :7422\ncluster_tls_certfile c.pem\ncluster_tls_keyfile k.pem\n", "needs cluster_tls_cafile", 1},
		{"cluster_name eu\ncluster_listen :7422\ncluster_tls_cafile ca.pem\n", "mutual TLS", 1},
		{"cluster_name eu\ncluster_listen :7422\ncluster_quorum 0\n", "cluster_quorum", 3},
		{"cluster_name eu\ncluster_listen :7422\ncluster_quorum two\n", "cluster_quorum", 3},
		{"cluster_quorum 2\n", "need cluster_name", 0},
		{"cluster_name eu\ncluster_listen :7422\ncluster_replicas 0\n", "cluster_replicas", 3},
		{"cluster_name eu\ncluster_listen :7422\ncluster_replicas 6\n", "cluster_replicas", 3},
		{"cluster_replicas 2\n", "need cluster_name", 0},
	} {
		e := parseErr(t, tc.conf)
		if !strings.Contains(e.Msg, tc.want) || e.Line != tc.line {
			t.Errorf("%q: %v (line %d), want %q at line %d", tc.conf, e, e.Line, tc.want, tc.line)
		}
	}
}

func TestClusterQuorum(t *testing.T) {
	cfg, err := Parse("q.conf", strings.NewReader("cluster_name eu\ncluster_listen :7422\ncluster_quorum 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Quorum != 3 {
		t.Errorf("cluster_quorum %d, want 3", cfg.Cluster.Quorum)
	}
}
