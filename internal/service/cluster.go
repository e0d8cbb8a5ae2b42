package service

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/cluster"
	"github.com/midge-mqtt/midge/internal/config"
)

// startCluster creates the cluster node cfg.Cluster asks for (nil
// without cluster_name). It joins the cluster once the broker is made
// (Node.Start).
func startCluster(cfg *config.Config, log *slog.Logger) (*cluster.Node, error) {
	k := &cfg.Cluster
	if k.Name == "" {
		return nil, nil
	}
	node := k.NodeName
	if node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: cluster %s: no cluster_node_name and no host name: %w", k.File, k.Line, k.Name, err)
		}
		node = nodeNameOf(h)
	}
	cc := cluster.Config{Name: k.Name, NodeName: node, Listen: k.Listen, Peers: k.Peers, NATSURL: k.NATSURL, Quorum: k.Quorum, Replicas: k.Replicas, Logger: log, SysInterval: time.Duration(cfg.SysInterval) * time.Second}
	for _, l := range cfg.Listeners {
		cc.Listeners = append(cc.Listeners, listenerName(l))
	}
	if cfg.Persistence {
		// The replicas of persistent sessions are durable beside the
		// node's own store.
		cc.StoreDir = filepath.Join(cfg.PersistenceLocation, cfg.PersistenceFile+".cluster")
	}
	if k.CertFile != "" {
		t, err := clusterTLS(k)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: cluster %s: %w", k.File, k.Line, k.Name, err)
		}
		cc.TLS = t
	}
	n, err := cluster.New(cc)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: cluster %s: %w", k.File, k.Line, k.Name, err)
	}
	return n, nil
}

// nodeNameOf makes a host name a node name: its first label, with what
// a node name may not hold replaced by '-'.
func nodeNameOf(host string) string {
	host, _, _ = strings.Cut(host, ".")
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "node"
	}
	return string(b)
}

// clusterTLS is the mutual TLS of the routes: each node presents its
// certificate and requires the other's, both signed by the CA file.
func clusterTLS(k *config.Cluster) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(k.CertFile, k.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster_tls_certfile/keyfile: %w", err)
	}
	pem, err := os.ReadFile(k.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cluster_tls_cafile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster_tls_cafile %s: no certificate in it", k.CAFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
