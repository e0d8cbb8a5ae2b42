package config

import (
	"net"
	"regexp"
	"strconv"
)

// Cluster is the cluster configuration (midge's own options; see
// docs/cluster.md). Its options are global.
type Cluster struct {
	// Name is cluster_name; "" leaves the node on its own.
	Name string
	// NodeName is cluster_node_name ("": the host name).
	NodeName string
	// Listen is cluster_listen, HOST:PORT of the NATS route port.
	Listen string
	// Peers are the cluster_peer lines, HOST:PORT each.
	Peers []string
	// NATSURL is cluster_nats_url: an existing NATS system instead of
	// the embedded server.
	NATSURL string
	// Quorum is cluster_quorum: the nodes, this one included, that must
	// be in reach for a node to take QoS 1/2 and retained messages and
	// new connections (0: the default, see cluster.Config.Quorum).
	Quorum int
	// Replicas is cluster_replicas: how many nodes keep each persistent
	// session (0: the default, see cluster.Config.Replicas; 1: its own
	// node only).
	Replicas int
	// CAFile, CertFile and KeyFile (cluster_tls_cafile, _certfile,
	// _keyfile) secure the routes with mutual TLS.
	CAFile, CertFile, KeyFile string
	// File and Line locate the cluster_name line.
	File string
	Line int
}

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func applyClusterName(c *call) error {
	if err := c.setString(&c.p.cfg.Cluster.Name); err != nil {
		return err
	}
	if !clusterNameRE.MatchString(c.p.cfg.Cluster.Name) {
		return c.errorf("cluster_name %q: use letters, digits, '-' and '_'", c.p.cfg.Cluster.Name)
	}
	c.p.cfg.Cluster.File, c.p.cfg.Cluster.Line = c.file, c.line
	return nil
}

func applyClusterNodeName(c *call) error {
	if err := c.setString(&c.p.cfg.Cluster.NodeName); err != nil {
		return err
	}
	if !clusterNameRE.MatchString(c.p.cfg.Cluster.NodeName) {
		return c.errorf("cluster_node_name %q: use letters, digits, '-' and '_'", c.p.cfg.Cluster.NodeName)
	}
	return nil
}

// hostPort checks a HOST:PORT value.
func (c *call) hostPort() (string, error) {
	v, err := c.word()
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", c.errorf("%s %q: want HOST:PORT, e.g. 10.0.0.1:7422", c.name, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", c.errorf("%s %q: invalid port", c.name, v)
	}
	return v, nil
}

func applyClusterListen(c *call) error {
	v, err := c.hostPort()
	if err != nil {
		return err
	}
	if c.p.seen[&c.p.cfg.Cluster.Listen] {
		return c.errorf("duplicate %s value in configuration", c.name)
	}
	c.p.seen[&c.p.cfg.Cluster.Listen] = true
	c.p.cfg.Cluster.Listen = v
	return nil
}

func applyClusterPeer(c *call) error {
	v, err := c.hostPort()
	if err != nil {
		return err
	}
	c.p.cfg.Cluster.Peers = append(c.p.cfg.Cluster.Peers, v)
	return nil
}

var (
	applyClusterQuorum   = clusterInt(func(k *Cluster) *int { return &k.Quorum }, 1, 1000)
	applyClusterReplicas = clusterInt(func(k *Cluster) *int { return &k.Replicas }, 1, 5)
)

func clusterInt(field func(*Cluster) *int, lo, hi int) func(*call) error {
	return func(c *call) error {
		v, err := c.intIn(lo, hi)
		if err != nil {
			return err
		}
		*field(&c.p.cfg.Cluster) = v
		return nil
	}
}

func clusterString(field func(*Cluster) *string) func(*call) error {
	return func(c *call) error { return c.setString(field(&c.p.cfg.Cluster)) }
}

// checkCluster runs the cluster checks that need all its options.
func checkCluster(c *Config) error {
	k := &c.Cluster
	if k.Name == "" {
		if k.Listen != "" || len(k.Peers) > 0 || k.NATSURL != "" || k.NodeName != "" || k.Quorum != 0 || k.Replicas != 0 || k.CAFile != "" || k.CertFile != "" || k.KeyFile != "" {
			return &Error{File: c.File, Msg: "cluster options need cluster_name"}
		}
		return nil
	}
	at := func(msg string) error {
		return &Error{File: k.File, Line: k.Line, Msg: "cluster " + k.Name + ": " + msg}
	}
	if k.NATSURL != "" {
		if k.Listen != "" || len(k.Peers) > 0 {
			return at("cluster_nats_url uses an existing NATS system: cluster_listen and cluster_peer do not apply")
		}
		return nil
	}
	if k.Listen == "" {
		return at("needs cluster_listen (the route port, e.g. 0.0.0.0:7422) or cluster_nats_url")
	}
	if (k.CertFile == "") != (k.KeyFile == "") {
		return at("cluster_tls_certfile and cluster_tls_keyfile must both be given")
	}
	if k.CertFile != "" && k.CAFile == "" {
		return at("cluster_tls_certfile needs cluster_tls_cafile to verify the other nodes")
	}
	if k.CAFile != "" && k.CertFile == "" {
		return at("cluster_tls_cafile needs cluster_tls_certfile and cluster_tls_keyfile: routes use mutual TLS")
	}
	return nil
}
