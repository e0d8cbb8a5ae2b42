package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/cli/bench"
)

// cluster is the running nodes of one run.
type cluster struct {
	procs []*harness.Proc
}

func (c *cluster) stop() {
	for _, p := range c.procs {
		p.Stop()
	}
}

func (c *cluster) alive() error {
	var errs []error
	for _, p := range c.procs {
		errs = append(errs, p.Alive())
	}
	return errors.Join(errs...)
}

func (c *cluster) addrs() []string {
	out := make([]string, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.Addr
	}
	return out
}

// cpu is each node's CPU time so far.
func (c *cluster) cpu() ([]time.Duration, error) {
	out := make([]time.Duration, len(c.procs))
	for i, p := range c.procs {
		d, err := bench.ProcCPU(p.PID())
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// nodeConfig is node i's config: harness.BaseConfig and, in a cluster,
// its cluster options with every other node as a peer. routes is nil for
// a midge without cluster.
func nodeConfig(port int, s *settings, i int, routes []int) string {
	conf := harness.BaseConfig(port, s.inflight, s.queued)
	if routes == nil {
		return conf
	}
	var sb strings.Builder
	sb.WriteString(conf)
	fmt.Fprintf(&sb, "cluster_name bench\ncluster_node_name n%d\ncluster_listen %s\n", i+1, loopback(routes[i]))
	if s.persistent {
		// startCluster waits for the information that the session
		// replicas are there.
		sb.WriteString("log_type information\n")
	}
	for j, r := range routes {
		if j != i {
			fmt.Fprintf(&sb, "cluster_peer %s\n", loopback(r))
		}
	}
	return sb.String()
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// formTimeout bounds the wait for a new cluster to carry messages
// between every two nodes.
const formTimeout = 30 * time.Second

// probeTopic matches none of the load's subscriptions.
const probeTopic = "probe"

// startCluster starts n nodes (one plain midge for n = 0) and waits until
// a message published on each reaches a subscriber on every other.
func startCluster(ctx context.Context, spec harness.Spec, dir string, n int, s *settings) (*cluster, error) {
	var routes []int
	for range n {
		p, err := harness.FreePort()
		if err != nil {
			return nil, err
		}
		routes = append(routes, p)
	}
	c := &cluster{}
	for i := range max(n, 1) {
		p, err := harness.Start(ctx, spec, dir, func(port int) string { return nodeConfig(port, s, i, routes) })
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		c.procs = append(c.procs, p)
	}
	for i, from := range c.procs {
		for j, to := range c.procs {
			if i == j {
				continue
			}
			if err := harness.WaitCrossed(ctx, from.Addr, to.Addr, probeTopic, formTimeout); err != nil {
				err = fmt.Errorf("node %d to node %d: %w\nnode %d's output: %s\nnode %d's output: %s", i+1, j+1, err, i+1, from.Output(), j+1, to.Output())
				c.stop()
				return nil, err
			}
		}
	}
	if s.persistent && n >= 2 {
		// Persistent sessions wait for the replicas' stream.
		deadline := time.Now().Add(formTimeout)
		for i, p := range c.procs {
			for !strings.Contains(p.Output(), "persistent sessions replicated on") {
				if time.Now().After(deadline) {
					c.stop()
					return nil, fmt.Errorf("node %d: no session replicas within %v\n%s", i+1, formTimeout, p.Output())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	return c, nil
}
