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
	st := n.State()
	names := make([]string, 0, len(st.Peers))
	for _, p := range st.Peers { // by name
		names = append(names, p.Name)
		sum.Connected += p.Connected
		sum.Sessions += p.Sessions
		sum.Subscriptions += p.Subscriptions
		sum.Received += p.Received
		sum.Sent += p.Sent
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	const p = "$SYS/broker/cluster/"
	return map[string]string{
		p + "name":                n.cfg.Name,
		p + "node":                n.self,
		p + "nodes":               strconv.Itoa(st.Nodes),
		p + "peers":               strings.Join(names, " "),
		p + "clients/connected":   i64(sum.Connected),
		p + "clients/total":       strconv.Itoa(sum.Sessions),
		p + "subscriptions/count": strconv.Itoa(sum.Subscriptions),
		p + "messages/received":   i64(sum.Received),
		p + "messages/sent":       i64(sum.Sent),
		p + "messages/forwarded":  i64(st.Forwarded),
		p + "messages/relayed":    i64(st.Relayed),
	}
}

// State is what a node knows of its cluster, for the admin API.
type State struct {
	Name      string      `json:"name"`
	Node      string      `json:"node"`
	RouteAddr string      `json:"route_addr,omitempty"` // the embedded NATS server's route port
	Quorum    int         `json:"quorum"`
	Quorate   bool        `json:"quorate"` // whether this node takes QoS 1/2 and retained messages
	Nodes     int         `json:"nodes"`   // alive, this one included
	Forwarded int64       `json:"messages_forwarded"`
	Relayed   int64       `json:"messages_relayed"`
	Peers     []PeerState `json:"peers"`
}

// PeerState is one peer alive, as its last heartbeat described it.
type PeerState struct {
	Name          string    `json:"name"`
	LastSeen      time.Time `json:"last_seen"`
	Filters       int       `json:"filters"`       // its filters this node forwards to
	Awaiting      int       `json:"awaiting_acks"` // QoS 1/2 messages sent to it and not yet confirmed
	Connected     int64     `json:"clients_connected"`
	Sessions      int       `json:"sessions"`
	Subscriptions int       `json:"subscriptions"`
	Received      int64     `json:"messages_received"`
	Sent          int64     `json:"messages_sent"`
}

// State returns the node's view of the cluster, peers by name.
func (n *Node) State() State {
	st := State{
		Name: n.cfg.Name, Node: n.self, RouteAddr: n.RouteAddr(),
		Quorum: n.cfg.Quorum, Quorate: n.quorate(),
		Forwarded: n.forwarded.Load(), Relayed: n.relayed.Load(),
		Peers: []PeerState{},
	}
	n.mu.Lock()
	for _, p := range n.peers {
		st.Peers = append(st.Peers, PeerState{
			Name: p.name, LastSeen: p.lastSeen, Filters: len(p.filters), Awaiting: len(p.acks),
			Connected: p.figures.Connected, Sessions: p.figures.Sessions, Subscriptions: p.figures.Subscriptions,
			Received: p.figures.Received, Sent: p.figures.Sent,
		})
	}
	n.mu.Unlock()
	slices.SortFunc(st.Peers, func(a, b PeerState) int { return strings.Compare(a.Name, b.Name) })
	st.Nodes = len(st.Peers) + 1
	return st
}
