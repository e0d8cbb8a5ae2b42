package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/store"
)

// member is one node of a test cluster: its cluster side, its broker and
// the address clients connect to.
type member struct {
	node *Node
	srv  *broker.Server
	addr string
	name string
	ln   net.Listener
	done chan struct{}
}

type testCluster struct {
	t       testing.TB
	members []*member
	seed    string // the first node's route address
	// timeout, when set, replaces the nodes' 3 s request timeout, and
	// heartbeat their 50 ms heartbeat.
	timeout, heartbeat time.Duration
	// replicas is the nodes' Config.Replicas: 0 keeps sessions on their
	// node only.
	replicas int
	// routes, when set, are every node's route address: node i listens
	// on routes[i] and routes to the others (JetStream wants routes on
	// each).
	routes []string
}

func logger(t testing.TB) *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// newCluster starts n nodes in this process, the later ones routing to
// the first, and waits until each sees all the others.
func newCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	for i := range n {
		tc.add(fmt.Sprintf("n%d", i+1), nil)
	}
	tc.waitFormed()
	return tc
}

// add starts one more node; st, when set, is its store.
func (tc *testCluster) add(name string, st store.Store) *member {
	tc.t.Helper()
	listen := "127.0.0.1:0"
	if i := len(tc.members); i < len(tc.routes) {
		listen = tc.routes[i]
	}
	m, err := tc.start(name, listen, st)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.members = append(tc.members, m)
	return m
}

// start starts a node listening for routes on listen, not yet a member.
func (tc *testCluster) start(name, listen string, st store.Store) (*member, error) {
	t := tc.t
	cfg := Config{Name: "test", NodeName: name, Listen: listen, Heartbeat: 50 * time.Millisecond, Timeout: 3 * time.Second, Logger: logger(t), SysInterval: 100 * time.Millisecond}
	if tc.timeout > 0 {
		cfg.Timeout = tc.timeout
	}
	if tc.heartbeat > 0 {
		cfg.Heartbeat = tc.heartbeat
	}
	cfg.Replicas = max(tc.replicas, 1)
	if tc.routes != nil {
		for _, r := range tc.routes {
			if r != listen {
				cfg.Peers = append(cfg.Peers, r)
			}
		}
	} else if tc.seed != "" {
		cfg.Peers = []string{tc.seed}
	}
	node, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if tc.seed == "" && tc.routes == nil {
		tc.seed = node.RouteAddr()
	}
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.Relay = node
	opts.Store = node.Store(st)
	opts.Logger = logger(t)
	srv := broker.New(opts)
	if err := srv.Restore(); err != nil {
		return nil, err
	}
	if err := node.Start(srv); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	m := &member{node: node, srv: srv, addr: ln.Addr().String(), name: name, ln: ln, done: make(chan struct{})}
	go func() { _ = srv.Serve(ln, l); close(m.done) }()
	t.Cleanup(func() { m.stop() })
	return m, nil
}

func (m *member) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	m.srv.Close()
	<-m.done
	m.node.Close()
}

// waitFormed waits until every running node sees every other.
func (tc *testCluster) waitFormed() {
	tc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		var running []string
		for _, m := range tc.members {
			select {
			case <-m.done:
			default:
				running = append(running, m.name)
			}
		}
		for _, m := range tc.members {
			if !slices.Contains(running, m.name) {
				continue
			}
			if got := len(m.node.Peers()); got != len(running)-1 {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range tc.members {
				tc.t.Logf("%s sees %v", m.name, m.node.Peers())
			}
			tc.t.Fatal("the cluster did not form")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inbox collects the messages a client receives.
type inbox struct {
	mu   sync.Mutex
	msgs []*client.Message
	ch   chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (b *inbox) add(_ *client.Client, m *client.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
}

// wait returns the first n messages, failing after a timeout.
func (b *inbox) wait(t *testing.T, n int) []*client.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		if len(b.msgs) >= n {
			out := slices.Clone(b.msgs[:n])
			b.mu.Unlock()
			return out
		}
		got := len(b.msgs)
		b.mu.Unlock()
		select {
		case <-b.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", got, n)
		}
	}
}

func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func connect(t *testing.T, m *member, id string, o client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o.Address = m.addr
	o.ClientID = id
	if o.ProtocolVersion == 0 {
		o.ProtocolVersion = client.MQTT5
	}
	c, err := client.Connect(ctx, o)
	if err != nil {
		t.Fatalf("connecting %s to %s: %v", id, m.name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func subscribe(t *testing.T, c *client.Client, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, nil, client.Subscription{Filter: filter, QoS: qos}); err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, c *client.Client, m *client.Message) *client.Ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

// A message published on any node reaches the subscribers of every node,
// once per subscriber, at each QoS, with its 5.0 properties.
func TestPublishReachesEveryNode(t *testing.T) {
	tc := newCluster(t, 3)
	boxes := make([]*inbox, 3)
	for i, m := range tc.members {
		boxes[i] = newInbox()
		c := connect(t, m, "sub-"+m.name, client.Options{OnMessage: boxes[i].add})
		subscribe(t, c, "sensors/#", 2)
		// An overlapping filter: still one copy per message.
		subscribe(t, c, "sensors/+/temp", 2)
	}
	pubs := make([]*client.Client, 3)
	for i, m := range tc.members {
		pubs[i] = connect(t, m, "pub-"+m.name, client.Options{})
	}
	var props client.Properties
	props.ContentType = "text/plain"
	props.Set(client.PropContentType)
	props.User = []client.UserProperty{{Key: "k", Value: "v"}}
	want := 0
	for qos := range byte(3) {
		for i, p := range pubs {
			publish(t, p, &client.Message{Topic: "sensors/" + tc.members[i].name + "/temp", Payload: []byte{'0' + qos}, QoS: qos, Properties: props})
			want++
		}
	}
	for i, b := range boxes {
		msgs := b.wait(t, want)
		time.Sleep(100 * time.Millisecond)
		if b.count() != want {
			t.Errorf("%s: %d messages, want %d", tc.members[i].name, b.count(), want)
		}
		for _, m := range msgs {
			if m.Properties.ContentType != "text/plain" || len(m.Properties.User) != 1 {
				t.Errorf("%s: %s lost its properties: %+v", tc.members[i].name, m.Topic, m.Properties)
			}
		}
	}
}

// Messages of one publisher arrive in order on another node, at each QoS.
func TestOrderAcrossNodes(t *testing.T) {
	tc := newCluster(t, 2)
	box := newInbox()
	sub := connect(t, tc.members[1], "sub", client.Options{OnMessage: box.add})
	subscribe(t, sub, "seq", 1)
	pub := connect(t, tc.members[0], "pub", client.Options{})
	const n = 500
	ctx := context.Background()
	var pend []*client.Pending
	for i := range n {
		p, err := pub.Send(ctx, &client.Message{Topic: "seq", Payload: fmt.Appendf(nil, "%d", i), QoS: byte(i % 2)})
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, p)
	}
	for _, p := range pend {
		if _, err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// MQTT orders the messages of one QoS: a QoS 0 message may pass a
	// QoS 1 one held back by the subscriber's full in-flight window.
	next := [2]int{0, 1}
	for _, m := range box.wait(t, n) {
		q := m.QoS
		if string(m.Payload) != fmt.Sprint(next[q]) {
			t.Fatalf("QoS %d: got %s, want %d", q, m.Payload, next[q])
		}
		next[q] += 2
	}
}

// A QoS 1 publish is acknowledged only after the other node has the
// message: with no subscriber anywhere, 5.0 says so (0x10); with one on
// another node, it is a success.
func TestNoMatchingSubscribersCountsOtherNodes(t *testing.T) {
	tc := newCluster(t, 2)
	pub := connect(t, tc.members[0], "pub", client.Options{})
	if ack := publish(t, pub, &client.Message{Topic: "nobody", QoS: 1}); ack.ReasonCode != client.NoMatchingSubscribers {
		t.Fatalf("PUBACK %v, want No matching subscribers", ack.ReasonCode)
	}
	sub := connect(t, tc.members[1], "sub", client.Options{})
	subscribe(t, sub, "nobody", 1)
	if ack := publish(t, pub, &client.Message{Topic: "nobody", QoS: 1}); ack.ReasonCode != client.Success {
		t.Fatalf("PUBACK %v, want Success", ack.ReasonCode)
	}
}

// Unsubscribing on one node stops the others sending there.
func TestUnsubscribeStopsForwarding(t *testing.T) {
	tc := newCluster(t, 2)
	box := newInbox()
	sub := connect(t, tc.members[1], "sub", client.Options{OnMessage: box.add})
	subscribe(t, sub, "a/b", 0)
	ctx := context.Background()
	if _, err := sub.Unsubscribe(ctx, nil, "a/b"); err != nil {
		t.Fatal(err)
	}
	// The withdrawal is not waited for; it is in place once the peer has
	// handled what was sent after it.
	pub := connect(t, tc.members[0], "pub", client.Options{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		ack := publish(t, pub, &client.Message{Topic: "a/b", QoS: 1})
		if ack.ReasonCode == client.NoMatchingSubscribers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 1 still forwards to node 2 after the unsubscribe")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Retained messages set on any node are seen from every node, by a node
// that joins later too, and an empty one clears them everywhere.
func TestRetainedEverywhere(t *testing.T) {
	tc := newCluster(t, 2)
	pub := connect(t, tc.members[0], "pub", client.Options{})
	publish(t, pub, &client.Message{Topic: "r/1", Payload: []byte("one"), QoS: 1, Retain: true})
	publish(t, pub, &client.Message{Topic: "r/2", Payload: []byte("two"), QoS: 0, Retain: true})
	pub2 := connect(t, tc.members[1], "pub2", client.Options{})
	publish(t, pub2, &client.Message{Topic: "r/3", Payload: []byte("three"), QoS: 1, Retain: true})
	publish(t, pub2, &client.Message{Topic: "r/0", Payload: []byte("zero"), QoS: 1, Retain: true})
	publish(t, pub2, &client.Message{Topic: "r/0", QoS: 1, Retain: true})

	late := tc.add("n3", nil)
	tc.waitFormed()
	for _, m := range tc.members {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var got []string
			_ = m.srv.Retained("r/#", func(r broker.RetainedMessage) bool {
				got = append(got, r.Topic+"="+string(r.Payload))
				return true
			})
			slices.Sort(got)
			if slices.Equal(got, []string{"r/1=one", "r/2=two", "r/3=three"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %v", m.name, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	box := newInbox()
	c := connect(t, late, "late", client.Options{OnMessage: box.add})
	subscribe(t, c, "r/#", 1)
	if msgs := box.wait(t, 3); !msgs[0].Retain {
		t.Fatalf("not retained: %+v", msgs[0])
	}
}

// A client connecting to another node takes its session over: the old
// connection is told 0x8E, and a resumed session brings its
// subscriptions and its queued messages.
func TestSessionTakeoverAcrossNodes(t *testing.T) {
	tc := newCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	first := connect(t, a, "dev", keep300())
	subscribe(t, first, "cmd/#", 1)
	// Messages queued on node a while the client is offline.
	ctx := context.Background()
	if err := first.Disconnect(ctx, client.Success, nil); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, b, "pub", client.Options{})
	for i := range 3 {
		publish(t, pub, &client.Message{Topic: "cmd/x", Payload: fmt.Appendf(nil, "q%d", i), QoS: 1})
	}
	box := newInbox()
	second := connect(t, b, "dev", withInbox(keep300(), box))
	if !second.Connack().SessionPresent {
		t.Fatal("session not present on the other node")
	}
	for i, m := range box.wait(t, 3) {
		if string(m.Payload) != fmt.Sprintf("q%d", i) {
			t.Fatalf("queued message %d is %s", i, m.Payload)
		}
	}
	if _, ok := a.srv.Session("dev"); ok {
		t.Fatal("node a still holds the session")
	}
	// The subscription came along: a publish on node a reaches it.
	pubA := connect(t, a, "pubA", client.Options{})
	publish(t, pubA, &client.Message{Topic: "cmd/y", Payload: []byte("live"), QoS: 1})
	if m := box.wait(t, 4)[3]; string(m.Payload) != "live" {
		t.Fatalf("got %s", m.Payload)
	}

	// A connected client taken over from the other node hears 0x8E.
	third := connect(t, a, "dev", keep300())
	select {
	case <-second.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection on node b was not closed")
	}
	var de *client.DisconnectError
	if err := second.Err(); !errors.As(err, &de) || de.ReasonCode != client.SessionTakenOver {
		t.Fatalf("old connection ended with %v, want Session taken over", err)
	}
	if !third.Connack().SessionPresent {
		t.Fatal("session not present after the second move")
	}
}

// A shared subscription with members on several nodes gives each message
// to one member only, and spreads them over the nodes.
func TestSharedAcrossNodes(t *testing.T) {
	tc := newCluster(t, 3)
	boxes := make([]*inbox, 3)
	for i, m := range tc.members {
		boxes[i] = newInbox()
		c := connect(t, m, "worker-"+m.name, client.Options{OnMessage: boxes[i].add})
		subscribe(t, c, "$share/g/jobs", 1)
	}
	pub := connect(t, tc.members[0], "pub", client.Options{})
	const n = 90
	for i := range n {
		publish(t, pub, &client.Message{Topic: "jobs", Payload: fmt.Appendf(nil, "%d", i), QoS: 1})
	}
	deadline := time.Now().Add(10 * time.Second)
	total := 0
	for time.Now().Before(deadline) {
		total = 0
		for _, b := range boxes {
			total += b.count()
		}
		if total >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	seen := map[string]int{}
	for i, b := range boxes {
		if b.count() == 0 {
			t.Errorf("%s's member got nothing", tc.members[i].name)
		}
		for _, m := range b.wait(t, b.count()) {
			seen[string(m.Payload)]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages delivered, want %d", len(seen), n)
	}
	for p, k := range seen {
		if k != 1 {
			t.Fatalf("message %s delivered %d times", p, k)
		}
	}
}

// A node that leaves is dropped by the others at once, one that stops
// answering after three heartbeats; publishing goes on meanwhile.
func TestNodeLoss(t *testing.T) {
	tc := newCluster(t, 3)
	box := newInbox()
	sub := connect(t, tc.members[2], "sub", client.Options{OnMessage: box.add})
	subscribe(t, sub, "t", 1)
	sub1 := connect(t, tc.members[1], "sub1", client.Options{})
	subscribe(t, sub1, "t", 1)
	pub := connect(t, tc.members[0], "pub", client.Options{})
	publish(t, pub, &client.Message{Topic: "t", QoS: 1})
	tc.members[1].stop()
	tc.waitFormed()
	if ack := publish(t, pub, &client.Message{Topic: "t", QoS: 1}); ack.ReasonCode != client.Success {
		t.Fatalf("PUBACK %v", ack.ReasonCode)
	}
	box.wait(t, 2)
}

// keep300 asks for a session that outlives the connection by 300 s.
func keep300() client.Options {
	o := client.Options{KeepSession: true}
	o.Properties.SessionExpiry = 300
	o.Properties.Set(client.PropSessionExpiry)
	return o
}

func withInbox(o client.Options, b *inbox) client.Options {
	o.OnMessage = b.add
	return o
}

// A message too large for NATS is refused to its QoS 1 publisher at once
// when another node must get it; one the other nodes need not get is
// delivered here.
func TestMessageTooLargeToCross(t *testing.T) {
	// Requests time out after a minute here: a refusal within the
	// client's 30 s is the size check's, not a timeout's.
	tc := &testCluster{t: t, timeout: time.Minute}
	tc.add("n1", nil)
	tc.add("n2", nil)
	tc.waitFormed()
	big := make([]byte, maxPayload+1)
	pub := connect(t, tc.members[0], "pub", client.Options{})
	box := newInbox()
	here := connect(t, tc.members[0], "here", client.Options{OnMessage: box.add})
	subscribe(t, here, "local/big", 1)
	if ack := publish(t, pub, &client.Message{Topic: "local/big", QoS: 1, Payload: big}); ack.ReasonCode != client.Success {
		t.Fatalf("PUBACK %v for a message no other node needs", ack.ReasonCode)
	}
	box.wait(t, 1)
	far := connect(t, tc.members[1], "far", client.Options{})
	subscribe(t, far, "far/big", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ack, err := pub.Publish(ctx, &client.Message{Topic: "far/big", QoS: 1, Payload: big}); err == nil {
		t.Fatalf("PUBACK %v for a message that cannot reach the other node", ack.ReasonCode)
	} else if ctx.Err() != nil {
		t.Fatalf("not refused at once: %v", err)
	}
}

// Nodes of another cluster name never join, even routed to.
func TestClusterNameMismatch(t *testing.T) {
	tc := newCluster(t, 1)
	cfg := Config{Name: "other", NodeName: "n2", Listen: "127.0.0.1:0", Peers: []string{tc.seed}, Heartbeat: 50 * time.Millisecond, Logger: logger(t)}
	node, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.Relay = node
	srv := broker.New(opts)
	defer func() { srv.Close(); node.Close() }()
	if err := node.Start(srv); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if p := node.Peers(); len(p) != 0 {
		t.Fatalf("a node of another cluster sees %v", p)
	}
	if p := tc.members[0].node.Peers(); len(p) != 0 {
		t.Fatalf("n1 sees %v", p)
	}
}

// $SYS/broker/cluster/ sums the figures of the nodes alive.
func TestClusterSysFigures(t *testing.T) {
	tc := newCluster(t, 3)
	for i, m := range tc.members {
		c := connect(t, m, fmt.Sprintf("c%d", i), client.Options{})
		subscribe(t, c, fmt.Sprintf("f/%d", i), 0)
	}
	var mu sync.Mutex
	got := map[string]string{}
	changed := make(chan struct{}, 1)
	watch := connect(t, tc.members[0], "watch", client.Options{OnMessage: func(_ *client.Client, m *client.Message) {
		mu.Lock()
		got[m.Topic] = string(m.Payload)
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	subscribe(t, watch, "$SYS/broker/cluster/#", 0)
	want := map[string]string{
		"name": "test", "node": "n1", "nodes": "3", "peers": "n2 n3",
		"clients/connected": "4", "subscriptions/count": "4",
	}
	await := func(when string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			ok := true
			for k, v := range want {
				if got["$SYS/broker/cluster/"+k] != v {
					ok = false
				}
			}
			snapshot := fmt.Sprint(got)
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("%s, $SYS/broker/cluster/ holds %s, want %v", when, snapshot, want)
			}
		}
	}
	await("with 3 nodes")
	tc.members[2].stop()
	want["nodes"], want["peers"], want["clients/connected"], want["subscriptions/count"] = "2", "n2", "3", "3"
	await("after n3 stopped")
	// The admin API's view of the same.
	st := tc.members[0].node.State()
	if st.Name != "test" || st.Node != "n1" || st.Nodes != 2 || len(st.Peers) != 1 || st.Peers[0].Name != "n2" ||
		st.Peers[0].Filters != 1 || st.Peers[0].Connected != 1 || time.Since(st.Peers[0].LastSeen) > 3*time.Second || st.Quorate != (st.Quorum <= 2) {
		t.Errorf("State() = %+v", st)
	}
}

// TestQuorum checks the quorum's default and what a node short of it
// refuses: QoS 1/2 and retained messages, and connections; QoS 0
// messages pass.
func TestQuorum(t *testing.T) {
	for _, tc := range []struct {
		peers []string
		want  int
	}{{nil, 1}, {[]string{"a:1"}, 1}, {[]string{"a:1", "b:1"}, 2}, {[]string{"a:1", "b:1", "c:1", "d:1"}, 3}} {
		if q := defaultQuorum(tc.peers); q != tc.want {
			t.Errorf("%d peers: quorum %d, want %d", len(tc.peers), q, tc.want)
		}
	}

	node, err := New(Config{Name: "test", NodeName: "solo", Listen: "127.0.0.1:0", Heartbeat: 50 * time.Millisecond, Quorum: 2, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.Relay = node
	srv := broker.New(opts)
	if err := node.Start(srv); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*broker.RelayedMessage{{Topic: "a", QoS: 1}, {Topic: "a", QoS: 2}, {Topic: "a", Retain: true, Payload: []byte("x")}} {
		if _, _, _, err := node.Forward(m); err == nil {
			t.Errorf("QoS %d retain %v taken short of the quorum", m.QoS, m.Retain)
		}
	}
	if _, _, _, err := node.Forward(&broker.RelayedMessage{Topic: "a"}); err != nil {
		t.Errorf("a QoS 0 message refused: %v", err)
	}
	if _, err := node.Claim("c", false); err == nil {
		t.Error("a connection taken short of the quorum")
	}
}
