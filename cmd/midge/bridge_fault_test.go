//go:build unix

package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// Bridges between midge and mosquitto through crashes: either broker
// killed with SIGKILL in the middle of a stream, or while messages wait
// for the remote, and restarted on the same files. Every message a
// publisher had acknowledged must arrive; QoS 1 allows duplicates, which
// are counted. Each test logs its figures as `bridge-fault: ...` lines.

// faultStreamLen is the length of the numbered QoS 1 streams.
const faultStreamLen = 2000

// durableMosquitto is the configuration of a mosquitto remote whose
// subscriber must lose nothing: with persistence, so that the
// subscriber's saved session comes back after a crash, and with no
// limit on in-flight or queued messages, so that mosquitto writes each
// message to its subscriber before it acknowledges it to the bridge (what
// it loses in a crash is then only what it never acknowledged).
func durableMosquitto(port int, dir string) string {
	return strings.Join([]string{
		fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true",
		"persistence true", "persistence_location " + dir + "/",
		"max_inflight_messages 0", "max_queued_messages 0",
	}, "\n") + "\n"
}

// saveSession makes a persistent session for id subscribed to filter at
// QoS 1 on mosquitto and stops mosquitto, which saves it: a mosquitto
// started again, or restarted after SIGKILL, has it.
func saveSession(t *testing.T, mosq *testtool.MosquittoProcess, addr, id, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	c, err := client.Connect(ctx, client.Options{Address: addr, ClientID: id, KeepSession: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, nil, client.Subscription{Filter: filter, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	mosq.Stop()
}

// durableSubscriber connects id with its persistent session, reconnecting
// quickly after a crash of its broker.
func durableSubscriber(t *testing.T, addr, id string, subs ...client.Subscription) *recorder {
	t.Helper()
	return record(t, addr, client.Options{ClientID: id, KeepSession: true,
		AutoReconnect: true, ReconnectDelay: 50 * time.Millisecond, MaxReconnectDelay: 200 * time.Millisecond}, subs...)
}

// faultBrokers is the start of every fault test: a mosquitto that keeps
// its sessions on disk (its log shown if the test fails), and the port
// and address midge is to listen on.
func faultBrokers(t *testing.T) (mosq *testtool.MosquittoProcess, mosqAddr string, midgePort int, midgeAddr string) {
	t.Helper()
	testtool.Need(t, "mosquitto")
	checkDropinLeaks(t)
	mosqPort := testtool.ListenPort(t)
	midgePort = testtool.ListenPort(t)
	mosqAddr, midgeAddr = fmt.Sprintf("127.0.0.1:%d", mosqPort), fmt.Sprintf("127.0.0.1:%d", midgePort)
	mosq = testtool.StartMosquitto(t, durableMosquitto(mosqPort, t.TempDir()))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", mosq.Log())
		}
	})
	return mosq, mosqAddr, midgePort, midgeAddr
}

// reportFault waits for the stream at rec and logs and checks its loss
// and duplicate counts. "Lost" means not arrived within bridgeWait; on
// failure figures, if not nil, says what midge's bridge reports (a
// message still in flight there was held up, not dropped).
func reportFault(t *testing.T, name string, rec *recorder, stream string, acked int, extra string, figures func() string) {
	t.Helper()
	rec.awaitStream(stream, acked)
	lost, dup, first := rec.lostAndDuplicated(stream, acked)
	t.Logf("bridge-fault: %s acked=%d lost=%d dup=%d%s", name, acked, lost, dup, extra)
	if lost > 0 {
		msg := fmt.Sprintf("%d of %d acknowledged messages did not arrive within %v, the first %s", lost, acked, bridgeWait, first)
		if figures != nil {
			msg += "; midge's bridge figures:" + figures()
		}
		t.Error(msg)
	}
	if n := rec.sessionsLost.Load(); n > 0 {
		t.Errorf("%s found no session %d times after reconnecting", rec.name, n)
	}
}

// TestBridgeRemoteKilledMidStream: midge bridges a QoS 1 stream out to
// mosquitto, which hangs (SIGSTOP) in the middle of it, so that the
// bridge's window of messages is sent and unacknowledged, then is killed
// with SIGKILL and restarted. The bridge reconnects and sends again what mosquitto had not
// acknowledged, and the messages published meanwhile; the subscriber on
// mosquitto gets every message.
func TestBridgeRemoteKilledMidStream(t *testing.T) {
	mosq, mosqAddr, midgePort, midgeAddr := faultBrokers(t)
	saveSession(t, mosq, mosqAddr, "far-sub", "ro/#")
	mosq.Start()
	sub := durableSubscriber(t, mosqAddr, "far-sub")
	if !sub.c.Connack().SessionPresent {
		t.Fatal("mosquitto did not keep the subscriber's session")
	}

	m := runMidge(t, fmt.Sprintf("listener %d 127.0.0.1", midgePort), "allow_anonymous true", "max_queued_messages 0", "sys_interval 1",
		"connection crash", "address "+mosqAddr, "remote_clientid interop-crash", "restart_timeout 1",
		"topic o/# out 1 lo/ ro/")
	pub := publisher(t, midgeAddr, "near-pub")
	awaitRoutes(t, probe{pub: pub, topic: "lo/o/probe", want: "ro/o/probe", rec: sub})

	crashMidStream(t, "remote-killed", "midge", pub, "lo/o/stream", "out", sub, func() {
		// mosquitto hangs for a moment, with the bridge's window of
		// messages sent and unacknowledged, then dies.
		if err := mosq.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		mosq.Kill()
	}, mosq.Start, midgeAddr, "crash")
	if !strings.Contains(m.log(), "Bridge crash: connection lost") {
		t.Errorf("midge did not see the connection go")
	}
}

// TestBridgeQueueSurvivesMidgeKill: midge, with persistence, takes QoS 1
// messages for a bridge whose remote is down, is killed with SIGKILL
// right after acknowledging the last one, and restarted on the same
// files; once mosquitto is up every message reaches its subscriber.
func TestBridgeQueueSurvivesMidgeKill(t *testing.T) {
	mosq, mosqAddr, midgePort, midgeAddr := faultBrokers(t)
	saveSession(t, mosq, mosqAddr, "far-sub", "ro/#") // and mosquitto stays down

	m := runMidge(t, fmt.Sprintf("listener %d 127.0.0.1", midgePort), "allow_anonymous true", "max_queued_messages 0", "sys_interval 1",
		"persistence true", "persistence_location "+t.TempDir()+"/",
		"connection queue", "address "+mosqAddr, "remote_clientid interop-queue", "restart_timeout 1",
		"topic o/# out 1 lo/ ro/")
	// The bridge's local state "0" comes after its local subscriptions:
	// from then on what is published here is queued for the remote.
	state := record(t, midgeAddr, client.Options{ClientID: "state"}, client.Subscription{Filter: "$SYS/broker/connection/interop-queue/state", QoS: 1})
	state.waitFor(t, "the bridge's local state", func(_ []received, copies map[string]int) bool { return copies["0"] > 0 })
	waitLog(t, "midge", m.log, "Unable to connect to bridge queue", 1)

	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	pub := publisher(t, midgeAddr, "near-pub")
	const stream = "queued"
	acked, err := publishStream(ctx, pub, "lo/o/stream", stream, faultStreamLen, 100)
	if err != nil {
		t.Fatalf("midge acknowledged %d messages, then: %v", acked, err)
	}
	m.kill()
	m.start()
	mosq.Start()
	sub := durableSubscriber(t, mosqAddr, "far-sub")
	if !sub.c.Connack().SessionPresent {
		t.Fatal("mosquitto did not keep the subscriber's session")
	}
	reportFault(t, "midge-killed-queued", sub, stream, acked, "", func() string { return bridgeFigures(t, midgeAddr, "queue") })
}

// TestBridgeMidgeKilledMidInStream: mosquitto publishes a QoS 1 stream
// that midge's bridge brings in to a subscriber with a persistent
// session; midge, with persistence, is killed with SIGKILL in the middle
// of it and restarted. mosquitto keeps the bridge's session and sends
// again what the bridge had not acknowledged; the subscriber on midge
// gets every message.
func TestBridgeMidgeKilledMidInStream(t *testing.T) {
	testtool.Need(t, "mosquitto")
	checkDropinLeaks(t)
	mosqPort, midgePort := testtool.ListenPort(t), testtool.ListenPort(t)
	mosqAddr, midgeAddr := fmt.Sprintf("127.0.0.1:%d", mosqPort), fmt.Sprintf("127.0.0.1:%d", midgePort)
	mosq := testtool.StartMosquitto(t, strings.Join([]string{
		fmt.Sprintf("listener %d 127.0.0.1", mosqPort), "allow_anonymous true",
		"max_inflight_messages 0", "max_queued_messages 0"}, "\n")+"\n")
	defer func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", mosq.Log())
		}
	}()
	m := runMidge(t, fmt.Sprintf("listener %d 127.0.0.1", midgePort), "allow_anonymous true", "max_queued_messages 0", "sys_interval 1",
		"persistence true", "persistence_location "+t.TempDir()+"/",
		"connection inward", "address "+mosqAddr, "remote_clientid interop-inward", "restart_timeout 1",
		"topic i/# in 1 li/ ri/")
	sub := durableSubscriber(t, midgeAddr, "near-sub", client.Subscription{Filter: "li/#", QoS: 1})
	pub := publisher(t, mosqAddr, "far-pub")
	awaitRoutes(t, probe{pub: pub, topic: "ri/i/probe", want: "li/i/probe", rec: sub})

	crashMidStream(t, "midge-killed-in", "mosquitto", pub, "ri/i/stream", "in", sub, m.kill, m.start, midgeAddr, "inward")
}

// crashMidStream publishes a stream of faultStreamLen QoS 1 messages with
// pub (connected to the broker named by acker) to topic, runs crash once
// sub has a quarter of them and restart after it, then reports what sub
// got as the fault name, with the figures of the bridge called bridge of
// the midge at midgeAddr if messages are missing.
func crashMidStream(t *testing.T, name, acker string, pub *client.Client, topic, stream string, sub *recorder, crash, restart func(), midgeAddr, bridge string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	type result struct {
		acked int
		err   error
	}
	published := make(chan result, 1)
	go func() {
		acked, err := publishStream(ctx, pub, topic, stream, faultStreamLen, 20)
		published <- result{acked, err}
	}()
	sub.waitFor(t, "a quarter of the stream", func(_ []received, copies map[string]int) bool {
		return streamCount(copies, stream) >= faultStreamLen/4
	})
	crash()
	_, copies := sub.snapshot()
	atKill := streamCount(copies, stream)
	restart()
	r := <-published
	if r.err != nil {
		t.Fatalf("%s acknowledged %d messages, then: %v", acker, r.acked, r.err)
	}
	if atKill >= faultStreamLen {
		t.Fatalf("the whole stream was through before the kill")
	}
	reportFault(t, name, sub, stream, r.acked, fmt.Sprintf(" received-before-kill=%d", atKill),
		func() string { return bridgeFigures(t, midgeAddr, bridge) })
}

// TestBridgeFirstConnectionSendsWaitingMessages: messages published while
// a bridge's remote is down wait for the bridge's first connection, and
// go out once it is up. The moment that connection comes up, with a
// message waiting for it, is when a bridge could miss the news that it is
// up (its first connection's OnConnect ran before the bridge recorded the
// client): 64 bridges to the same mosquitto, one message waiting in each,
// make that moment happen 64 times. A bridge that misses it shows as
// connected, with 1 message in flight and none sent.
func TestBridgeFirstConnectionSendsWaitingMessages(t *testing.T) {
	testtool.Need(t, "mosquitto")
	checkDropinLeaks(t)
	const bridges = 64
	mosqPort, midgePort := testtool.ListenPort(t), testtool.ListenPort(t)
	mosqAddr, midgeAddr := fmt.Sprintf("127.0.0.1:%d", mosqPort), fmt.Sprintf("127.0.0.1:%d", midgePort)
	mosq := testtool.StartMosquitto(t, durableMosquitto(mosqPort, t.TempDir()))
	defer func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", mosq.Log())
		}
	}()
	saveSession(t, mosq, mosqAddr, "far-sub", "w/#") // and mosquitto stays down

	conf := []string{fmt.Sprintf("listener %d 127.0.0.1", midgePort), "allow_anonymous true", "sys_interval 1"}
	for i := range bridges {
		conf = append(conf, fmt.Sprintf("connection w%d", i), "address "+mosqAddr,
			fmt.Sprintf("remote_clientid interop-wait-%d", i), "restart_timeout 1",
			fmt.Sprintf("topic w/%d out 1", i))
	}
	runMidge(t, conf...)
	// Each bridge's local state "0" comes after its local subscription.
	state := record(t, midgeAddr, client.Options{ClientID: "state"}, client.Subscription{Filter: "$SYS/broker/connection/+/state", QoS: 1})
	state.waitFor(t, "every bridge's local state", func(got []received, _ map[string]int) bool {
		down := map[string]bool{}
		for _, g := range got {
			if g.payload == "0" {
				down[g.topic] = true
			}
		}
		return len(down) == bridges
	})
	pub := publisher(t, midgeAddr, "near-pub")
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	for i := range bridges {
		if _, err := pub.Publish(ctx, &client.Message{Topic: fmt.Sprintf("w/%d", i), Payload: []byte(seqPayload("waiting", i)), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	mosq.Start()
	sub := durableSubscriber(t, mosqAddr, "far-sub")
	if !sub.awaitStream("waiting", bridges) {
		_, copies := sub.snapshot()
		var stalled []string
		for i := range bridges {
			if copies[seqPayload("waiting", i)] == 0 {
				stalled = append(stalled, fmt.Sprintf("w%d (figures:%s)", i, bridgeFigures(t, midgeAddr, fmt.Sprintf("w%d", i))))
			}
		}
		t.Errorf("bridges that never sent their waiting message: %v", stalled)
	}
}
