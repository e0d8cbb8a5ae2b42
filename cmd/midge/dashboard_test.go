//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/packet"
)

// webtestDir holds the Playwright script that drives the dashboard.
const webtestDir = "../../internal/admin/webtest"

// needBrowserTools returns the paths of node, npm and Chromium. Without
// them the test skips, except in CI, which installs them.
func needBrowserTools(t *testing.T) (node, npm, chromium string) {
	t.Helper()
	missing := func(what string) {
		msg := what + " is not installed; the dashboard test needs Node.js, npm and Chromium (apt-get install chromium)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var err error
	if node, err = exec.LookPath("node"); err != nil {
		missing("node")
	}
	if npm, err = exec.LookPath("npm"); err != nil {
		missing("npm")
	}
	chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		missing(chromium)
	}
	return node, npm, chromium
}

// installPlaywright runs npm ci when node_modules lacks the playwright-core
// version that package.json pins.
func installPlaywright(ctx context.Context, t *testing.T, npm string) {
	t.Helper()
	var want, have struct {
		Dependencies map[string]string `json:"dependencies"`
		Version      string            `json:"version"`
	}
	b, err := os.ReadFile(filepath.Join(webtestDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(webtestDir, "node_modules", "playwright-core", "package.json")); err == nil &&
		json.Unmarshal(b, &have) == nil && have.Version == want.Dependencies["playwright-core"] {
		return
	}
	args := []string{"ci", "--no-audit", "--no-fund"}
	if _, err := os.Stat(filepath.Join(webtestDir, "package-lock.json")); err != nil {
		args[0] = "install"
	}
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = webtestDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm %s in %s: %v\n%s", args[0], webtestDir, err, out)
	}
}

// screenshotPath is where the dashboard's picture goes: $MIDGE_ARTIFACTS
// when set (CI keeps it), else a fixed place that outlives the test.
func screenshotPath(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MIDGE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "midge-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "dashboard.png")
}

// dashClient connects a 3.1.1 client over TCP and waits for its CONNACK.
func dashClient(t *testing.T, addr, id string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	// A long keep alive: the browser test may take a while on a loaded machine.
	dashSend(t, nc, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 600})
	if p := dashReceive(t, nc); p.(*packet.Connack).ReasonCode != 0 {
		t.Fatalf("%s: CONNACK %+v", id, p)
	}
	return nc
}

func dashSend(t *testing.T, nc net.Conn, p packet.Packet) {
	t.Helper()
	b, err := packet.Append(nil, p, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func dashReceive(t *testing.T, nc net.Conn) packet.Packet {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.ReadPacket(nc, packet.V311, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDashboard runs the dashboard in headless Chromium against a real
// broker (internal/admin/webtest/dashboard.mjs): the clients table, the
// retained list and topic tree, and the page's own MQTT over WebSockets
// client, with topics and payloads that would be markup if the page ever
// parsed them as HTML.
func TestDashboard(t *testing.T) {
	node, npm, chromium := needBrowserTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	installPlaywright(ctx, t, npm)

	dir := t.TempDir()
	const user, pass = "admin", "dashboard-secret"
	hash, err := auth.HashPassword(pass, auth.AlgSHA512PBKDF2, 0)
	if err != nil {
		t.Fatal(err)
	}
	pwfile := filepath.Join(dir, "admin.passwd")
	if err := os.WriteFile(pwfile, []byte(user+":"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, wsPort, aport := freePort(t), freePort(t), freePort(t)
	conf := writeConf(t,
		"user root", // the test's files are readable by root only
		"allow_anonymous true",
		fmt.Sprintf("listener %d 127.0.0.1", port),
		fmt.Sprintf("listener %d 127.0.0.1", wsPort),
		"protocol websockets",
		fmt.Sprintf("admin_listener 127.0.0.1:%d", aport),
		"admin_password_file "+pwfile,
	)
	cmd, log := startMidge(t, "midge", "-c", conf)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	const watched, retainedTopic, deleteTopic = "watched-client", "tree/<b>bold</b>/leaf", "tree/delete-me"
	nc := dashClient(t, addr, "watched-client")
	dashSend(t, nc, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "watched/<i>x</i>/+", QoS: 1}}})
	if _, ok := dashReceive(t, nc).(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	pub := dashClient(t, addr, "retainer")
	for i, tc := range []struct{ topic, payload string }{
		{retainedTopic, "<script>window.pwned=1</script>kept"},
		{deleteTopic, "to be deleted"},
	} {
		dashSend(t, pub, &packet.Publish{QoS: 1, Retain: true, Topic: tc.topic, PacketID: uint16(i + 1), Payload: []byte(tc.payload)})
		if _, ok := dashReceive(t, pub).(*packet.Ack); !ok {
			t.Fatalf("no PUBACK for %s", tc.topic)
		}
	}
	// At QoS 2, for the page's subscription to dash/# to receive it so.
	dashSend(t, pub, &packet.Publish{QoS: 2, Retain: true, Topic: "dash/kept", PacketID: 3, Payload: []byte("exactly once")})
	if a, ok := dashReceive(t, pub).(*packet.Ack); !ok || a.Kind != packet.PUBREC {
		t.Fatal("no PUBREC for dash/kept")
	}
	dashSend(t, pub, &packet.Ack{Kind: packet.PUBREL, PacketID: 3})
	if a, ok := dashReceive(t, pub).(*packet.Ack); !ok || a.Kind != packet.PUBCOMP {
		t.Fatal("no PUBCOMP for dash/kept")
	}
	pub.Close()

	shot := screenshotPath(t)
	os.Remove(shot)
	script := exec.CommandContext(ctx, node, "dashboard.mjs")
	script.Dir = webtestDir
	script.Env = append(os.Environ(),
		fmt.Sprintf("MIDGE_DASHBOARD_URL=http://127.0.0.1:%d/", aport),
		"MIDGE_ADMIN_USER="+user,
		"MIDGE_ADMIN_PASSWORD="+pass,
		"MIDGE_SCREENSHOT="+shot,
		"MIDGE_WATCHED_CLIENT="+watched,
		"MIDGE_RETAINED_TOPIC="+retainedTopic,
		"MIDGE_DELETE_TOPIC="+deleteTopic,
		"CHROMIUM="+chromium,
	)
	out, err := script.CombinedOutput()
	t.Logf("dashboard.mjs:\n%s", out)
	if _, statErr := os.Stat(shot); statErr == nil {
		t.Log("dashboard screenshot: " + shot)
		fmt.Println("dashboard screenshot: " + shot)
	}
	if err != nil {
		t.Fatalf("dashboard.mjs: %v (its output is above)\nbroker log:\n%s", err, log)
	}

	// The page's Disconnect button closed watched-client's connection.
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("watched-client after Disconnect: %v", err)
	}
	// And its Delete button removed the retained message.
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/api/v1/retained?filter=tree/%%23", aport), nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(body), deleteTopic) || !strings.Contains(string(body), `"total": 1,`) {
		t.Errorf("retained after Delete: %d %s", resp.StatusCode, body)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}
