package client

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// startMosquitto runs Debian's mosquitto on a free loopback port. It skips
// the test when mosquitto is not installed, unless CI=true.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto not installed (CI=true)")
		}
		t.Skip("mosquitto not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\n", port), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Wait for the listener: dial until it answers or the deadline passes.
	deadline := time.Now().Add(waitTime)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a subprocess, not synchronising goroutines
	}
}

// TestMosquittoInterop runs every version and QoS against mosquitto,
// with v5 properties and session resumption.
func TestMosquittoInterop(t *testing.T) {
	addr := startMosquitto(t)
	for _, ver := range versions {
		for qos := range byte(3) {
			t.Run(fmt.Sprintf("v%s/qos%d", ver.name, qos), func(t *testing.T) {
				ctx := testCtx(t)
				on, got := collector()
				sub := connect(t, Options{Address: addr, ProtocolVersion: ver.v, OnMessage: on})
				pub := connect(t, Options{Address: addr, ProtocolVersion: ver.v, TopicAliases: true})
				topic := fmt.Sprintf("interop/%s/%d", ver.name, qos)
				sa, err := sub.Subscribe(ctx, nil, Subscription{Filter: topic, QoS: qos})
				if err != nil || sa.ReasonCodes[0] != ReasonCode(qos) {
					t.Fatalf("Subscribe: %v %v", sa, err)
				}
				var p Properties
				p.User = []UserProperty{{Key: "k", Value: "v"}}
				for i := range 3 {
					if _, err := pub.Publish(ctx, &Message{Topic: topic, QoS: qos, Payload: []byte{byte(i)}, Properties: p}); err != nil {
						t.Fatal(err)
					}
				}
				for i := range 3 {
					m := receive(t, got)
					if m.Topic != topic || m.Payload[0] != byte(i) || m.QoS != qos {
						t.Fatalf("got %+v", m)
					}
					if ver.v == MQTT5 && (len(m.Properties.User) != 1 || m.Properties.User[0].Value != "v") {
						t.Fatalf("user properties %+v", m.Properties.User)
					}
				}
			})
		}
	}
	t.Run("session", func(t *testing.T) {
		ctx := testCtx(t)
		o := Options{Address: addr, ProtocolVersion: MQTT5, ClientID: "interop-persist", KeepSession: true}
		o.Properties.SessionExpiry = 60
		o.Properties.Set(PropSessionExpiry)
		c := connect(t, o)
		if _, err := c.Subscribe(ctx, nil, Subscription{Filter: "interop/offline", QoS: 2}); err != nil {
			t.Fatal(err)
		}
		stop(t, c)
		pub := connect(t, Options{Address: addr, ProtocolVersion: MQTT5})
		if _, err := pub.Publish(ctx, &Message{Topic: "interop/offline", QoS: 2, Payload: []byte("queued")}); err != nil {
			t.Fatal(err)
		}
		on, got := collector()
		o.OnMessage = on
		c = connect(t, o)
		if !c.Connack().SessionPresent {
			t.Fatal("no session present")
		}
		if m := receive(t, got); string(m.Payload) != "queued" {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("will", func(t *testing.T) {
		ctx := testCtx(t)
		on, got := collector()
		sub := connect(t, Options{Address: addr, OnMessage: on})
		if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: "interop/will", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		c := connect(t, Options{Address: addr, Will: &Will{Topic: "interop/will", Payload: []byte("bye"), QoS: 1}})
		c.Close()
		if m := receive(t, got); string(m.Payload) != "bye" {
			t.Fatalf("got %+v", m)
		}
	})
}
