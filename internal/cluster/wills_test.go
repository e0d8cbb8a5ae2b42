package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// crash stops m as a killed process would: its NATS server goes first, so
// that it says nothing more to the others, who take it as lost when its
// heartbeats stop.
func (m *member) crash() {
	m.node.ns.Shutdown()
	m.node.ns.WaitForShutdown()
	m.stop()
}

// waitLost waits until every other running node has taken m as lost.
func (tc *testCluster) waitLost(t *testing.T, m *member) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, o := range tc.members {
		if o == m {
			continue
		}
		for slices.Contains(o.node.Peers(), m.name) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still counts %s in", o.name, m.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func willOf(topic string, delay uint32) client.Options {
	o := client.Options{Will: &client.Will{Topic: topic, Payload: []byte("gone"), QoS: 1}}
	if delay > 0 {
		o.Will.Properties.WillDelay = delay
		o.Will.Properties.Set(client.PropWillDelay)
		o.Properties.SessionExpiry = 300
		o.Properties.Set(client.PropSessionExpiry)
	}
	return o
}

// The wills of the clients of a node that is lost are published once, by
// one of the others; a will whose delay has not passed when its client
// connects again elsewhere is deleted; the will of a client that
// disconnected normally is not published; and a node that stops
// publishes its clients' wills itself, once.
func TestWillsOfLostNode(t *testing.T) {
	tc := newCluster(t, 3)
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	box := newInbox()
	watcher := connect(t, n2, "watcher", withInbox(client.Options{}, box))
	subscribe(t, watcher, "will/#", 1)

	connect(t, n3, "plain", willOf("will/plain", 0))
	connect(t, n3, "delayed", willOf("will/delayed", 1))
	connect(t, n3, "back", willOf("will/back", 3))
	polite := connect(t, n3, "polite", willOf("will/polite", 0))
	if err := polite.Disconnect(t.Context(), client.Success, nil); err != nil {
		t.Fatal(err)
	}
	connect(t, n1, "on-n1", willOf("will/n1", 0))
	time.Sleep(200 * time.Millisecond) // the wills and their removal reach the others

	start := time.Now()
	n3.crash()
	tc.waitLost(t, n3)
	// "back" connects again, to n1, within its will's delay.
	connect(t, n1, "back", client.Options{})
	got := box.wait(t, 2)
	topics := []string{got[0].Topic, got[1].Topic}
	if !slices.Equal(topics, []string{"will/plain", "will/delayed"}) {
		t.Fatalf("wills published: %v, want will/plain then will/delayed", topics)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the delayed will came %v after the loss, before its 1 s delay", d)
	}
	time.Sleep(3500 * time.Millisecond) // past "back"'s delay
	if n := box.count(); n != 2 {
		b := box.wait(t, n)
		t.Fatalf("%d wills published, want 2 (the last %s)", n, b[n-1].Topic)
	}

	// n1 stops: it publishes its client's will itself, and n2 does not
	// publish it again.
	n1.stop()
	tc.waitLost(t, n1)
	time.Sleep(500 * time.Millisecond)
	if got := box.wait(t, 3); got[2].Topic != "will/n1" || box.count() != 3 {
		t.Fatalf("after n1 stopped: %d messages, the third %s", box.count(), got[2].Topic)
	}
}

// A QoS 1 will of a lost node's client waits for the take-over of that
// node's sessions for as long as it takes, not only for the request
// timeout a client's message waits: it has no publisher to be refused to,
// and dropped it would be lost.
func TestWillWaitsForSlowTakeOver(t *testing.T) {
	_, release := holdTakeOvers(t)
	tc := routed3(t)
	tc.timeout = 4 * time.Second
	tc.startReplicated()
	t.Cleanup(release) // before the nodes are closed
	n1, n3 := tc.members[0], tc.members[2]
	box := newInbox()
	watcher := connect(t, n1, "watcher", withInbox(client.Options{}, box))
	subscribe(t, watcher, "will/#", 1)
	connect(t, n3, "dev", willOf("will/dev", 0))
	time.Sleep(200 * time.Millisecond) // the will reaches the others
	n3.crash()
	tc.waitLost(t, n3)
	// Past the request timeout, with the take-over held.
	time.Sleep(tc.timeout + time.Second)
	if n := box.count(); n != 0 {
		t.Fatalf("%d messages before the take-over was done", n)
	}
	release()
	if got := box.wait(t, 1); got[0].Topic != "will/dev" {
		t.Fatalf("got %s, want the will of dev", got[0].Topic)
	}
	time.Sleep(500 * time.Millisecond)
	if n := box.count(); n != 1 {
		t.Fatalf("%d messages, want the will once", n)
	}
}
