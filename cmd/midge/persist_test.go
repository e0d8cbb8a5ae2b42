//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// TestRetainedSurviveKill publishes retained messages, kills the broker
// with SIGKILL as soon as they are acknowledged, and finds them all after
// a restart.
func TestRetainedSurviveKill(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true", "persistence true",
		"persistence_location "+dir+"/", "user root")
	cmd, _ := startMidge(t, "midge", "-c", conf)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	pub, err := client.Connect(ctx, client.Options{Address: addr, ClientID: "pub", ProtocolVersion: client.MQTT5})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		qos := byte(1 + i%2)
		if _, err := pub.Publish(ctx, &client.Message{Topic: fmt.Sprintf("keep/%d", i), Payload: []byte(fmt.Sprint(i)), QoS: qos, Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL right after the last acknowledgement
		t.Fatal(err)
	}
	cmd.Wait()
	pub.Close()

	cmd2, _ := startMidge(t, "midge", "-c", conf)
	got := make(chan string, n)
	sub, err := client.Connect(ctx, client.Options{Address: addr, ClientID: "sub",
		OnMessage: func(_ *client.Client, m *client.Message) { got <- m.Topic + "=" + string(m.Payload) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(ctx, nil, client.Subscription{Filter: "keep/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case m := <-got:
			seen[m] = true
		case <-ctx.Done():
			t.Fatalf("after the restart %d of %d retained messages came back", len(seen), n)
		}
	}
	for i := range n {
		if !seen[fmt.Sprintf("keep/%d=%d", i, i)] {
			t.Fatalf("keep/%d missing", i)
		}
	}
	stopMidge(t, cmd2.Process.Pid, cmd2.Wait)
}

// TestCorruptStoreStopsTheStart: never start empty over data that cannot
// be read.
func TestCorruptStoreStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "mosquitto.db.midge")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(storeDir, "CURRENT"), []byte("garbage\n"), 0o600)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", freePort(t)), "persistence true", "persistence_location "+dir+"/", "user root")
	cmd := midgeCmd(t, "midge", "-c", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("started over a corrupt store")
	}
	if !strings.Contains(stderr.String(), storeDir) {
		t.Fatalf("the error does not name the store:\n%s", stderr.String())
	}
}

// TestStoreOwnedByUser: started as root with persistence, the broker drops
// to its user before creating the store, so that the store stays writable.
func TestStoreOwnedByUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// Not under t.TempDir: its parent is private to root, and the user
	// must be able to reach the directory.
	dir, err := os.MkdirTemp("", "midge-store-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", freePort(t)), "persistence true", "persistence_location "+dir+"/", "user nobody")
	cmd, _ := startMidge(t, "midge", "-c", conf)
	info, err := os.Stat(filepath.Join(dir, "mosquitto.db.midge"))
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || st.Uid == 0 {
		t.Fatalf("the store is owned by uid %v, want the unprivileged user", info.Sys())
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}

// TestSessionsSurviveKill is the durability acceptance test: QoS 1 and
// QoS 2 traffic to offline persistent sessions, SIGKILL in the middle of
// it, a restart, and then every acknowledged message reaches every
// session (QoS 2 exactly once), along with the subscriptions. It holds
// with persistence_sync interval too: with a 1 s interval the kill comes
// before most fsyncs, and the operating system still has every write.
func TestSessionsSurviveKill(t *testing.T) {
	for _, mode := range []string{"always", "interval 1000"} {
		t.Run(strings.ReplaceAll(mode, " ", "_"), func(t *testing.T) { sessionsSurviveKill(t, mode) })
	}
}

func sessionsSurviveKill(t *testing.T, syncMode string) {
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true", "persistence true",
		"persistence_location "+dir+"/", "user root", "max_queued_messages 0", "persistence_sync "+syncMode)
	cmd, log := startMidge(t, "midge", "-c", conf)
	defer func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", log.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	type subscriber struct {
		opts client.Options
		qos  byte
	}
	subs := []subscriber{
		{client.Options{Address: addr, ClientID: "sub311", KeepSession: true}, 2},
		{client.Options{Address: addr, ClientID: "sub5", KeepSession: true, ProtocolVersion: client.MQTT5}, 2},
		{client.Options{Address: addr, ClientID: "sub311q1", KeepSession: true}, 1},
	}
	subs[1].opts.Properties.SessionExpiry = 3600
	subs[1].opts.Properties.Set(client.PropSessionExpiry)
	for _, s := range subs {
		c, err := client.Connect(ctx, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subscribe(ctx, nil, client.Subscription{Filter: "load/#", QoS: s.qos}); err != nil {
			t.Fatal(err)
		}
		c.Close() // offline from here on
	}

	// Two publishers, QoS 1 and QoS 2, as fast as acknowledgements come;
	// the broker is killed while they run.
	acked := make([][]string, 3)
	var wg sync.WaitGroup
	for qos := byte(1); qos <= 2; qos++ {
		wg.Go(func() {
			pub, err := client.Connect(ctx, client.Options{Address: addr, ClientID: fmt.Sprintf("pub%d", qos), ProtocolVersion: client.MQTT5})
			if err != nil {
				t.Error(err)
				return
			}
			defer pub.Close()
			for i := 0; ; i++ {
				payload := fmt.Sprintf("q%d-%d", qos, i)
				if _, err := pub.Publish(ctx, &client.Message{Topic: fmt.Sprintf("load/%d", qos), Payload: []byte(payload), QoS: qos}); err != nil {
					return // the broker is gone
				}
				acked[qos] = append(acked[qos], payload)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond) // traffic, then the crash at an arbitrary point
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	t.Logf("acknowledged before SIGKILL: %d QoS 1, %d QoS 2", len(acked[1]), len(acked[2]))
	if len(acked[1]) == 0 || len(acked[2]) == 0 {
		t.Fatal("no traffic was acknowledged before the kill")
	}

	cmd2, _ := startMidge(t, "midge", "-c", conf)
	for _, s := range subs {
		var mu sync.Mutex
		count := map[string]int{}
		qos := map[string]byte{}
		s.opts.OnMessage = func(_ *client.Client, m *client.Message) {
			mu.Lock()
			count[string(m.Payload)]++
			qos[string(m.Payload)] = m.QoS
			mu.Unlock()
		}
		c, err := client.Connect(ctx, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Connack().SessionPresent {
			t.Fatalf("%s: session lost", s.opts.ClientID)
		}
		missing := func() string {
			mu.Lock()
			defer mu.Unlock()
			for _, list := range acked[1:] {
				for _, p := range list {
					if count[p] == 0 {
						return p
					}
				}
			}
			return ""
		}
		for m := missing(); m != ""; m = missing() {
			if ctx.Err() != nil {
				t.Fatalf("%s: acknowledged message %s never arrived", s.opts.ClientID, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The subscription came back too: a new message is routed to it.
		pub, err := client.Connect(ctx, client.Options{Address: addr, ClientID: "after"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(ctx, &client.Message{Topic: "load/after", Payload: []byte("after-" + s.opts.ClientID), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		pub.Close()
		for {
			mu.Lock()
			n := count["after-"+s.opts.ClientID]
			mu.Unlock()
			if n > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: subscription lost", s.opts.ClientID)
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.Close()
		mu.Lock()
		for p, n := range count {
			if qos[p] == 2 && n != 1 {
				t.Errorf("%s: QoS 2 message %s delivered %d times", s.opts.ClientID, p, n)
			}
		}
		mu.Unlock()
	}
	stopMidge(t, cmd2.Process.Pid, cmd2.Wait)
}
