//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/store/mosqdb"
)

// retainedTopics returns the retained topics under probe/# a fresh
// subscriber gets, waiting briefly for them.
func retainedTopics(t *testing.T, addr string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan *client.Message, 16)
	c, err := client.Connect(ctx, client.Options{Address: addr, ClientID: "probe",
		OnMessage: func(_ *client.Client, m *client.Message) { got <- m }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(ctx, nil, client.Subscription{Filter: "probe/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	// A marker published after SUBACK comes back after the retained
	// messages, which the broker sends with the subscription.
	if _, err := c.Publish(ctx, &client.Message{Topic: "probe/end", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for {
		select {
		case m := <-got:
			if m.Topic == "probe/end" && !m.Retain {
				return out
			}
			out[m.Topic] = string(m.Payload)
		case <-ctx.Done():
			t.Fatalf("marker not received; got %v", out)
		}
	}
}

func publishRetained(t *testing.T, addr, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Options{Address: addr, ClientID: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Publish(ctx, &client.Message{Topic: topic, Payload: []byte(payload), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
}

// TestPersistenceFileAnchorsTheStore: the persistence file is the state's
// identity, as with Mosquitto. A new store gets an (empty) persistence file
// in Mosquitto's format; removing that file resets the state; a file
// rewritten by another broker is imported in place of the store.
func TestPersistenceFileAnchorsTheStore(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true", "persistence true",
		"persistence_location "+dir+"/", "user root")
	dbPath := filepath.Join(dir, "mosquitto.db")

	cmd, _ := startMidge(t, "midge", "-c", conf)
	db, err := mosqdb.ReadFile(dbPath)
	if err != nil {
		t.Fatalf("no persistence file in Mosquitto's format after the first start: %v", err)
	}
	if len(db.Sessions)+len(db.Retained) != 0 {
		t.Fatalf("the new persistence file holds %+v", db)
	}
	publishRetained(t, addr, "probe/a", "kept")
	stopMidge(t, cmd.Process.Pid, cmd.Wait)

	// Restarted with the file in place: the state is back.
	cmd, _ = startMidge(t, "midge", "-c", conf)
	if got := retainedTopics(t, addr); got["probe/a"] != "kept" {
		t.Fatalf("after a restart: %v", got)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)

	// The file removed: an empty start, the old store kept aside.
	if err := os.Remove(dbPath); err != nil {
		t.Fatal(err)
	}
	cmd, log := startMidge(t, "midge", "-c", conf)
	if got := retainedTopics(t, addr); len(got) != 0 {
		t.Fatalf("after removing %s: %v", dbPath, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.db.midge.old")); err != nil {
		t.Fatalf("the previous store was not kept: %v\n%s", err, log)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("no new persistence file: %v", err)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)

	// Another broker saved its state in the file: that state is imported.
	var buf bytes.Buffer
	if err := mosqdb.Write(&buf, &mosqdb.DB{Retained: []store.Message{{Topic: "probe/b", Payload: []byte("from mosquitto"), Retain: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dbPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, _ = startMidge(t, "midge", "-c", conf)
	if got := retainedTopics(t, addr); len(got) != 1 || got["probe/b"] != "from mosquitto" {
		t.Fatalf("after another broker wrote %s: %v", dbPath, got)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}
