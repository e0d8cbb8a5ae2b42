//go:build unix

package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/testpki"
)

// adminGet sends a request with a bearer token and returns status and body.
func adminDo(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminListener(t *testing.T) {
	dir := t.TempDir()
	port, aport := freePort(t), freePort(t)
	tokens := filepath.Join(dir, "tokens")
	const tok1, tok2 = "first-token-0123456789", "second-token-0123456789"
	if err := os.WriteFile(tokens, []byte("# admin tokens\n"+tok1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"user root", // the test's files are readable by root only
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"allow_anonymous true",
		fmt.Sprintf("admin_listener 127.0.0.1:%d", aport),
		"admin_token_file " + tokens,
		"connection nowhere",
		"address 127.0.0.1:1",
		"topic x out",
		"remote_password hunter2-secret",
	}
	conf := writeConf(t, lines...)
	cmd, log := startMidge(t, "midge", "-c", conf)
	base := fmt.Sprintf("http://127.0.0.1:%d", aport)
	if !strings.Contains(log.String(), "Admin listener on http://127.0.0.1:") {
		t.Errorf("no admin listener line in\n%s", log)
	}

	if code, _ := adminDo(t, "GET", base+"/readyz", ""); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	if code, _ := adminDo(t, "GET", base+"/metrics", ""); code != 401 {
		t.Errorf("/metrics without a token: %d", code)
	}
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "watched", CleanStart: true, KeepAlive: 60}, packet.V311)
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := packet.ReadPacket(nc, packet.V311, 0); err != nil {
		t.Fatal(err)
	}
	code, body := adminDo(t, "GET", base+"/metrics", tok1)
	if code != 200 || !strings.Contains(body, "midge_clients_connected 2\n") /* and the bridge's local side */ || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics %d:\n%.2000s", code, body)
	}
	if !strings.Contains(body, `midge_bridge_connected{bridge="nowhere"} 0`) || !strings.Contains(body, `midge_bridge_queued_messages{bridge="nowhere"}`) {
		t.Errorf("no figures of bridge nowhere in /metrics:\n%s", body)
	}
	if code, body := adminDo(t, "GET", base+"/api/v1/clients/watched", tok1); code != 200 || !strings.Contains(body, `"keep_alive": 60`) {
		t.Errorf("client %d %s", code, body)
	}
	code, body = adminDo(t, "GET", base+"/api/v1/config", tok1)
	if code != 200 || strings.Contains(body, "hunter2") || !strings.Contains(body, `"RemotePassword": "\u003credacted\u003e"`) || !strings.Contains(body, tokens) {
		t.Errorf("config %d:\n%s", code, body)
	}

	// A broken file: the reload fails, naming the line, and nothing changes.
	os.WriteFile(conf, []byte(strings.Join(append(lines, "max_qos 7"), "\n")+"\n"), 0o644)
	if code, body := adminDo(t, "POST", base+"/api/v1/reload", tok1); code != 422 || !strings.Contains(body, conf+":10") {
		t.Errorf("broken reload %d %s", code, body)
	}
	// A new token file: the reload takes it.
	os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	os.WriteFile(tokens, []byte(tok2+"\n"), 0o600)
	if code, body := adminDo(t, "POST", base+"/api/v1/reload", tok1); code != 200 {
		t.Errorf("reload %d %s", code, body)
	}
	if code, _ := adminDo(t, "GET", base+"/api/v1/overview", tok1); code != 401 {
		t.Errorf("old token after reload: %d", code)
	}
	if code, _ := adminDo(t, "GET", base+"/api/v1/overview", tok2); code != 200 {
		t.Errorf("new token after reload: %d", code)
	}
	// A token file that breaks keeps the credentials in force.
	os.WriteFile(tokens, []byte("short\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, log, "keeping the previous admin credentials")
	if code, _ := adminDo(t, "GET", base+"/api/v1/overview", tok2); code != 200 {
		t.Errorf("token after a failed reload: %d", code)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}

func waitForLog(t *testing.T, log *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", s, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAdminListenerRefusesToStartOpen(t *testing.T) {
	dir := t.TempDir()
	listen := fmt.Sprintf("listener %d 127.0.0.1", freePort(t))
	for _, tc := range []struct {
		lines []string
		exit  int
		want  string
	}{
		{[]string{listen, "admin_listener 0.0.0.0:0", "admin_allow_anonymous true"}, 3, ":2: admin_listener 0.0.0.0:0: admin_allow_anonymous true is allowed only on a loopback address"},
		{[]string{listen, "admin_listener 127.0.0.1:0"}, 3, ":2: admin_listener 127.0.0.1:0: needs admin_password_file or admin_token_file"},
		{[]string{listen, "admin_listener 127.0.0.1:0", "admin_token_file " + filepath.Join(dir, "missing")}, 1, "Admin listener: admin_token_file: open "},
		{[]string{listen, "admin_listener 127.0.0.1:0", "admin_password_file " + filepath.Join(dir, "missing")}, 1, "Admin listener: admin_password_file: "},
	} {
		conf := writeConf(t, tc.lines...)
		out, err := midgeCmd(t, "midge", "-c", conf).CombinedOutput()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != tc.exit || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: exit %v, want %d with %q; output:\n%s", tc.lines, err, tc.exit, tc.want, out)
		}
	}
}

// rawMQTT is a 3.1.1 connection for the tests of this file.
type rawMQTT struct {
	t  *testing.T
	nc net.Conn
}

func dialMQTT(t *testing.T, port int, id string) *rawMQTT {
	t.Helper()
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawMQTT{t: t, nc: nc}
	c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 60})
	if _, ok := c.recv().(*packet.Connack); !ok {
		t.Fatal("no CONNACK")
	}
	return c
}

func (c *rawMQTT) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, p, packet.V311)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawMQTT) recv() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.ReadPacket(c.nc, packet.V311, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// controlRequest publishes a request to $CONTROL/broker/v1 and returns
// what reached the client before a marker message: the response, if any.
func (c *rawMQTT) controlRequest(req string) []string {
	c.t.Helper()
	c.send(&packet.Publish{Topic: "$CONTROL/broker/v1", Payload: []byte(req)})
	c.send(&packet.Publish{Topic: "marker", Payload: []byte("m")})
	var out []string
	for {
		p, ok := c.recv().(*packet.Publish)
		if !ok {
			continue
		}
		if p.Topic == "marker" {
			return out
		}
		out = append(out, p.Topic+" "+string(p.Payload))
	}
}

func TestControlAPI(t *testing.T) {
	port, ws := freePort(t), freePort(t)
	lines := []string{
		"user root",
		fmt.Sprintf("listener %d 127.0.0.1", port),
		fmt.Sprintf("listener %d", ws),
		"protocol websockets",
		"allow_anonymous true",
		"enable_control_api true",
	}
	conf := writeConf(t, lines...)
	cmd, log := startMidge(t, "midge", "-c", conf)
	c := dialMQTT(t, port, "ctl")
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$CONTROL/#"}, {Filter: "marker"}}})
	if _, ok := c.recv().(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	got := c.controlRequest(`{"commands":[{"command":"listListeners","correlationData":"42"}]}`)
	want := fmt.Sprintf(`$CONTROL/broker/v1/response {"responses":[{"command":"listListeners","data":{"listeners":[{"port":%d,"protocol":"mqtt","bind-address":"127.0.0.1","tls":false},{"port":%d,"protocol":"mqtt+websockets","tls":false}]},"correlationData":"42"}]}`, port, ws)
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// The log line is written as the response is sent: wait for it.
	waitForLog(t, log, "Broker: ctl/(null) | listListeners")
	// Turned off by a reload: requests go unanswered (and are not routed).
	os.WriteFile(conf, []byte(strings.Join(lines[:len(lines)-1], "\n")+"\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, log, "Reloading config.")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = c.controlRequest(`{"commands":[{"command":"listPlugins"}]}`)
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still answered after the reload: %q", got)
		}
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}

func TestAdminListenerTLS(t *testing.T) {
	ca := testpki.NewCA(t, "midge admin test CA")
	server := ca.Issue("admin", nil)
	port, aport := freePort(t), freePort(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	const tok = "tls-token-0123456789abcdef"
	os.WriteFile(tokens, []byte(tok+"\n"), 0o600)
	conf := writeConf(t, "user root", fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true",
		fmt.Sprintf("admin_listener 127.0.0.1:%d", aport), "admin_token_file "+tokens,
		"admin_certfile "+server.CertFile, "admin_keyfile "+server.KeyFile)
	cmd, log := startMidge(t, "midge", "-c", conf)
	if !strings.Contains(log.String(), "Admin listener on https://") {
		t.Errorf("no https line in\n%s", log)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/api/v1/overview", aport), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("over TLS: %d", resp.StatusCode)
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", aport)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS admin listener")
		}
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}
