//go:build unix

package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/testpki"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// Bridges between midge and Debian's mosquitto, both real processes on
// loopback: midge holding the `connection` block with mosquitto as the
// remote, and mosquitto holding it with midge as the remote.

// bridgeRoute is one `topic` line of the interop matrix and the topics a
// message crosses between: base + "/from<side>/q<qos>" on each side, or
// the base itself for a route of one exact topic.
type bridgeRoute struct {
	name          string
	line          string
	local, remote string
	exact         bool
	out, in       bool
	qos           byte // the line's QoS, the highest a message crosses with
}

var interopRoutes = []bridgeRoute{
	{name: "out, both prefixes", line: "topic o/# out 2 lo/ ro/", local: "lo/o", remote: "ro/o", out: true, qos: 2},
	{name: "in, both prefixes", line: "topic i/# in 2 li/ ri/", local: "li/i", remote: "ri/i", in: true, qos: 2},
	{name: "both, both prefixes", line: "topic b/# both 2 lb/ rb/", local: "lb/b", remote: "rb/b", out: true, in: true, qos: 2},
	{name: "both, no prefixes", line: "topic p/# both 2", local: "p", remote: "p", out: true, in: true, qos: 2},
	{name: "out, empty remote prefix", line: `topic m/# out 2 lm/ ""`, local: "lm/m", remote: "m", out: true, qos: 2},
	{name: "in, empty local prefix", line: `topic n/# in 2 "" rn/`, local: "n", remote: "rn/n", in: true, qos: 2},
	{name: "out, empty pattern", line: `topic "" out 2 ex/local ex/remote`, local: "ex/local", remote: "ex/remote", exact: true, out: true, qos: 2},
	{name: "in, empty pattern", line: `topic "" in 2 ex/lin ex/rin`, local: "ex/lin", remote: "ex/rin", exact: true, in: true, qos: 2},
	{name: "both, QoS 1 at most", line: "topic c/# both 1 lc/ rc/", local: "lc/c", remote: "rc/c", out: true, in: true, qos: 1},
}

// Sides of a bridge: the broker that holds the `connection` block and
// the remote one.
const (
	localSide  = 0
	remoteSide = 1
)

var sideNames = [2]string{"local", "remote"}

// topicOn is the topic of the route on side for messages of QoS qos
// published on side from.
func (r bridgeRoute) topicOn(side, from int, qos byte) string {
	base := r.local
	if side == remoteSide {
		base = r.remote
	}
	if r.exact {
		return base
	}
	return fmt.Sprintf("%s/from%d/q%d", base, from, qos)
}

// crosses reports whether the route carries messages published on side.
func (r bridgeRoute) crosses(from int) bool {
	if from == localSide {
		return r.out
	}
	return r.in
}

// sent is a message published in the matrix.
type sent struct {
	route  bridgeRoute
	from   int
	topic  string
	qos    byte
	retain bool
}

// TestBridgeInteropMatrix bridges midge and mosquitto both ways round
// (each holding the `connection` block in turn, over MQTT 3.1.1 and 5)
// and sends QoS 0, 1 and 2 messages, retained and not, from each side on
// every kind of `topic` line: in, out and both, with both prefixes, none,
// an empty local or remote prefix, and an empty pattern. On each broker a
// subscriber to # must get every message exactly once — on its own side
// on the topic it was published on, on the other side (if the line
// carries it that way) on the remapped topic, at the QoS the line allows,
// with the retain flag as published — and nothing else: no echo back
// over the bridge, nothing against a line's direction. Then a new
// subscriber on each broker must find exactly the retained messages that
// were published there or crossed to it.
func TestBridgeInteropMatrix(t *testing.T) {
	testtool.Need(t, "mosquitto")
	checkDropinLeaks(t)
	for _, tc := range []struct {
		name       string
		midgeHolds bool
		version    string
	}{
		{"midge to mosquitto, MQTT 3.1.1", true, "mqttv311"},
		{"midge to mosquitto, MQTT 5", true, "mqttv50"},
		{"mosquitto to midge, MQTT 3.1.1", false, "mqttv311"},
		{"mosquitto to midge, MQTT 5", false, "mqttv50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			midgePort, mosqPort := testtool.ListenPort(t), testtool.ListenPort(t)
			remotePort := mosqPort
			if !tc.midgeHolds {
				remotePort = midgePort
			}
			block := []string{
				"connection interop",
				fmt.Sprintf("address 127.0.0.1:%d", remotePort),
				"bridge_protocol_version " + tc.version,
				"remote_clientid interop-bridge",
				"restart_timeout 1",
			}
			for _, r := range interopRoutes {
				block = append(block, r.line)
			}
			midgeConf := []string{fmt.Sprintf("listener %d 127.0.0.1", midgePort), "allow_anonymous true"}
			mosqConf := []string{fmt.Sprintf("listener %d 127.0.0.1", mosqPort), "allow_anonymous true"}
			var addr [2]string
			var mosq *testtool.MosquittoProcess
			if tc.midgeHolds {
				mosq = testtool.StartMosquitto(t, strings.Join(mosqConf, "\n")+"\n")
				runMidge(t, append(midgeConf, block...)...)
				addr = [2]string{fmt.Sprintf("127.0.0.1:%d", midgePort), fmt.Sprintf("127.0.0.1:%d", mosqPort)}
			} else {
				runMidge(t, midgeConf...)
				mosq = testtool.StartMosquitto(t, strings.Join(append(mosqConf, block...), "\n")+"\n")
				addr = [2]string{fmt.Sprintf("127.0.0.1:%d", mosqPort), fmt.Sprintf("127.0.0.1:%d", midgePort)}
			}
			defer func() {
				if t.Failed() {
					t.Logf("mosquitto log:\n%s", mosq.Log())
				}
			}()
			runInteropMatrix(t, addr)
		})
	}
}

// runInteropMatrix plays the matrix on a bridged pair: addr[localSide]
// holds the `connection` block of interopRoutes, addr[remoteSide] is its
// remote.
func runInteropMatrix(t *testing.T, addr [2]string) {
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	var recs [2]*recorder
	var pubs [2]*client.Client
	for side := range 2 {
		recs[side] = record(t, addr[side], client.Options{ClientID: "all-" + sideNames[side], ProtocolVersion: client.MQTT5},
			client.Subscription{Filter: "#", QoS: 2})
		pubs[side] = publisher(t, addr[side], "pub-"+sideNames[side])
	}

	// Every route the bridge carries, each way it carries it.
	var probes []probe
	for _, r := range interopRoutes {
		for from := range 2 {
			if r.crosses(from) {
				to := 1 - from
				probes = append(probes, probe{pub: pubs[from], topic: r.topicOn(from, from, 0), want: r.topicOn(to, from, 0), rec: recs[to]})
			}
		}
	}
	awaitRoutes(t, probes...)

	// From each side, on every route: QoS 0, 1 and 2, each once plain
	// and once retained where the route carries the message, plain only
	// against its direction (a retained message there would share its
	// topic with retained messages that crossed).
	msgs := map[string]sent{}
	for _, r := range interopRoutes {
		for from := range 2 {
			for qos := range byte(3) {
				for _, retain := range []bool{false, true} {
					if retain && !r.crosses(from) {
						continue
					}
					payload := fmt.Sprintf("%s|from %s|qos %d|retain %v", r.name, sideNames[from], qos, retain)
					m := sent{route: r, from: from, topic: r.topicOn(from, from, qos), qos: qos, retain: retain}
					msgs[payload] = m
					if _, err := pubs[from].Publish(ctx, &client.Message{Topic: m.topic, Payload: []byte(payload), QoS: qos, Retain: retain}); err != nil {
						t.Fatalf("publish %q: %v", payload, err)
					}
				}
			}
		}
	}

	// Wait for every copy due, then for a fence each way over the bridge:
	// an echo or a message against a line's direction would have come
	// before it.
	expected := func(side int, m sent) int {
		if side == m.from || m.route.crosses(m.from) {
			return 1
		}
		return 0
	}
	for side := range 2 {
		recs[side].waitFor(t, "every message due", func(_ []received, copies map[string]int) bool {
			for p, m := range msgs {
				if copies[p] < expected(side, m) {
					return false
				}
			}
			return true
		})
	}
	fence := interopRoutes[2] // both ways, both prefixes
	for from := range 2 {
		payload := "fence from " + sideNames[from]
		if _, err := pubs[from].Publish(ctx, &client.Message{Topic: fence.topicOn(from, from, 2), Payload: []byte(payload), QoS: 2}); err != nil {
			t.Fatal(err)
		}
		recs[1-from].waitFor(t, payload, func(_ []received, copies map[string]int) bool { return copies[payload] > 0 })
	}

	for side := range 2 {
		got, copies := recs[side].snapshot()
		for p, m := range msgs {
			if n, want := copies[p], expected(side, m); n != want {
				t.Errorf("%s broker: %q arrived %d times, want %d", sideNames[side], p, n, want)
			}
		}
		for _, g := range got {
			m, ok := msgs[g.payload]
			if !ok {
				if !isProbe(g) && !strings.HasPrefix(g.payload, "fence ") {
					t.Errorf("%s broker: unexpected message %v", sideNames[side], g)
				}
				continue
			}
			want := received{topic: m.topic, payload: g.payload, qos: m.qos, retain: m.retain}
			if side != m.from {
				want.topic = m.route.topicOn(side, m.from, m.qos)
				want.qos = min(m.qos, m.route.qos)
			}
			if g != want {
				t.Errorf("%s broker: got %v, want %v", sideNames[side], g, want)
			}
		}
	}

	// The retained messages each broker holds now: the last one on each
	// topic published there or that crossed to it.
	for side := range 2 {
		want := map[string]received{}
		for p, m := range msgs {
			if !m.retain {
				continue
			}
			r := received{topic: m.topic, payload: p, qos: m.qos, retain: true}
			if side != m.from {
				r.topic, r.qos = m.route.topicOn(side, m.from, m.qos), min(m.qos, m.route.qos)
			}
			// The last published on a topic: QoS 2 (routes of one exact
			// topic only carry one way, from one publisher, in order).
			if old, ok := want[r.topic]; !ok || msgs[old.payload].qos < m.qos {
				want[r.topic] = r
			}
		}
		late := record(t, addr[side], client.Options{ClientID: "late-" + sideNames[side], ProtocolVersion: client.MQTT5},
			client.Subscription{Filter: "#", QoS: 2})
		// Every retained message due first, then a fence for any extra
		// (the client may hand a QoS 2 message over after a later QoS 1
		// one: on PUBREL).
		late.waitFor(t, "the retained messages", func(got []received, _ map[string]int) bool {
			seen := map[string]bool{}
			for _, g := range got {
				seen[g.topic] = true
			}
			for tp := range want {
				if !seen[tp] {
					return false
				}
			}
			return true
		})
		payload := "fence for late " + sideNames[side]
		if _, err := pubs[side].Publish(ctx, &client.Message{Topic: "late/fence", Payload: []byte(payload), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		late.waitFor(t, payload, func(_ []received, copies map[string]int) bool { return copies[payload] > 0 })
		got, _ := late.snapshot()
		var gotRetained []string
		for _, g := range got {
			if g.payload == payload {
				continue
			}
			gotRetained = append(gotRetained, g.topic)
			if w, ok := want[g.topic]; !ok || g != w {
				t.Errorf("%s broker: retained %v, want %v", sideNames[side], g, w)
			}
		}
		slices.Sort(gotRetained)
		if len(gotRetained) != len(want) {
			var wantTopics []string
			for tp := range want {
				wantTopics = append(wantTopics, tp)
			}
			slices.Sort(wantTopics)
			t.Errorf("%s broker: retained messages on %v, want one on each of %v", sideNames[side], gotRetained, wantTopics)
		}
	}
}

// relayBothWays waits for the bridge's route `topic t/# both 1 l/ r/`
// between the brokers at local (which holds the block) and remote, then
// sends a numbered stream of n QoS 1 messages each way and checks that
// every one arrives, once, on the remapped topic.
func relayBothWays(t *testing.T, local, remote string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	addr := [2]string{local, remote}
	prefix := [2]string{"l/", "r/"}
	var recs [2]*recorder
	var pubs [2]*client.Client
	for side := range 2 {
		recs[side] = record(t, addr[side], client.Options{ClientID: "relay-sub-" + sideNames[side]},
			client.Subscription{Filter: prefix[side] + "t/#", QoS: 1})
		pubs[side] = publisher(t, addr[side], "relay-pub-"+sideNames[side])
	}
	awaitRoutes(t,
		probe{pub: pubs[localSide], topic: "l/t/probe", want: "r/t/probe", rec: recs[remoteSide]},
		probe{pub: pubs[remoteSide], topic: "r/t/probe", want: "l/t/probe", rec: recs[localSide]})
	for from := range 2 {
		stream := "relay from " + sideNames[from]
		if _, err := publishStream(ctx, pubs[from], prefix[from]+"t/stream", stream, n, 20); err != nil {
			t.Fatalf("%s: %v", stream, err)
		}
		to := recs[1-from]
		to.waitStream(t, stream, n)
		if lost, dup, _ := to.lostAndDuplicated(stream, n); lost != 0 || dup != 0 {
			t.Errorf("%s: lost=%d dup=%d", stream, lost, dup)
		}
		got, _ := to.snapshot()
		for _, g := range got {
			if strings.HasPrefix(g.payload, stream) && (g.topic != prefix[1-from]+"t/stream" || g.qos != 1) {
				t.Errorf("%s: got %v, want it on %st/stream at QoS 1", stream, g, prefix[1-from])
			}
		}
	}
}

// TestBridgeTLS bridges over TLS listeners that require a client
// certificate: midge to mosquitto and mosquitto to midge with the right
// CA and a client certificate relay both ways; midge trusting another CA,
// or without a client certificate, never gets a connection, keeps
// trying, and goes on serving its own clients.
func TestBridgeTLS(t *testing.T) {
	testtool.Need(t, "mosquitto")
	checkDropinLeaks(t)
	ca := testpki.NewCA(t, "midge bridge test CA")
	server := ca.Issue("server", nil)
	bridgeCert := ca.Issue("bridge", func(c *x509.Certificate) {
		c.DNSNames, c.IPAddresses = nil, nil
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	otherCA := testpki.NewCA(t, "another CA")
	tlsListener := func(port int) []string {
		return []string{
			fmt.Sprintf("listener %d 127.0.0.1", port),
			"cafile " + ca.File, "certfile " + server.CertFile, "keyfile " + server.KeyFile,
			"require_certificate true",
		}
	}
	block := func(port int, tlsLines ...string) []string {
		return append([]string{
			"connection tls",
			fmt.Sprintf("address 127.0.0.1:%d", port),
			"remote_clientid interop-tls",
			"restart_timeout 1",
			"topic t/# both 1 l/ r/",
		}, tlsLines...)
	}
	verified := []string{"bridge_cafile " + ca.File, "bridge_certfile " + bridgeCert.CertFile, "bridge_keyfile " + bridgeCert.KeyFile}

	t.Run("midge to mosquitto", func(t *testing.T) {
		t.Parallel()
		plain, secure, local := testtool.ListenPort(t), testtool.ListenPort(t), testtool.ListenPort(t)
		mosq := testtool.StartMosquitto(t, strings.Join(append([]string{
			fmt.Sprintf("listener %d 127.0.0.1", plain), "allow_anonymous true"}, tlsListener(secure)...), "\n")+"\n")
		runMidge(t, append([]string{fmt.Sprintf("listener %d 127.0.0.1", local), "allow_anonymous true"}, block(secure, verified...)...)...)
		relayBothWays(t, fmt.Sprintf("127.0.0.1:%d", local), fmt.Sprintf("127.0.0.1:%d", plain), 50)
		if !strings.Contains(mosq.Log(), fmt.Sprintf("on port %d", secure)) {
			t.Errorf("the bridge did not come in on the TLS listener:\n%s", mosq.Log())
		}
	})

	t.Run("mosquitto to midge", func(t *testing.T) {
		t.Parallel()
		plain, secure, local := testtool.ListenPort(t), testtool.ListenPort(t), testtool.ListenPort(t)
		m := runMidge(t, append([]string{fmt.Sprintf("listener %d 127.0.0.1", plain), "allow_anonymous true"}, tlsListener(secure)...)...)
		mosq := testtool.StartMosquitto(t, strings.Join(append([]string{
			fmt.Sprintf("listener %d 127.0.0.1", local), "allow_anonymous true"}, block(secure, verified...)...), "\n")+"\n")
		defer func() {
			if t.Failed() {
				t.Logf("mosquitto log:\n%s", mosq.Log())
			}
		}()
		relayBothWays(t, fmt.Sprintf("127.0.0.1:%d", local), fmt.Sprintf("127.0.0.1:%d", plain), 50)
		if !strings.Contains(m.log(), fmt.Sprintf("on port %d", secure)) {
			t.Errorf("the bridge did not come in on the TLS listener")
		}
	})

	for _, bad := range []struct {
		name  string
		lines []string
		// why is what midge logs about the failed attempts, any one of.
		why []string
	}{
		{"unknown CA", []string{"bridge_cafile " + otherCA.File, "bridge_certfile " + bridgeCert.CertFile, "bridge_keyfile " + bridgeCert.KeyFile},
			[]string{"certificate signed by unknown authority"}},
		// TLS 1.3: the refusal comes after the client's handshake, as an alert
		// or, if mosquitto closed first, as a reset of the CONNECT.
		{"no client certificate", []string{"bridge_cafile " + ca.File}, []string{"tls: certificate required", "connection reset by peer"}},
	} {
		t.Run("midge to mosquitto, "+bad.name, func(t *testing.T) {
			t.Parallel()
			plain, secure, local := testtool.ListenPort(t), testtool.ListenPort(t), testtool.ListenPort(t)
			mosq := testtool.StartMosquitto(t, strings.Join(append([]string{
				fmt.Sprintf("listener %d 127.0.0.1", plain), "allow_anonymous true"}, tlsListener(secure)...), "\n")+"\n")
			remoteSub := record(t, fmt.Sprintf("127.0.0.1:%d", plain), client.Options{ClientID: "remote-sub"},
				client.Subscription{Filter: "#", QoS: 1})
			m := runMidge(t, append([]string{fmt.Sprintf("listener %d 127.0.0.1", local), "allow_anonymous true"}, block(secure, bad.lines...)...)...)
			localAddr := fmt.Sprintf("127.0.0.1:%d", local)
			pub := publisher(t, localAddr, "local-pub")
			ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
			defer cancel()
			if _, err := pub.Publish(ctx, &client.Message{Topic: "l/t/early", Payload: []byte("must not cross"), QoS: 1}); err != nil {
				t.Fatal(err)
			}
			// The first attempt at start, then at least two more a
			// second apart: it keeps failing and keeps trying.
			waitLog(t, "midge", m.log, "Unable to connect to bridge tls", 3)
			if !slices.ContainsFunc(bad.why, func(why string) bool { return strings.Contains(m.log(), why) }) {
				t.Errorf("the failures say none of %q", bad.why)
			}
			if strings.Contains(mosq.Log(), "as interop-tls") {
				t.Errorf("mosquitto accepted the bridge:\n%s", mosq.Log())
			}
			if !m.alive() {
				t.Fatal("midge exited")
			}
			// midge still serves its clients.
			localSub := record(t, localAddr, client.Options{ClientID: "local-sub"}, client.Subscription{Filter: "l/#", QoS: 1})
			if _, err := pub.Publish(ctx, &client.Message{Topic: "l/t/late", Payload: []byte("local only"), QoS: 1}); err != nil {
				t.Fatal(err)
			}
			localSub.waitFor(t, "a local message", func(_ []received, c map[string]int) bool { return c["local only"] == 1 })
			if got, _ := remoteSub.snapshot(); len(got) != 0 {
				t.Errorf("messages reached mosquitto without a bridge: %v", got)
			}
		})
	}
}

// TestBridgeAddedByReload starts midge without a bridge, with clients
// connected, then adds a `connection` block to its configuration file
// and sends SIGHUP: the bridge connects to mosquitto and relays both
// ways, and the clients connected before stay connected (their
// subscriptions still deliver).
func TestBridgeAddedByReload(t *testing.T) {
	testtool.Need(t, "mosquitto")
	checkDropinLeaks(t)
	mosqPort, midgePort := testtool.ListenPort(t), testtool.ListenPort(t)
	mosqAddr, midgeAddr := fmt.Sprintf("127.0.0.1:%d", mosqPort), fmt.Sprintf("127.0.0.1:%d", midgePort)
	mosq := testtool.StartMosquitto(t, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", mosqPort))
	defer func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", mosq.Log())
		}
	}()
	base := []string{fmt.Sprintf("listener %d 127.0.0.1", midgePort), "allow_anonymous true"}
	m := runMidge(t, base...)

	// Connected before the reload, without reconnection: a dropped
	// connection ends them.
	before := record(t, midgeAddr, client.Options{ClientID: "before-sub"}, client.Subscription{Filter: "l/#", QoS: 1})
	beforePub := publisher(t, midgeAddr, "before-pub")
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	if _, err := beforePub.Publish(ctx, &client.Message{Topic: "l/t/before", Payload: []byte("before the reload"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	before.waitFor(t, "a local message", func(_ []received, c map[string]int) bool { return c["before the reload"] == 1 })

	added := append(base,
		"connection added",
		"address "+mosqAddr,
		"remote_clientid interop-added",
		"restart_timeout 1",
		"topic t/# both 1 l/ r/")
	m.reload(added...)
	waitLog(t, "midge", m.log, "Connecting bridge added", 1)
	relayBothWays(t, midgeAddr, mosqAddr, 100)

	// A broken bridge block on the next reload: the error names the file
	// and line, and the bridges from before stay as they were.
	broken := append(append([]string(nil), added...), "connection broken", "address "+mosqAddr, "topic x in 7")
	m.reload(broken...)
	// reload writes "user root" first: the bad topic line is line
	// len(broken)+1.
	waitLog(t, "midge", m.log, fmt.Sprintf("Unable to reload config: %s:%d:", m.conf, len(broken)+1), 1)
	waitLog(t, "midge", m.log, "keeping the previous configuration", 1)
	if strings.Contains(m.log(), "bridge broken") {
		t.Errorf("the broken bridge was started")
	}
	if n := strings.Count(m.log(), "Connecting bridge added"); n != 1 {
		t.Errorf("bridge added connected %d times, want once: the failed reload touched it", n)
	}
	relayBothWays(t, midgeAddr, mosqAddr, 100)

	// The clients from before: still connected, and the subscriber gets
	// what comes in over the new bridge.
	remotePub := publisher(t, mosqAddr, "remote-pub")
	if _, err := remotePub.Publish(ctx, &client.Message{Topic: "r/t/after", Payload: []byte("over the new bridge"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	before.waitFor(t, "a message over the new bridge", func(_ []received, c map[string]int) bool { return c["over the new bridge"] == 1 })
	for _, c := range []*client.Client{before.c, beforePub} {
		select {
		case <-c.Done():
			t.Errorf("%s was disconnected by the reload: %v", c.ClientID(), c.Err())
		default:
		}
	}
	if _, err := beforePub.Publish(ctx, &client.Message{Topic: "l/t/after", Payload: []byte("after the reload"), QoS: 1}); err != nil {
		t.Errorf("publishing after the reload: %v", err)
	}
	for _, id := range []string{"before-sub", "before-pub"} {
		// Only the line of its connection names it.
		if n := strings.Count(m.log(), " "+id); n != 1 {
			t.Errorf("midge logged %s %d times, want only its connection", id, n)
		}
	}
}
