package cluster

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/sysfig"
)

// figures are a node's counters, as its heartbeats carry them.
type figures struct {
	Connected     int64 `json:"connected"`
	Sessions      int   `json:"sessions"`
	Subscriptions int   `json:"subscriptions"`
	Received      int64 `json:"received"`
	Sent          int64 `json:"sent"`
}

func (n *Node) ownFigures() figures {
	if n.srv == nil {
		return figures{}
	}
	st := n.srv.Stats()
	return figures{Connected: st.Connected, Sessions: st.Sessions, Subscriptions: st.Subscriptions, Received: st.MessagesReceived, Sent: st.MessagesSent}
}

// sysLoop publishes the cluster's figures every SysInterval, retained
// and only when changed, beside the node's own $SYS/broker:
//
//	$SYS/broker/cluster/name                   the cluster's name
//	$SYS/broker/cluster/node                   this node's name
//	$SYS/broker/cluster/nodes                  nodes alive, this one included
//	$SYS/broker/cluster/peers                  the other nodes alive, by name
//	$SYS/broker/cluster/clients/connected      over the nodes alive
//	$SYS/broker/cluster/clients/total          sessions, over the nodes alive
//	$SYS/broker/cluster/subscriptions/count    over the nodes alive
//	$SYS/broker/cluster/messages/received      over the nodes alive
//	$SYS/broker/cluster/messages/sent          over the nodes alive
//	$SYS/broker/cluster/messages/forwarded     by this node to others, once per node
//	$SYS/broker/cluster/messages/relayed       to this node from others
//
// The sums take the peers' figures from their last heartbeat.
func (n *Node) sysLoop() {
	t := time.NewTicker(n.cfg.SysInterval)
	defer t.Stop()
	pub := sysfig.New(n.srv)
	for {
		pub.Publish(n.sysFigures())
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

func (n *Node) sysFigures() map[string]string {
	sum := n.ownFigures()
	var names []string
	n.mu.Lock()
	for _, p := range n.peers {
		names = append(names, p.name)
		sum.Connected += p.figures.Connected
		sum.Sessions += p.figures.Sessions
		sum.Subscriptions += p.figures.Subscriptions
		sum.Received += p.figures.Received
		sum.Sent += p.figures.Sent
	}
	n.mu.Unlock()
	slices.Sort(names)
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	const p = "$SYS/broker/cluster/"
	return map[string]string{
		p + "name":                n.cfg.Name,
		p + "node":                n.self,
		p + "nodes":               strconv.Itoa(len(names) + 1),
		p + "peers":               strings.Join(names, " "),
		p + "clients/connected":   i64(sum.Connected),
		p + "clients/total":       strconv.Itoa(sum.Sessions),
		p + "subscriptions/count": strconv.Itoa(sum.Subscriptions),
		p + "messages/received":   i64(sum.Received),
		p + "messages/sent":       i64(sum.Sent),
		p + "messages/forwarded":  i64(n.forwarded.Load()),
		p + "messages/relayed":    i64(n.relayed.Load()),
	}
}
