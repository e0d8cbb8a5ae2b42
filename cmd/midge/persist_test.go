package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
