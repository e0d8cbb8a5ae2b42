package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// routed3 is a test cluster of three nodes that keep every persistent
// session on all three, each with its route address picked.
func routed3(t testing.TB) *testCluster {
	// A take-over waits for JetStream to elect the lost node's
	// successors: seconds, more than the tests' usual request timeout.
	tc := &testCluster{t: t, replicas: 3, timeout: 15 * time.Second}
	for len(tc.routes) < 3 {
		if r := fmt.Sprintf("127.0.0.1:%d", testtool.ListenPort(t)); !slices.Contains(tc.routes, r) {
			tc.routes = append(tc.routes, r)
		}
	}
	return tc
}

// replicatedCluster starts three nodes that keep every persistent
// session on all three; stores, when given, are their own stores.
func replicatedCluster(t testing.TB, stores ...store.Store) *testCluster {
	t.Helper()
	tc := routed3(t)
	tc.startReplicated(stores...)
	return tc
}

// startReplicated starts routed3's three nodes and waits for their
// replicas.
func (tc *testCluster) startReplicated(stores ...store.Store) {
	t := tc.t
	t.Helper()
	// Started together: JetStream makes the stream once three servers
	// are up.
	var wg sync.WaitGroup
	ms := make([]*member, 3)
	errs := make([]error, 3)
	for i := range 3 {
		var st store.Store
		if i < len(stores) {
			st = stores[i]
		}
		wg.Go(func() { ms[i], errs[i] = tc.start(fmt.Sprintf("n%d", i+1), tc.routes[i], st) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	tc.members = ms
	tc.waitFormed()
	for _, m := range tc.members {
		select {
		case <-m.node.rep.ready:
		case <-time.After(20 * time.Second):
			t.Fatalf("node %s: no replicas", m.name)
		}
	}
}

func waitSession(t *testing.T, m *member, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := m.srv.Session(id); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never took the session of %s", m.name, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A persistent session outlives its node: the messages queued for it
// there, and those published after the node went, reach the client when
// it reconnects to another node, and its subscription goes on.
func TestReplicatedSessionOutlivesItsNode(t *testing.T) {
	tc := replicatedCluster(t)
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	leaveSession(t, n1)
	pub := connect(t, n3, "pub", client.Options{})
	for i := range 5 {
		publish(t, pub, &client.Message{Topic: "cmd/x", Payload: fmt.Appendf(nil, "m%d", i), QoS: 1})
	}
	n1.stop()
	// n2, the lowest name left, takes the session over; it goes on
	// queueing what is published, from the moment n3 knows n1 is gone
	// (until n2 announces the session's subscription, n3 holds them).
	for deadline := time.Now().Add(20 * time.Second); slices.Contains(n3.node.Peers(), "n1"); {
		if time.Now().After(deadline) {
			t.Fatal("n3 still counts n1 in")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 5; i < 10; i++ {
		if ack := publish(t, pub, &client.Message{Topic: "cmd/x", Payload: fmt.Appendf(nil, "m%d", i), QoS: 1}); ack.ReasonCode != client.Success {
			t.Fatalf("PUBACK %v", ack.ReasonCode)
		}
	}
	waitSession(t, n2, "dev")
	box := newInbox()
	again := connect(t, n3, "dev", withInbox(keep300(), box))
	if !again.Connack().SessionPresent {
		t.Fatal("session not present after its node was lost")
	}
	for i, m := range box.wait(t, 10) {
		if string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d is %s", i, m.Payload)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if k := box.count(); k != 10 {
		t.Fatalf("%d messages, want 10", k)
	}
	if _, ok := n2.srv.Session("dev"); ok {
		t.Fatal("n2 still holds the session")
	}
	// Its records moved with it: none left under n2's name; under n3's,
	// the session alone, its delivered messages forgotten.
	waitRecords(t, n3, "n2", 0)
	waitRecords(t, n3, "n3", 1)
}

// waitRecords waits until the replicas, read from m, hold want records
// under node's name.
func waitRecords(t *testing.T, m *member, node string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := m.node.rep.records(context.Background(), node)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records under %s, want %d", len(recs), node, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A node back after its sessions were taken over ends those it still
// holds (restored from its own store), and the client keeps the one the
// other node took.
func TestNodeBackEndsSessionsTakenOver(t *testing.T) {
	own := store.NewMemory()
	tc := replicatedCluster(t, own)
	n1, n2 := tc.members[0], tc.members[1]
	leaveSession(t, n1)
	n1.stop()
	waitSession(t, n2, "dev")
	back := restartN1(t, tc, own)
	deadline := time.Now().Add(30 * time.Second)
	waitMoved(t, back, n2, deadline, "the node back still holds the session taken over")
	for len(back.node.Peers()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the node back sees %v", back.node.Peers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pub := connect(t, back, "pub", client.Options{})
	publish(t, pub, &client.Message{Topic: "cmd/x", Payload: []byte("after"), QoS: 1})
	box := newInbox()
	again := connect(t, back, "dev", withInbox(keep300(), box))
	if !again.Connack().SessionPresent {
		t.Fatal("session not present")
	}
	if m := box.wait(t, 1)[0]; string(m.Payload) != "after" {
		t.Fatalf("got %s", m.Payload)
	}
}

// Store keys become subjects and back, a client's records sharing the
// client's subject prefix whatever its id holds.
func TestSubjectOfKey(t *testing.T) {
	prefix := "midge.c.js.s.n1."
	for _, id := range []string{"dev", "a.b*>c d", "", "\xff\x00ü"} {
		key := append([]byte{'c', 0, byte(len(id))}, id...)
		for _, rest := range [][]byte{{1}, {3, 0, 0, 0, 0, 0, 0, 0, 7}} {
			k := append(append([]byte{}, key...), rest...)
			subject, ok := subjectOf(prefix, k)
			if !ok {
				t.Fatalf("%q: no subject", k)
			}
			for part := range strings.SplitSeq(strings.TrimPrefix(subject, prefix), ".") {
				if part == "" || strings.ContainsAny(part, "*> ") {
					t.Fatalf("%q: subject %q", k, subject)
				}
			}
			back, err := keyOf(prefix, subject)
			if err != nil || string(back) != string(k) {
				t.Fatalf("%q: back %q, %v", k, back, err)
			}
		}
	}
	if _, ok := subjectOf(prefix, []byte("rtopic")); ok {
		t.Fatal("a retained message's key has a subject")
	}
}

// A take-over due is waited for until it is announced, refused after
// the request timeout, not waited for once announced before the loss
// was seen here, and given up after adoptTimeout.
func TestWaitAdoptions(t *testing.T) {
	n := &Node{
		cfg:       Config{Name: "test", NodeName: "n3", Timeout: 50 * time.Millisecond, Quorum: 2},
		log:       slog.New(slog.DiscardHandler),
		adopting:  make(map[string]*adoption),
		takenOver: make(map[string]takeOver),
		stop:      make(chan struct{}),
		started:   true,
	}
	n.rep = &replica{n: n}
	lose := func(p *peer) {
		n.mu.Lock()
		n.lostLocked(p)
		n.mu.Unlock()
	}
	if err := n.waitAdoptions(); err != nil {
		t.Fatal(err)
	}
	lose(&peer{name: "n1", lastSeen: time.Now()})
	if err := n.waitAdoptions(); err == nil || !strings.Contains(err.Error(), "node n1") {
		t.Fatalf("no take-over announced: %v", err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		n.adopted("n1", takeOver{filters: []string{"cmd/#"}}, false)
	}()
	if err := n.waitAdoptions(); err != nil {
		t.Fatalf("take-over announced while waiting: %v", err)
	}
	// n2's loss seen here after the announcement of its take-over.
	seen := time.Now()
	time.Sleep(time.Millisecond)
	n.adopted("n2", takeOver{}, false)
	lose(&peer{name: "n2", lastSeen: seen})
	if err := n.waitAdoptions(); err != nil {
		t.Fatalf("take-over announced before the loss was seen: %v", err)
	}
	// n2 back, then lost again: a new take-over is due.
	lose(&peer{name: "n2", lastSeen: time.Now().Add(time.Millisecond)})
	if n.takingOver.Load() != 1 {
		t.Fatalf("%d take-overs due, want 1", n.takingOver.Load())
	}
	n.mu.Lock()
	n.adopting["n2"].since = time.Now().Add(-adoptTimeout - time.Second)
	n.mu.Unlock()
	if err := n.waitAdoptions(); err != nil {
		t.Fatalf("a take-over never announced is still waited for: %v", err)
	}
	if n.takingOver.Load() != 0 || len(n.adopting) != 0 {
		t.Fatalf("%d take-overs due, want none", n.takingOver.Load())
	}
	// A node back in reach: its take-over, another node's to do, is no
	// longer waited for (this node may be the one that was cut off).
	lose(&peer{name: "n5", lastSeen: time.Now()})
	n.mu.Lock()
	n.backLocked("n5")
	n.mu.Unlock()
	n.wg.Wait() // its sessions' filters cannot be read: no replicas here
	if err := n.waitAdoptions(); err != nil || n.takingOver.Load() != 0 {
		t.Fatalf("the take-over of a node back is still waited for: %v", err)
	}
	// What the sessions taken over may have wanted.
	for _, c := range []struct {
		node, topic string
		want        bool
	}{
		{"n1", "cmd/x", true},   // its sessions took cmd/#
		{"n1", "tele/x", false}, // not that
		{"n2", "cmd/x", true},   // its take-over given up: unknown
		{"n5", "tele/x", true},  // back, its sessions unknown
		{"n4", "cmd/x", true},   // no take-over heard of
	} {
		if got := n.lostMayHaveWanted(c.node, c.topic); got != c.want {
			t.Errorf("sessions of %s may want %s: %v, want %v", c.node, c.topic, got, c.want)
		}
	}
}

func TestTakeOverWants(t *testing.T) {
	to := takeOver{filters: []string{"a/+", "$share/g/b/#"}}
	for name, want := range map[string]bool{"a/x": true, "a/x/y": false, "b": true, "b/c/d": true, "c": false} {
		if got := to.wants(name); got != want {
			t.Errorf("wants(%s) = %v, want %v", name, got, want)
		}
	}
	if !(&takeOver{unsure: true}).wants("c") {
		t.Error("a failed take-over wants nothing")
	}
}

// relayDrop makes n1 drop, unanswered, the QoS 1/2 and retained messages
// its peers forward while on is set, as a node that dies then would, and
// counts them.
type relayDrop struct {
	on      atomic.Bool
	dropped atomic.Int32
}

func dropAtN1(t *testing.T) *relayDrop {
	d := &relayDrop{}
	testHookRelayed = func(n *Node) bool {
		if n.self != "n1" || !d.on.Load() {
			return true
		}
		d.dropped.Add(1)
		return false
	}
	t.Cleanup(func() { testHookRelayed = nil })
	return d
}

// wait waits until n1 has dropped n messages.
func (d *relayDrop) wait(t *testing.T, n int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); d.dropped.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("n1 received %d of the %d messages", d.dropped.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A QoS 1 message that was on its way to a node lost before it took
// the message is refused to its publisher when the persistent sessions
// taken over from that node may want it (they may have missed it); sent
// again, it reaches them. One that only that node's clean sessions
// wanted is acknowledged: they went with it.
func TestMessageLostWithItsNodeIsRefused(t *testing.T) {
	drop := dropAtN1(t)
	tc := replicatedCluster(t)
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	leaveSession(t, n1)
	subscribe(t, connect(t, n1, "clean", client.Options{}), "tele/#", 1)
	// One publisher per message: a connection answers the messages of a
	// burst in order, so one publisher's second message, if it came after
	// the first burst, would wait unforwarded for the first's answer.
	pubs := map[string]*client.Client{
		"cmd/x":  connect(t, n3, "pub-cmd", client.Options{}),
		"tele/x": connect(t, n3, "pub-tele", client.Options{}),
	}
	drop.on.Store(true)
	errs := make(map[string]chan error)
	for name, pub := range pubs {
		ch := make(chan error, 1)
		errs[name] = ch
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := pub.Publish(ctx, &client.Message{Topic: name, Payload: []byte("m0"), QoS: 1})
			ch <- err
		}()
	}
	// n1 has them, unanswered (before it goes: a message sent after n1
	// is gone waits for the take-over instead, and is delivered).
	drop.wait(t, 2)
	n1.stop()
	if err := <-errs["cmd/x"]; err == nil || !strings.Contains(err.Error(), "PUBACK") {
		t.Fatalf("a message that may have missed the session taken over: %v, want a refusal", err)
	}
	if err := <-errs["tele/x"]; err != nil {
		t.Fatalf("a message only the lost node's clean session wanted: %v", err)
	}
	waitSession(t, n2, "dev")
	if ack := publish(t, pubs["cmd/x"], &client.Message{Topic: "cmd/x", Payload: []byte("m1"), QoS: 1}); ack.ReasonCode != client.Success {
		t.Fatalf("sent again: PUBACK %v", ack.ReasonCode)
	}
	box := newInbox()
	again := connect(t, n3, "dev", withInbox(keep300(), box))
	if !again.Connack().SessionPresent {
		t.Fatal("session not present after its node was lost")
	}
	if m := box.wait(t, 1); string(m[0].Payload) != "m1" {
		t.Fatalf("got %s", m[0].Payload)
	}
}

// A node taken as lost and back in reach before its sessions were taken
// over keeps them: what it did not answer meanwhile may have missed
// those of them that want it (read from the replicas), and no others.
func TestNodeBackBeforeTakeOver(t *testing.T) {
	tc := replicatedCluster(t)
	n1, n3 := tc.members[0], tc.members[2]
	dev := connect(t, n1, "dev", keep300())
	subscribe(t, dev, "cmd/#", 1)
	subscribe(t, connect(t, n1, "clean", client.Options{}), "tele/#", 1)
	n := n3.node
	n.mu.Lock()
	n.lostLocked(n.peers["n1"]) // n2's to take over
	n.backLocked("n1")
	n.mu.Unlock()
	if !n.lostMayHaveWanted("n1", "cmd/x") {
		t.Error("a message the node back's persistent session wants is taken as delivered")
	}
	if n.lostMayHaveWanted("n1", "tele/x") {
		t.Error("a message only the node back's clean session wants is taken as missed")
	}
	if err := n.waitAdoptions(); err != nil || n.takingOver.Load() != 0 {
		t.Fatalf("the take-over of the node back is still waited for: %v", err)
	}
}

// A node lost before the replicas were first made had no persistent
// session to take over: a message it did not answer is acknowledged
// (its clean sessions went with it), not refused for want of a
// take-over that cannot be done.
func TestNodeLostBeforeReplicas(t *testing.T) {
	hold := make(chan struct{})
	testHookOpen = func(n *Node) {
		select {
		case <-hold:
		case <-n.stop: // closed without replicas
		}
	}
	t.Cleanup(func() { testHookOpen = nil })
	drop := dropAtN1(t)
	tc := routed3(t)
	for i := range 3 {
		tc.add(fmt.Sprintf("n%d", i+1), nil)
	}
	t.Cleanup(func() { close(hold) }) // before the nodes are closed
	tc.waitFormed()
	n1, n3 := tc.members[0], tc.members[2]
	subscribe(t, connect(t, n1, "clean", client.Options{}), "tele/#", 1)
	pub := connect(t, n3, "pub", client.Options{})
	drop.on.Store(true)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := pub.Publish(ctx, &client.Message{Topic: "tele/x", Payload: []byte("m0"), QoS: 1})
		errc <- err
	}()
	drop.wait(t, 1) // n1 has it, unanswered
	n1.stop()
	if err := <-errc; err != nil {
		t.Fatalf("a message only the lost node's clean session wanted: %v", err)
	}
	for _, m := range tc.members[1:] {
		select {
		case <-m.node.rep.ready:
			t.Fatalf("node %s made the replicas: the test did not lose n1 before them", m.name)
		default:
		}
	}
}

// A node back while another is taking its sessions over waits for the
// take-over to finish before it reads its records: the session the other
// node took ends on the node back, which held it from its own store, so
// that one node alone holds it.
func TestNodeBackDuringTakeOver(t *testing.T) {
	reached, release := holdTakeOvers(t)
	own := store.NewMemory()
	tc := replicatedCluster(t, own)
	t.Cleanup(release) // before the nodes are closed
	n1, n2 := tc.members[0], tc.members[1]
	leaveSession(t, n1)
	n1.stop()
	select {
	case <-reached: // n2 wrote its marker, the records are still there
	case <-time.After(30 * time.Second):
		t.Fatal("n2 did not start taking over n1's sessions")
	}
	back := restartN1(t, tc, own)
	deadline := time.Now().Add(30 * time.Second)
	for len(back.node.Peers()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the node back sees %v", back.node.Peers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Long enough for the node back to have read its records, had it
	// not waited.
	time.Sleep(2 * time.Second)
	release()
	waitSession(t, n2, "dev")
	waitMoved(t, back, n2, deadline, "the node back and n2 both hold the session")
}

// holdTakeOvers holds every take-over once its node has written its
// marker (testHookTakeOver), until release is called or the node stops;
// reached gets a value when one is first held. The test calls release in
// a cleanup registered after its nodes', so that it runs first.
func holdTakeOvers(t *testing.T) (reached <-chan struct{}, release func()) {
	hold, at := make(chan struct{}), make(chan struct{}, 1)
	testHookTakeOver = func(n *Node, lost string) {
		select {
		case at <- struct{}{}:
		default:
		}
		select {
		case <-hold:
		case <-n.stop:
		}
	}
	t.Cleanup(func() { testHookTakeOver = nil })
	return at, sync.OnceFunc(func() { close(hold) })
}

// leaveSession connects dev to m, subscribes it to cmd/# at QoS 1 and
// disconnects it, its session kept.
func leaveSession(t *testing.T, m *member) {
	t.Helper()
	dev := connect(t, m, "dev", keep300())
	subscribe(t, dev, "cmd/#", 1)
	if err := dev.Disconnect(context.Background(), client.Success, nil); err != nil {
		t.Fatal(err)
	}
}

// restartN1 starts n1 again on its own store, which restores the session
// of dev.
func restartN1(t *testing.T, tc *testCluster, own store.Store) *member {
	t.Helper()
	back, err := tc.start("n1", tc.routes[0], own)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.srv.Session("dev"); !ok {
		t.Fatal("the session was not restored from the node's own store")
	}
	return back
}

// waitMoved waits until the node back ends the session of dev, which n2
// took over, and checks that n2 still holds it.
func waitMoved(t *testing.T, back, n2 *member, deadline time.Time, failure string) {
	t.Helper()
	for {
		if _, ok := back.srv.Session("dev"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(failure)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := n2.srv.Session("dev"); !ok {
		t.Fatal("n2 lost the session it took over")
	}
}

// Nothing is written to the replicas before every node in reach has its
// stream, or for three heartbeats after this node said it had its own: a
// node lost before it said so wrote nothing, which the node taking over
// its sessions then knows without asking JetStream. A persistent
// session's SUBACK on n1 waits while n3 has no stream, and comes once the
// three heartbeats (of a second here) have passed.
func TestWritesWaitForEveryNodesStream(t *testing.T) {
	hold := make(chan struct{})
	testHookOpen = func(n *Node) {
		if n.self != "n3" {
			return
		}
		select {
		case <-hold:
		case <-n.stop:
		}
	}
	t.Cleanup(func() { testHookOpen = nil })
	tc := routed3(t)
	tc.heartbeat = time.Second
	for i := range 3 {
		tc.add(fmt.Sprintf("n%d", i+1), nil)
	}
	t.Cleanup(func() { close(hold) }) // before the nodes are closed
	tc.waitFormed()
	n1 := tc.members[0]
	select {
	case <-n1.node.rep.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("n1: no stream")
	}
	dev := connect(t, n1, "dev", keep300())
	type result struct {
		ack *client.Suback
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ack, err := dev.Subscribe(ctx, nil, client.Subscription{Filter: "cmd/#", QoS: 1})
		done <- result{ack, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("SUBACK before n3 had its stream: %+v", r)
	case <-time.After(time.Second):
	}
	r := <-done
	if r.err != nil || len(r.ack.ReasonCodes) != 1 || r.ack.ReasonCodes[0] != client.GrantedQoS1 {
		t.Fatalf("SUBACK %+v, %v", r.ack, r.err)
	}
	waitRecords(t, n1, "n1", 1)
	select {
	case <-n1.node.rep.writable:
	default:
		t.Fatal("writable not closed")
	}
	if tc.members[2].node.rep.isReady() {
		t.Fatal("n3 made its stream: the test did not hold it back")
	}
}
