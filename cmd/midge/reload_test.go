//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/auth"
)

func writePasswords(t *testing.T, path string, users ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(users); i += 2 {
		h, err := auth.HashPassword(users[i+1], auth.AlgSHA512PBKDF2, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", users[i], h)
	}
	// Write and rename, as an editor or mosquitto_passwd would.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func dial(t *testing.T, port int, user, pass string, v byte) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Options{
		Address:         fmt.Sprintf("127.0.0.1:%d", port),
		ProtocolVersion: v,
		ClientID:        user + "-" + pass,
		Username:        user,
		Password:        []byte(pass),
		KeepAlive:       -1,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func refused(err error) bool {
	var ce *client.ConnectError
	return errors.As(err, &ce)
}

// TestReloadOnSIGHUP changes the password and ACL files under a running
// broker: SIGHUP applies them to new and connected clients, and a broken
// file on reload keeps the previous one.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	acl := filepath.Join(dir, "acl")
	writePasswords(t, pw, "alice", "one", "bob", "b")
	os.WriteFile(acl, []byte("user alice\ntopic write #\nuser bob\ntopic read news/#\n"), 0o600)
	port := freePort(t)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous false", "password_file "+pw, "acl_file "+acl, "user root")
	cmd, logs := startMidge(t, "midge", "-c", conf)
	hup := func(want string) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", want, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	alice, err := dial(t, port, "alice", "one", client.MQTT5)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	bob, err := dial(t, port, "bob", "b", client.MQTT311)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sub, err := client.Connect(ctx, client.Options{
		Address: fmt.Sprintf("127.0.0.1:%d", port), ClientID: "bob-sub", Username: "bob", Password: []byte("b"),
		OnMessage: func(_ *client.Client, m *client.Message) { got <- m.Topic },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(ctx, nil, client.Subscription{Filter: "#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Publish(ctx, &client.Message{Topic: "news/a", Payload: []byte("1"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if tp := <-got; tp != "news/a" {
		t.Fatalf("bob got %q", tp)
	}

	// alice's password changes and bob may now also read sport/#.
	writePasswords(t, pw, "alice", "two", "bob", "b")
	os.WriteFile(acl, []byte("user alice\ntopic write #\nuser bob\ntopic read news/#\ntopic read sport/#\n"), 0o600)
	hup("Disconnected 1 clients refused by the reloaded configuration.")
	select {
	case <-alice.Done():
		var de *client.DisconnectError
		if !errors.As(alice.Err(), &de) || de.ReasonCode != 0x87 {
			t.Fatalf("alice ended with %v, want DISCONNECT 0x87", alice.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice is still connected with her old password")
	}
	select {
	case <-bob.Done():
		t.Fatalf("bob, whose password did not change, was disconnected: %v", bob.Err())
	default:
	}
	if _, err := dial(t, port, "alice", "one", client.MQTT311); !refused(err) {
		t.Fatalf("old password: %v", err)
	}
	alice2, err := dial(t, port, "alice", "two", client.MQTT311)
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	// The connected subscriber is checked against the new ACL.
	alice2.Publish(ctx, &client.Message{Topic: "weather/x", Payload: []byte("no"), QoS: 1})
	alice2.Publish(ctx, &client.Message{Topic: "sport/x", Payload: []byte("yes"), QoS: 1})
	if tp := <-got; tp != "sport/x" {
		t.Fatalf("bob got %q after reload", tp)
	}

	// A broken ACL file on reload keeps the previous one.
	os.WriteFile(acl, []byte("user bob\ntopic\n"), 0o600)
	hup("keeping the previous password and ACL files")
	alice2.Publish(ctx, &client.Message{Topic: "weather/y", Payload: []byte("no"), QoS: 1})
	alice2.Publish(ctx, &client.Message{Topic: "news/z", Payload: []byte("yes"), QoS: 1})
	if tp := <-got; tp != "news/z" {
		t.Fatalf("bob got %q after a failed reload", tp)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}

// TestConnectAfterSIGHUPSeesTheReload: a client that connects right after
// the password file was changed and SIGHUP sent, without waiting for the
// log, is answered from the reloaded file, as single-threaded Mosquitto
// answers it.
func TestConnectAfterSIGHUPSeesTheReload(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	writePasswords(t, pw, "alice", "p0")
	port := freePort(t)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous false", "password_file "+pw, "user root")
	cmd, logs := startMidge(t, "midge", "-c", conf)
	for i := 1; i <= 20; i++ {
		pass := fmt.Sprintf("p%d", i)
		writePasswords(t, pw, "alice", pass)
		cmd.Process.Signal(syscall.SIGHUP)
		c, err := dial(t, port, "alice", pass, client.MQTT311)
		if err != nil {
			t.Fatalf("round %d: connecting with the password just reloaded: %v\n%s", i, err, logs.String())
		}
		c.Close()
	}
}
