//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/auth/dynsec"
	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// Dynamic security in a cluster of three processes, each with its own
// copy of the plugin file: a change made through mosquitto_ctrl on one
// node is in force on every node when the tool has its answer, a client
// whose rights it changed is disconnected on whichever node it is, and a
// node that was down during a change takes the later configuration from
// a peer when it comes back, and saves it.
func TestClusterDynsec(t *testing.T) {
	testtool.Need(t, "mosquitto_ctrl")
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := dynsec.InitFile(seed, "admin", "adminpw"); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	files := make([]string, 3)
	for i := range files {
		files[i] = dynsecFile(t, content)
	}
	nodes := runClusterEach(t, 3, func(i int) []string {
		return []string{"allow_anonymous false", "plugin " + dynsecSO, "plugin_opt_config_file " + files[i]}
	})
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctl := func(nd *clusterNode, args ...string) {
		t.Helper()
		b := &dynsecBroker{name: nd.name, port: nodePort(t, nd)}
		if r := b.ctrl(t, args...); r.code != 0 || strings.Contains(r.stdout+r.stderr, "Error") {
			t.Fatalf("%s: mosquitto_ctrl dynsec %s: exit %d, %q %q", nd.name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	code := func(nd *clusterNode, v byte, user, pass string) string {
		t.Helper()
		c, code := dialDynsec(nodePort(t, nd), v, dynsecIdentity{clientID: "c-" + user + "-" + nd.name, username: user, password: pass, hasUsername: true, has: true})
		if c != nil {
			c.bye()
		}
		return code
	}

	ctl(n1, "createClient", "alice", "-p", "secret")
	for _, nd := range nodes {
		if got := code(nd, packet.V311, "alice", "secret"); got != "0x00" {
			t.Fatalf("%s: alice refused (%s) right after her creation on n1", nd.name, got)
		}
		if got := code(nd, packet.V311, "alice", "wrong"); got != "0x05" {
			t.Fatalf("%s: alice with a wrong password: %s, want 0x05", nd.name, got)
		}
	}

	// Connected to n3, alice is disconnected when n1 changes her password.
	c, got := dialDynsec(nodePort(t, n3), packet.V5, dynsecIdentity{clientID: "alice-v5", username: "alice", password: "secret", hasUsername: true, has: true})
	if c == nil {
		t.Fatalf("alice on n3: %s", got)
	}
	defer c.close()
	ctl(n1, "setClientPassword", "alice", "secret2")
	p, err := c.recv(bridgeWait)
	if d, ok := p.(*packet.Disconnect); err != nil || !ok || d.ReasonCode != packet.AdministrativeAction {
		t.Fatalf("alice on n3 after her password changed on n1: %v %v, want DISCONNECT 0x98", p, err)
	}
	if got := code(n2, packet.V311, "alice", "secret"); got != "0x05" {
		t.Fatalf("n2: the old password gives %s, want 0x05", got)
	}

	// n3 down while bob is created: back, it takes him from a peer.
	n3.kill()
	for _, nd := range nodes[:2] {
		waitLog(t, nd.name, nd.log, "node n3 is not answering", 1)
	}
	ctl(n1, "createClient", "bob", "-p", "bobpw")
	if got := code(n2, packet.V311, "bob", "bobpw"); got != "0x00" {
		t.Fatalf("n2: bob refused (%s)", got)
	}
	const taken = "dynamic security taken from node"
	before := strings.Count(n3.log(), taken) // the first start may have taken a copy later than its own
	n3.start()
	waitLog(t, "n3", n3.log, taken, before+1)
	if got := code(n3, packet.V311, "bob", "bobpw"); got != "0x00" {
		t.Fatalf("n3 back: bob refused (%s)", got)
	}
	if got := code(n3, packet.V311, "alice", "secret2"); got != "0x00" {
		t.Fatalf("n3 back: alice refused (%s)", got)
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), `"username":	"bob"`) {
			t.Errorf("n%d's file does not have bob (%v):\n%s", i+1, err, b)
		}
	}
}

// nodePort is the MQTT port of a node.
func nodePort(t *testing.T, nd *clusterNode) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(nd.addr[strings.LastIndexByte(nd.addr, ':')+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}
