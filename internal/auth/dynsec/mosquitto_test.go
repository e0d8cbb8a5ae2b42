package dynsec

// Helpers for the tests that compare with Debian's mosquitto running its
// dynamic security plugin on the same kind of file.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// pluginPath returns the installed plugin, skipping the test without it
// (failing in CI).
func pluginPath(t *testing.T) string {
	t.Helper()
	testtool.Need(t, "mosquitto")
	matches, _ := filepath.Glob("/usr/lib/*/mosquitto_dynamic_security.so")
	if len(matches) == 0 {
		matches, _ = filepath.Glob("/usr/lib/mosquitto_dynamic_security.so")
	}
	if len(matches) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("mosquitto_dynamic_security.so is required in CI")
		}
		t.Skip("mosquitto_dynamic_security.so not installed")
	}
	return matches[0]
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type mosquitto struct {
	*testtool.MosquittoProcess
	addr string
}

// startMosquitto runs mosquitto with the plugin on the file at path, plus
// the extra configuration lines.
func startMosquitto(t *testing.T, path string, extra string) *mosquitto {
	t.Helper()
	plugin := pluginPath(t)
	port := freePort(t)
	conf := fmt.Sprintf("listener %d 127.0.0.1\nlog_dest stderr\nlog_type all\npersistence false\nset_tcp_nodelay true\n"+
		"plugin %s\nplugin_opt_config_file %s\n%s", port, plugin, path, extra)
	return &mosquitto{testtool.StartMosquitto(t, conf), fmt.Sprintf("127.0.0.1:%d", port)}
}

// connect connects with MQTT 5; a refused connection returns the error.
func connect(ctx context.Context, addr, clientID, username string, password []byte, onMessage func(*mqtt.Client, *mqtt.Message)) (*mqtt.Client, error) {
	return mqtt.Connect(ctx, mqtt.Options{
		Address:         addr,
		ProtocolVersion: 5,
		ClientID:        clientID,
		Username:        username,
		Password:        password,
		KeepAlive:       -1,
		OnMessage:       onMessage,
	})
}

// admin is a connection of the admin user to the control API of
// mosquitto.
type admin struct {
	t         *testing.T
	c         *mqtt.Client
	responses chan []byte
}

func connectAdmin(t *testing.T, addr string) *admin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := &admin{t: t, responses: make(chan []byte, 16)}
	c, err := connect(ctx, addr, "ctrl-test", "admin", []byte("admin"), func(_ *mqtt.Client, m *mqtt.Message) {
		a.responses <- m.Payload
	})
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	a.c = c
	t.Cleanup(func() { c.Close() })
	ack, err := c.Subscribe(ctx, nil, mqtt.Subscription{Filter: ResponseTopic, QoS: 1})
	if err != nil || ack.ReasonCodes[0] >= 0x80 {
		t.Fatalf("admin subscribe: %v %v", ack, err)
	}
	return a
}

// request sends a control request and returns mosquitto's response.
func (a *admin) request(payload string) []byte {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.c.Publish(ctx, &mqtt.Message{Topic: Topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		a.t.Fatalf("publishing %s: %v", payload, err)
	}
	select {
	case r := <-a.responses:
		return r
	case <-ctx.Done():
		a.t.Fatalf("no response from mosquitto to %s", payload)
		return nil
	}
}

func (a *admin) close() { a.c.Close() }

// isRefused tells a refused CONNECT from other failures.
func isRefused(err error) bool {
	var ce *mqtt.ConnectError
	return errors.As(err, &ce)
}
