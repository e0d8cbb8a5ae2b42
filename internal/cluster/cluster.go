// Package cluster makes several midge nodes act as one broker. The nodes
// talk over NATS — nats-server embedded in each node, its routes joining
// them, or an existing NATS system named by cluster_nats_url — and MQTT's
// semantics stay in the broker: a Node is the broker's Relay.
//
// What crosses between nodes (docs/cluster.md has the promises):
//   - each node's distinct subscription filters, so that a message goes
//     only to the nodes that have subscribers for it, once per node;
//   - the messages, as MQTT 5.0 PUBLISH packets; for QoS 1 and 2 the
//     publisher is answered once every node that must deliver the message
//     has it (durable there, with persistence on);
//   - retained messages, to every node, and to a joining node from a peer;
//   - session ownership: a client connecting to one node ends its session
//     on the others, and brings it along when it resumes it;
//   - the wills of each node's connected clients, published by another
//     node if theirs is lost (wills.go);
//   - state every node keeps a copy of, such as the dynamic security
//     configuration (shared.go);
//   - heartbeats, by which a node learns of its peers and of their loss.
//
// Subjects are under midge.<cluster name>.: hb (heartbeats) and, for each
// node, n.<node>.msg (messages), n.<node>.ctl (control requests) and
// n.<node>.rep.* (replies to its requests).
package cluster

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Config is a node's cluster configuration.
type Config struct {
	// Name is the cluster's name (cluster_name): nodes of other
	// clusters on the same NATS never exchange anything.
	Name string
	// NodeName names this node (cluster_node_name), unique in the cluster.
	NodeName string
	// Listen is the host:port the embedded NATS server accepts routes on
	// (cluster_listen).
	Listen string
	// Peers are other nodes' route addresses, host:port (cluster_peer).
	Peers []string
	// NATSURL, when set, uses an existing NATS system instead of an
	// embedded server (cluster_nats_url); Listen and Peers are unused.
	NATSURL string
	// TLS, when set, secures the routes (cluster_tls_*): both ends
	// present certificates and verify the other's.
	TLS *tls.Config
	// Heartbeat is how often a node announces itself; a peer silent for
	// three of them is taken as lost. 0: one second.
	Heartbeat time.Duration
	// Timeout bounds a request to a peer (a subscription's announcement,
	// a session claim, a QoS 1/2 message's acknowledgement) while the
	// peer is still taken as alive. 0: ten seconds.
	Timeout time.Duration
	// Logger receives the node's log lines (nil: discard).
	Logger *slog.Logger
	// Quorum is how many nodes, this one included, must be in reach for
	// it to take QoS 1/2 and retained messages and new connections (see
	// quorum.go); 0: a majority of this node and its Peers when they are
	// two or more, else 1 (no quorum: every node serves on its own).
	Quorum int
	// SysInterval is sys_interval: how often the cluster's figures are
	// published under $SYS/broker/cluster/ (see sys.go); 0: never.
	SysInterval time.Duration
	// Replicas is how many nodes keep a copy of each persistent session
	// (cluster_replicas; see replica.go): 0 is the default, min(nodes, 3)
	// counting this node and its Peers; below 2, sessions are kept by
	// their node only.
	Replicas int
	// StoreDir is where the embedded NATS server keeps the replicas on
	// disk (a directory beside the persistence file); "": in memory.
	StoreDir string
	// Listeners are the names of the broker's listeners (broker.Listener
	// Name) in the order of the configuration file, by which nodes name
	// a publisher's listener to each other (see wire.go).
	Listeners []string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidName reports whether s may name a cluster or a node: letters,
// digits, '-' and '_' (they become parts of NATS subjects).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// maxPayload is the embedded NATS server's largest message (NATS warns
// above 8 MB). A larger MQTT message cannot cross between nodes.
const maxPayload = 8 << 20

// Node is one member of a cluster and its broker's Relay. Create it with
// New, give it to the broker as Options.Relay, then Start it with the
// broker.
type Node struct {
	cfg    Config
	log    *slog.Logger
	ns     *server.Server // nil with an external NATS
	nc     *nats.Conn
	srv    *broker.Server
	prefix string // midge.<cluster>.
	own    string // midge.<cluster>.n.<self>.: this node's subjects
	self   string
	epoch  uint64

	// mu guards local, peers and started; announcements to peers are
	// published holding it, so that each peer sees them in order.
	mu      sync.Mutex
	local   map[string]int // filter -> subscriptions here
	peers   map[string]*peer
	started bool
	// remote holds the peers' filters keyed by node name, and this
	// node's own shared subscriptions under its name, so that a shared
	// group's rotation runs over every node that has members.
	remote *topic.Tree[string]
	live   atomic.Int32 // peers alive

	reqMu   sync.Mutex
	reqSeq  uint64
	pending map[uint64]chan []byte

	// msgSub is the subscription to the messages peers forward, and
	// answering what its handler owes the peers that asked for an
	// acknowledgement (see acks.go); only that handler touches it.
	msgSub    *nats.Subscription
	answering answers

	// forwarded and relayed count the messages sent to peers (once per
	// peer) and taken from them.
	forwarded, relayed atomic.Int64

	// needRetained: the next peer this node syncs with is asked for its
	// retained messages (at the start, and after quorum was lost), and
	// replaceRetained: they replace this node's own.
	needRetained, replaceRetained bool
	matches                       sync.Pool

	// rep replicates persistent sessions (nil: not replicated); adopting
	// holds, per lost node, the take-over of its sessions under way, and
	// takenOver the last one done (both guarded by mu); takingOver counts
	// the take-overs under way.
	rep        *replica
	adopting   map[string]*adoption
	takenOver  map[string]takeOver
	takingOver atomic.Int32
	// ownWills are the wills of this node's clients, kept by the other
	// nodes, and dueWills those of lost nodes' clients waiting out their
	// delay here (see wills.go); until wokeAt this node, just back from
	// a pause of its own, publishes no lost node's wills. All guarded by
	// mu.
	ownWills map[string]*heldWill
	dueWills map[string]*time.Timer
	wokeAt   time.Time
	// shared holds the states shared with the other nodes (see
	// shared.go), by name. Guarded by mu.
	shared map[string]*sharedState
	tmpDir string // the JetStream directory made for an in-memory store
	stop   chan struct{}
	wg     sync.WaitGroup
}

type peer struct {
	name     string
	epoch    uint64
	lastSeen time.Time
	filters  map[string]struct{}
	gone     chan struct{} // closed when the peer is lost
	figures  figures       // from its last heartbeat
	replicas uint8         // heartbeat.Replicas, the highest heard
	heard    bool          // a heartbeat came (replicas is known)
	subject  string        // midge.<cluster>.n.<name>.
	// acks holds the QoS 1/2 messages sent to the peer and not yet
	// acknowledged, in the order sent (see acks.go). Guarded by Node.mu.
	acks []*waiter
	// wills are the wills of its connected clients (see wills.go), by
	// client id. Guarded by Node.mu.
	wills map[string]*heldWill
}

// New starts the NATS side of a node (the embedded server and the
// connection to it, or the connection to cfg.NATSURL). The node relays
// nothing until Start.
func New(cfg Config) (*Node, error) {
	if !ValidName(cfg.Name) {
		return nil, fmt.Errorf("cluster name %q: use letters, digits, '-' and '_'", cfg.Name)
	}
	if !ValidName(cfg.NodeName) {
		return nil, fmt.Errorf("cluster node name %q: use letters, digits, '-' and '_'", cfg.NodeName)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Quorum <= 0 {
		cfg.Quorum = defaultQuorum(cfg.Peers)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = min(len(cfg.Peers)+1, 3)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var eb [8]byte
	_, _ = rand.Read(eb[:])
	n := &Node{
		cfg:     cfg,
		log:     log,
		prefix:  "midge." + cfg.Name + ".",
		self:    cfg.NodeName,
		epoch:   binary.BigEndian.Uint64(eb[:]) | 1,
		local:   make(map[string]int),
		peers:   make(map[string]*peer),
		remote:  topic.NewTree[string](),
		pending: make(map[uint64]chan []byte),
		stop:    make(chan struct{}),

		needRetained: true,
		adopting:     make(map[string]*adoption),
		takenOver:    make(map[string]takeOver),
	}
	n.own = n.prefix + "n." + n.self + "."
	n.matches.New = func() any { return new(topic.Matches[string]) }
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(cfg.NATSURL, nats.Name("midge "+cfg.NodeName), nats.MaxReconnects(-1), nats.ErrorHandler(n.natsError))
		if err != nil {
			return nil, fmt.Errorf("connecting to NATS at %s: %w", cfg.NATSURL, err)
		}
		n.nc = nc
	} else if err := n.startServer(); err != nil {
		return nil, err
	}
	if cfg.Replicas >= 2 {
		if err := n.newReplica(); err != nil {
			n.nc.Close()
			n.shutdownServer()
			return nil, err
		}
	}
	return n, nil
}

// startServer starts the embedded nats-server: routes on cfg.Listen to
// cfg.Peers, and a client port on loopback that only this process may
// use (a random token guards it) but that NATS needs for its routes to
// start.
func (n *Node) startServer() error {
	host, port, err := splitHostPort(n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cluster_listen %q: %w", n.cfg.Listen, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // NATS reads 0 as "no routes"
	}
	var tb [24]byte
	_, _ = rand.Read(tb[:])
	token := fmt.Sprintf("%x", tb)
	opts := &server.Options{
		ServerName:    n.cfg.Name + "-" + n.cfg.NodeName,
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: token,
		NoSigs:        true,
		MaxPayload:    maxPayload,
		HTTPPort:      0,
		Cluster: server.ClusterOpts{
			Name:      n.cfg.Name,
			Host:      host,
			Port:      port,
			TLSConfig: n.cfg.TLS,
		},
	}
	if n.cfg.TLS != nil {
		opts.Cluster.TLSTimeout = 5
	}
	if n.cfg.Replicas >= 2 {
		opts.JetStream = true
		opts.StoreDir = n.cfg.StoreDir
		if opts.StoreDir == "" {
			// JetStream keeps its own state on disk even for streams in
			// memory.
			d, err := os.MkdirTemp("", "midge-cluster-")
			if err != nil {
				return fmt.Errorf("cluster: %w", err)
			}
			n.tmpDir, opts.StoreDir = d, d
		}
	}
	var routes []string
	for _, p := range n.cfg.Peers {
		routes = append(routes, "nats-route://"+p)
	}
	if len(routes) > 0 {
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		n.shutdownServer()
		return fmt.Errorf("starting the cluster's NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{n.log}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("the cluster's NATS server did not start (route port %s)", n.cfg.Listen)
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Token(token), nats.Name("midge "+n.cfg.NodeName), nats.MaxReconnects(-1), nats.ErrorHandler(n.natsError))
	if err != nil {
		ns.Shutdown()
		return fmt.Errorf("connecting to the cluster's NATS server: %w", err)
	}
	n.ns, n.nc = ns, nc
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q", p)
	}
	return h, port, nil
}

// RouteAddr is the address the embedded server accepts routes on (with
// the port it chose if cluster_listen asked for port 0); "" with an
// external NATS.
func (n *Node) RouteAddr() string {
	if n.ns == nil {
		return ""
	}
	if a := n.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Start joins the cluster with the broker srv, whose Options.Relay is n.
func (n *Node) Start(srv *broker.Server) error {
	n.srv = srv
	own := n.own
	subs := []struct {
		subject string
		h       nats.MsgHandler
	}{
		{n.prefix + "hb", n.handleHeartbeat},
		{own + "msg.>", n.handleMessage},
		{own + "msg0", n.handleMessage0},
		{own + "ctl", n.handleControl},
		{own + "ack", n.handleAcks},
	}
	for _, s := range subs {
		sub, err := n.nc.Subscribe(s.subject, s.h)
		if err != nil {
			return fmt.Errorf("cluster: subscribing to %s: %w", s.subject, err)
		}
		switch s.subject {
		case own + "msg.>":
			n.msgSub = sub
		case own + "msg0":
			// QoS 0 messages are at most once: beyond these limits,
			// while this node cannot keep up, they are dropped
			// (natsError logs it) rather than held without bound.
			_ = sub.SetPendingLimits(qos0PendingMsgs, qos0PendingBytes)
			continue
		}
		// Messages of a node that is catching up must not be dropped;
		// QoS 1/2 messages are bounded by their senders' waits.
		_ = sub.SetPendingLimits(-1, -1)
	}
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.mu.Lock()
	n.started = true
	n.mu.Unlock()
	n.wg.Go(n.heartbeats)
	if n.cfg.SysInterval > 0 {
		n.wg.Go(n.sysLoop)
	}
	n.log.Info(fmt.Sprintf("Cluster %s: node %s started (epoch %x).", n.cfg.Name, n.self, n.epoch))
	if n.rep != nil {
		// The stream may take a few seconds (JetStream elects its
		// leaders first): persistent sessions wait for it meanwhile.
		n.wg.Go(n.rep.open)
	}
	if !n.quorate() {
		n.log.Warn(fmt.Sprintf("Cluster %s: waiting for %d of the other nodes (cluster_quorum %d) before taking QoS 1/2 and retained messages and new connections.", n.cfg.Name, n.cfg.Quorum-1, n.cfg.Quorum))
	}
	return nil
}

// stopping reports whether Close has begun.
func (n *Node) stopping() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// Close leaves the cluster: the peers take this node as lost at once.
func (n *Node) Close() error {
	if n.stopping() {
		return nil
	}
	// No goroutine starts once started is false (seen checks it).
	n.mu.Lock()
	n.started = false
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
	n.mu.Lock()
	for _, p := range n.peers {
		delete(n.peers, p.name)
		close(p.gone)
	}
	n.live.Store(0)
	n.mu.Unlock()
	if n.srv != nil {
		n.publishControl(n.prefix+"hb", &heartbeat{Node: n.self, Epoch: n.epoch, Leaving: true})
	}
	if n.nc.IsConnected() {
		_ = n.nc.Flush() // the heartbeat that says it leaves
	}
	n.nc.Close()
	n.shutdownServer()
	return nil
}

// shutdownServer stops the embedded server, if any, and removes the
// directory made for it.
func (n *Node) shutdownServer() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	if n.tmpDir != "" {
		_ = os.RemoveAll(n.tmpDir)
	}
}

// Peers returns the names of the peers taken as alive.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := make([]string, 0, len(n.peers))
	for name := range n.peers {
		names = append(names, name)
	}
	return names
}

// Name is the node's name.
func (n *Node) Name() string { return n.self }

type heartbeat struct {
	Node    string   `json:"node"`
	Epoch   uint64   `json:"epoch"`
	Leaving bool     `json:"leaving,omitempty"`
	Figures *figures `json:"figures,omitempty"`
	// Replicas says where the node's session replicas stand (see
	// replica.writable): 0 it keeps none, 1 it waits for the stream, 2
	// the stream is there.
	Replicas uint8 `json:"replicas,omitempty"`
	// Shared are the versions of the node's shared states.
	Shared map[string]int64 `json:"shared,omitempty"`
}

const (
	replicasWaiting = 1
	replicasReady   = 2
)

func (n *Node) heartbeats() {
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	n.beat()
	last := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		if now.Sub(last) > 3*n.cfg.Heartbeat {
			// This node was paused (SIGSTOP, a stalled VM): the peers
			// it is about to take as lost are those that went on
			// without it, not lost ones.
			n.mu.Lock()
			n.wokeAt = now.Add(3 * n.cfg.Heartbeat)
			n.mu.Unlock()
		}
		last = now
		n.beat()
		n.expirePeers(now.Add(-3 * n.cfg.Heartbeat))
		if n.rep != nil {
			n.mu.Lock()
			n.rep.checkWritableLocked() // its time bound
			n.mu.Unlock()
		}
	}
}

func (n *Node) publishControl(subject string, v any) {
	b, _ := json.Marshal(v)
	if err := n.nc.Publish(subject, b); err != nil {
		n.log.Warn(fmt.Sprintf("Cluster: publishing to %s: %v.", subject, err))
	}
}

// beat sends this node's heartbeat.
func (n *Node) beat() {
	f := n.ownFigures()
	hb := &heartbeat{Node: n.self, Epoch: n.epoch, Figures: &f, Shared: n.sharedVersions()}
	if n.rep != nil {
		hb.Replicas = replicasWaiting
		if n.rep.isReady() {
			hb.Replicas = replicasReady
		}
	}
	n.publishControl(n.prefix+"hb", hb)
}

func (n *Node) handleHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if json.Unmarshal(m.Data, &hb) != nil || hb.Node == n.self {
		return
	}
	if hb.Leaving {
		n.mu.Lock()
		if p := n.peers[hb.Node]; p != nil && p.epoch == hb.Epoch {
			n.dropPeerLocked(p, leaving)
		}
		n.mu.Unlock()
		return
	}
	p := n.seen(hb.Node, hb.Epoch)
	n.mu.Lock()
	if hb.Figures != nil {
		p.figures = *hb.Figures
	}
	if len(hb.Shared) > 0 && n.peers[p.name] == p {
		n.compareSharedLocked(p, hb.Shared)
	}
	if (!p.heard || hb.Replicas > p.replicas) && n.peers[p.name] == p {
		p.heard, p.replicas = true, max(p.replicas, hb.Replicas)
		if n.rep != nil {
			n.rep.checkWritableLocked()
		}
	}
	n.mu.Unlock()
}

// seen records that the peer name (in its incarnation epoch) is alive.
// A peer not known yet is sent this node's filters and asked for its own.
func (n *Node) seen(name string, epoch uint64) *peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[name]
	if p != nil && p.epoch == epoch {
		p.lastSeen = time.Now()
		return p
	}
	if p != nil {
		// Replaced by its new incarnation at once: no loss of quorum.
		n.removePeerLocked(p, restarted)
	}
	p = &peer{name: name, epoch: epoch, lastSeen: time.Now(), filters: make(map[string]struct{}), gone: make(chan struct{}), subject: n.prefix + "n." + name + "."}
	n.peers[name] = p
	n.live.Add(1)
	n.log.Info(fmt.Sprintf("Cluster %s: node %s joined.", n.cfg.Name, name))
	n.backLocked(name)
	n.quorumChangedLocked(-1)
	if n.started {
		w := n.requestLocked(p, "ctl", n.syncMsg(true))
		n.sendWillsLocked(p)
		n.wg.Go(func() { n.afterSync(p, w) })
		if n.rep != nil {
			// Back after the others took this node as lost?
			n.wg.Go(func() { n.rep.reconcile(false) })
		}
	}
	return p
}

func (n *Node) afterSync(p *peer, w *waiter) {
	if _, err := w.wait(); err != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: node %s did not take this node's subscriptions: %v.", n.cfg.Name, p.name, err))
		return
	}
	n.mu.Lock()
	fetch, replace := n.needRetained, n.replaceRetained
	n.needRetained, n.replaceRetained = false, false
	n.mu.Unlock()
	if fetch {
		n.fetchRetained(p, replace)
	}
}

// expirePeers drops the peers not heard from since before.
func (n *Node) expirePeers(before time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.peers {
		if p.lastSeen.Before(before) {
			n.dropPeerLocked(p, "is not answering")
		}
	}
}

// dropPeerLocked forgets a lost peer and its filters, and acts if this
// node has lost its quorum. Called with n.mu held.
func (n *Node) dropPeerLocked(p *peer, why string) {
	if n.removePeerLocked(p, why) {
		n.quorumChangedLocked(+1)
	}
}

// restarted is why a peer replaced by its new incarnation is forgotten,
// and leaving why one that said it leaves is.
const (
	restarted = "restarted"
	leaving   = "left the cluster"
)

// removePeerLocked forgets a peer and its filters, and reports whether
// it did (it was still the peer of its name). Called with n.mu held.
func (n *Node) removePeerLocked(p *peer, why string) bool {
	if n.peers[p.name] != p {
		return false
	}
	delete(n.peers, p.name)
	n.live.Add(-1)
	for f := range p.filters {
		n.remote.Unsubscribe(p.name, f)
	}
	n.log.Warn(fmt.Sprintf("Cluster %s: node %s %s; its subscriptions are dropped here.", n.cfg.Name, p.name, why))
	if why != leaving {
		// Lost with its connections (a restart too): their wills are
		// due. One that left published them itself.
		n.willsOfLostLocked(p)
	}
	if why != restarted {
		n.lostLocked(p)
	} else if n.rep != nil {
		// Its sessions are not taken over but restored where they were:
		// what it did not answer may have missed them.
		n.takenOver[p.name] = takeOver{at: time.Now(), unsure: true}
	}
	close(p.gone) // after lostLocked: a waiter finds the take-over due
	if n.rep != nil {
		n.rep.checkWritableLocked() // one node fewer to wait for
	}
	return true
}

// waiter is a request in flight to one peer.
type waiter struct {
	n   *Node
	p   *peer
	seq uint64
	ch  chan []byte
	err error // the request could not be sent
	// acked: the peer answers it cumulatively (p.acks), not by a reply
	// of its own (n.pending).
	acked bool
}

var errPeerLost = errors.New("node lost")

// wait returns the reply, errPeerLost if the peer was lost meanwhile, or
// an error after the timeout.
func (w *waiter) wait() ([]byte, error) {
	if !w.acked {
		defer w.n.forget(w.seq)
	}
	if w.err != nil {
		return nil, w.err
	}
	select {
	case b := <-w.ch:
		return w.answer(b) // answered already: no timer needed
	default:
	}
	t := time.NewTimer(w.n.cfg.Timeout)
	defer t.Stop()
	select {
	case b := <-w.ch:
		return w.answer(b)
	case <-w.p.gone:
		return nil, errPeerLost
	case <-t.C:
		return nil, fmt.Errorf("node %s did not answer in %v", w.p.name, w.n.cfg.Timeout)
	case <-w.n.stop:
		return nil, errors.New("leaving the cluster")
	}
}

func (w *waiter) answer(b []byte) ([]byte, error) {
	if !w.acked && b != nil && len(b) == 0 {
		return nil, fmt.Errorf("node %s is not listening (stopped?)", w.p.name)
	}
	return b, nil
}

// abandon drops a request whose answer nobody will wait for.
func (w *waiter) abandon() {
	if !w.acked {
		w.n.forget(w.seq)
	}
}

func (n *Node) forget(seq uint64) {
	n.reqMu.Lock()
	delete(n.pending, seq)
	n.reqMu.Unlock()
}

// A node's messages and the replies to its requests share one subject
// (and one subscription): a peer's reply is handled after every message
// that peer forwarded before replying, so that a message published on the
// peer before, say, a subscription here was acknowledged is in place when
// the subscription takes effect.
const (
	msgSubject   = "msg.m"
	replySubject = "msg.rep."
)

// requestLocked sends a request to the peer's subject (ctl or msg) and
// returns what waits for its reply. It publishes at once, so requests to
// one peer arrive in the order they were made.
func (n *Node) requestLocked(p *peer, kind string, data []byte) *waiter {
	n.reqMu.Lock()
	n.reqSeq++
	w := &waiter{n: n, p: p, seq: n.reqSeq, ch: make(chan []byte, 1)}
	n.pending[w.seq] = w.ch
	n.reqMu.Unlock()
	reply := n.own + replySubject + strconv.FormatUint(w.seq, 36)
	if err := n.nc.PublishMsg(&nats.Msg{Subject: p.subject + kind, Reply: reply, Data: data}); err != nil {
		w.err = fmt.Errorf("sending to node %s: %w", p.name, err)
	}
	return w
}

func (n *Node) handleReply(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	seq, err := strconv.ParseUint(m.Subject[i+1:], 36, 64)
	if err != nil {
		return
	}
	n.reqMu.Lock()
	ch := n.pending[seq]
	n.reqMu.Unlock()
	data := m.Data
	if len(data) == 0 && m.Header.Get("Status") == "503" {
		data = noResponders // NATS: nothing subscribes to the subject
	}
	if ch != nil {
		select {
		case ch <- data:
		default:
		}
	}
}

// noResponders is the reply NATS makes for the peer when nothing listens
// on its subjects any more: the peer has stopped, and has not been taken
// as lost yet. Every reply of a node has data.
var noResponders = []byte{}

// The most QoS 0 messages (and bytes) from other nodes that wait for
// this node's handler; beyond them they are dropped.
const (
	qos0PendingMsgs  = 100_000
	qos0PendingBytes = 64 << 20
)

// natsError logs the NATS connection's asynchronous errors: a slow
// consumer is the QoS 0 handler falling behind (once per episode).
func (n *Node) natsError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: this node cannot keep up with the QoS 0 messages of the other nodes: some are dropped.", n.cfg.Name))
		return
	}
	n.log.Warn(fmt.Sprintf("Cluster %s: NATS: %v.", n.cfg.Name, err))
}

// natsLogger passes the embedded server's log lines on, prefixed.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) {
	l.log.Debug("NATS: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Warnf(format string, v ...any) {
	l.log.Warn("NATS: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Fatalf(format string, v ...any) {
	l.log.Error("NATS: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Errorf(format string, v ...any) {
	l.log.Error("NATS: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Debugf(format string, v ...any) {
	l.log.Debug("NATS: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Tracef(format string, v ...any) {}
