//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// The dynamic security plugin as a drop-in: midge and Debian's mosquitto
// with its mosquitto_dynamic_security.so run side by side on the same
// configuration and the same plugin file, are driven by Debian's
// mosquitto_ctrl, and must answer it and real clients alike.

// dynsecSO is where Debian installs the plugin. midge does not load it:
// a plugin line naming a file of this name turns on its own.
const dynsecSO = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"

// dynsecNeed skips the test when mosquitto, mosquitto_ctrl or the plugin
// is missing (fails in CI, as testtool.Need).
func dynsecNeed(t *testing.T) {
	t.Helper()
	testtool.Need(t, "mosquitto")
	testtool.Need(t, "mosquitto_ctrl")
	if _, err := os.Stat(dynsecSO); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the dynamic security plugin is required in CI: %v", err)
		}
		t.Skipf("the dynamic security plugin is not installed: %v", err)
	}
}

// dynsecInitFile runs `mosquitto_ctrl dynsec init` and returns the file
// it made, with the client admin (password adminpw) and its role.
func dynsecInitFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "init.json")
	out, err := exec.Command("mosquitto_ctrl", "dynsec", "init", path, "admin", "adminpw").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_ctrl dynsec init: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dynsecBroker is one broker of a pair, midge or mosquitto.
type dynsecBroker struct {
	name string
	port int
	file string // its plugin file

	// midge
	conf string
	cmd  *exec.Cmd
	logs []*syncBuffer
	// mosquitto
	mosq *testtool.MosquittoProcess
}

// dynsecConfBody is the configuration both brokers run.
func dynsecConfBody(port int, anonymous bool, file string) string {
	return fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous %v\nplugin %s\nplugin_opt_config_file %s\n", port, anonymous, dynsecSO, file)
}

// dynsecFile writes content as a new plugin file in its own directory.
func dynsecFile(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dynamic-security.json")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startDynsecMidge runs midge with the plugin on a copy of content.
func startDynsecMidge(t *testing.T, content []byte, anonymous bool) *dynsecBroker {
	t.Helper()
	b := &dynsecBroker{name: "midge", port: testtool.ListenPort(t), file: dynsecFile(t, content)}
	b.conf = writeConf(t, "user root", strings.TrimSuffix(dynsecConfBody(b.port, anonymous, b.file), "\n"))
	b.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("midge log:\n%s", b.log())
		}
	})
	return b
}

// startDynsecMosquitto runs Debian's mosquitto with its plugin on a copy
// of content.
func startDynsecMosquitto(t *testing.T, content []byte, anonymous bool) *dynsecBroker {
	t.Helper()
	b := &dynsecBroker{name: "mosquitto", port: testtool.ListenPort(t), file: dynsecFile(t, content)}
	b.mosq = testtool.StartMosquitto(t, dynsecConfBody(b.port, anonymous, b.file))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", b.mosq.Log())
		}
	})
	return b
}

// start runs midge (again) on its configuration.
func (b *dynsecBroker) start(t *testing.T) {
	t.Helper()
	cmd, log := startMidge(t, "midge", "-c", b.conf)
	b.cmd = cmd
	b.logs = append(b.logs, log)
}

// restart stops midge with SIGTERM and starts it again on the same
// configuration and plugin file.
func (b *dynsecBroker) restart(t *testing.T) {
	t.Helper()
	stopMidge(t, b.cmd.Process.Pid, b.cmd.Wait)
	b.start(t)
}

func (b *dynsecBroker) log() string {
	var s strings.Builder
	for i, l := range b.logs {
		if i > 0 {
			fmt.Fprintf(&s, "--- restart %d ---\n", i)
		}
		s.WriteString(l.String())
	}
	return s.String()
}

// dynsecCtrlResult is what one mosquitto_ctrl run printed and its exit status.
type dynsecCtrlResult struct {
	stdout, stderr string
	code           int
}

func (r dynsecCtrlResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// ctrl runs `mosquitto_ctrl -h 127.0.0.1 -p PORT -u admin -P adminpw
// dynsec args...` against b, with an empty standard input (so that the
// commands that ask for a password read an empty one).
func (b *dynsecBroker) ctrl(t *testing.T, args ...string) dynsecCtrlResult {
	t.Helper()
	r := b.ctrlNoFatal(args...)
	if r.code == -1 {
		t.Fatalf("%s: mosquitto_ctrl %s: %s", b.name, strings.Join(args, " "), r.stderr)
	}
	return r
}

// dynsecCtrlBoth runs the same mosquitto_ctrl command against both brokers, at
// the same time, and returns midge's and mosquitto's results.
func dynsecCtrlBoth(t *testing.T, m, q *dynsecBroker, args ...string) (dynsecCtrlResult, dynsecCtrlResult) {
	t.Helper()
	var rm, rq dynsecCtrlResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rq = q.ctrlNoFatal(args...)
	}()
	rm = m.ctrl(t, args...)
	wg.Wait()
	if rq.code == -1 {
		t.Fatalf("mosquitto: mosquitto_ctrl %s: %s", strings.Join(args, " "), rq.stderr)
	}
	return rm, rq
}

// ctrlNoFatal is ctrl for another goroutine: a failure to run is
// reported as exit status -1 with the reason in stderr.
func (b *dynsecBroker) ctrlNoFatal(args ...string) dynsecCtrlResult {
	return b.ctrlAs("admin", "adminpw", args...)
}

// ctrlAs runs mosquitto_ctrl's dynsec module as username with password,
// as ctrlNoFatal.
func (b *dynsecBroker) ctrlAs(username, password string, args ...string) dynsecCtrlResult {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	argv := append([]string{"-h", "127.0.0.1", "-p", fmt.Sprint(b.port), "-u", username, "-P", password, "dynsec"}, args...)
	cmd := exec.CommandContext(ctx, "mosquitto_ctrl", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := dynsecCtrlResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return dynsecCtrlResult{code: -1, stderr: "timed out"}
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return dynsecCtrlResult{code: -1, stderr: err.Error()}
	}
	return r
}

// dynsecCtrlSame runs a command on both brokers and fails the test unless the
// tool printed and exited alike.
func dynsecCtrlSame(t *testing.T, m, q *dynsecBroker, args ...string) {
	t.Helper()
	rm, rq := dynsecCtrlBoth(t, m, q, args...)
	if rm != rq {
		t.Errorf("mosquitto_ctrl dynsec %s:\nmidge: %s\nmosquitto: %s", strings.Join(args, " "), rm, rq)
	}
}

// dynsecSteps is the sequence of TestDynsecCtrlParity: every command of
// mosquitto_ctrl's dynsec module (2.0.11 has no modifyClient, modifyGroup
// or modifyRole), with the arguments that succeed and those that fail,
// in the tool (usage errors) or in the plugin (unknown or duplicate
// names). Passwords the tool asks for read an empty standard input.
var dynsecSteps = [][]string{
	// General
	{"help"},
	{"getDefaultACLAccess"},
	{"setDefaultACLAccess", "publishClientSend", "allow"},
	{"setDefaultACLAccess", "publishClientReceive", "deny"},
	{"setDefaultACLAccess", "subscribe", "allow"},
	{"setDefaultACLAccess", "unsubscribe", "deny"},
	{"getDefaultACLAccess"},
	{"setDefaultACLAccess", "publishClientSend", "deny"},
	{"setDefaultACLAccess", "publishClientReceive", "allow"},
	{"setDefaultACLAccess", "subscribe", "deny"},
	{"setDefaultACLAccess", "unsubscribe", "allow"},
	{"setDefaultACLAccess", "bogus", "allow"},
	{"setDefaultACLAccess", "subscribe", "maybe"},
	{"setDefaultACLAccess", "subscribe"},
	{"getDefaultACLAccess"},
	{"getAnonymousGroup"},
	{"setAnonymousGroup", "nogroup"},
	{"setAnonymousGroup"},
	{"frobnicate"},

	// Clients
	{"createClient", "alice", "-c", "alice-id", "-p", "alicepw"},
	{"createClient", "alice", "-p", "other"},
	{"createClient", "bob", "-p", "bobpw"},
	{"createClient", "carol"}, // an empty password: carol cannot log in
	{"createClient", "dave", "-c", "dave-id"},
	{"createClient", "erin", "-p", "erinpw", "-c", "erin-id"},
	{"createClient"},
	{"createClient", "frank", "-x", "y"},
	{"getClient", "alice"},
	{"getClient", "carol"},
	{"getClient", "nobody"},
	{"getClient"},
	{"setClientPassword", "alice", "alicepw2"},
	{"setClientPassword", "nobody", "pw"},
	{"setClientPassword", "alice"}, // reads an empty password
	{"setClientPassword"},
	{"setClientId", "alice", "alice-other"},
	{"getClient", "alice"},
	{"setClientId", "alice"},
	{"getClient", "alice"},
	{"setClientId", "alice", "alice-id"},
	{"setClientId", "nobody", "x"},
	{"setClientId"},
	{"createRole", "r1"},
	{"createRole", "r1"},
	{"createRole", "r2"},
	{"createRole", "r3"},
	{"createRole"},
	{"addClientRole", "alice", "r1", "5"},
	{"addClientRole", "alice", "r2"},
	{"addClientRole", "alice", "r3", "-2"},
	{"addClientRole", "alice", "r1"},
	{"addClientRole", "alice", "nope"},
	{"addClientRole", "nobody", "r1"},
	{"addClientRole", "alice"},
	{"getClient", "alice"},
	{"removeClientRole", "alice", "r2"},
	{"removeClientRole", "alice", "r2"},
	{"removeClientRole", "alice", "nope"},
	{"removeClientRole", "nobody", "r1"},
	{"removeClientRole", "alice"},
	{"getClient", "alice"},
	{"listClients"},
	{"listClients", "2"},
	{"listClients", "2", "1"},
	{"listClients", "10", "10"},
	{"listClients", "1", "5"},
	{"listClients", "0"},
	{"disableClient", "bob"},
	{"getClient", "bob"},
	{"disableClient", "bob"},
	{"disableClient", "nobody"},
	{"disableClient"},
	{"enableClient", "bob"},
	{"getClient", "bob"},
	{"enableClient", "nobody"},
	{"enableClient"},
	{"deleteClient", "erin"},
	{"deleteClient", "erin"},
	{"deleteClient", "nobody"},
	{"deleteClient"},
	{"listClients"},

	// Groups
	{"createGroup", "g1"},
	{"createGroup", "g1"},
	{"createGroup", "g2"},
	{"createGroup", "g3"},
	{"createGroup"},
	{"addGroupRole", "g1", "r1", "3"},
	{"addGroupRole", "g1", "r3"},
	{"addGroupRole", "g1", "r1"},
	{"addGroupRole", "g1", "nope"},
	{"addGroupRole", "nope", "r1"},
	{"addGroupRole", "g1"},
	{"getGroup", "g1"},
	{"removeGroupRole", "g1", "r3"},
	{"removeGroupRole", "g1", "r3"},
	{"removeGroupRole", "g1", "nope"},
	{"removeGroupRole", "nope", "r1"},
	{"removeGroupRole", "g1"},
	{"addGroupClient", "g1", "alice", "7"},
	{"addGroupClient", "g1", "bob"},
	{"addGroupClient", "g2", "alice", "-1"},
	{"addGroupClient", "g1", "alice"},
	{"addGroupClient", "g1", "nobody"},
	{"addGroupClient", "nope", "alice"},
	{"addGroupClient", "g1"},
	{"getGroup", "g1"},
	{"getGroup", "g2"},
	{"getGroup", "nope"},
	{"getGroup"},
	{"getClient", "alice"},
	{"removeGroupClient", "g1", "bob"},
	{"removeGroupClient", "g1", "bob"},
	{"removeGroupClient", "g1", "nobody"},
	{"removeGroupClient", "nope", "alice"},
	{"removeGroupClient", "g1"},
	{"getGroup", "g1"},
	{"listGroups"},
	{"listGroups", "1"},
	{"listGroups", "1", "1"},
	{"listGroups", "5", "5"},
	{"setAnonymousGroup", "g2"},
	{"getAnonymousGroup"},
	{dynsecMidgeOnly, "deleteGroup", "g2"},
	{"getAnonymousGroup"},
	{"setAnonymousGroup", "g3"},
	{"deleteGroup", "g2"},
	{"deleteGroup", "g2"},
	{"deleteGroup", "nope"},
	{"deleteGroup"},
	{"getClient", "alice"},
	{"listGroups"},

	// Roles
	{"addRoleACL", "r1", "publishClientSend", "a/#", "allow", "5"},
	{"addRoleACL", "r1", "publishClientReceive", "b/#", "deny"},
	{"addRoleACL", "r1", "subscribeLiteral", "c/+", "allow", "1"},
	{"addRoleACL", "r1", "subscribePattern", "d/#", "deny", "-3"},
	{"addRoleACL", "r1", "unsubscribeLiteral", "e", "allow"},
	{"addRoleACL", "r1", "unsubscribePattern", "f/+/#", "deny", "2"},
	{"addRoleACL", "r1", "subscribePattern", "users/%u/#", "allow"},
	{"addRoleACL", "r1", "publishClientSend", "clients/%c/x", "allow", "5"},
	{"addRoleACL", "r1", "publishClientSend", "a/#", "deny"},
	{"addRoleACL", "r1", "publishClientReceive", "a/#", "allow"},
	{"addRoleACL", "r1", "subscribeLiteral", "a/#/b", "allow"},
	{"addRoleACL", "r1", "subscribeLiteral", "g/+x", "allow"},
	{"addRoleACL", "r1", "publishClientSend", "p/#", "allow", "x"},
	{"addRoleACL", "nope", "publishClientSend", "a", "allow"},
	{"addRoleACL", "r1", "bogus", "a", "allow"},
	{"addRoleACL", "r1", "publishClientSend", "a", "maybe"},
	{"addRoleACL", "r1", "publishClientSend", "a"},
	{"addRoleACL", "r1"},
	{"addRoleACL", "r2", "subscribeLiteral", "z", "allow"},
	{"getRole", "r1"},
	{"getRole", "r2"},
	{"getRole", "nope"},
	{"getRole"},
	{"removeRoleACL", "r1", "subscribeLiteral", "c/+"},
	{"removeRoleACL", "r1", "subscribeLiteral", "c/+"},
	{"removeRoleACL", "r1", "publishClientSend", "zz"},
	{"removeRoleACL", "nope", "publishClientSend", "a/#"},
	{"removeRoleACL", "r1", "bogus", "a/#"},
	{"removeRoleACL", "r1", "publishClientReceive"},
	{"removeRoleACL", "r1", "publishClientReceive", "b/#", "deny"},
	{"getRole", "r1"},
	{"listRoles"},
	{"listRoles", "1"},
	{"listRoles", "2", "1"},
	{"listRoles", "9", "9"},
	{"deleteRole", "r2"},
	{"deleteRole", "r2"},
	{"deleteRole", "nope"},
	{"deleteRole"},
	{"getClient", "alice"},
	{"getGroup", "g1"},
	{"deleteRole", "r1"},
	{"getClient", "alice"},
	{"getGroup", "g1"},
	{"listRoles"},
	{"getRole", "admin"},
	{"getClient", "admin"},
	{"listClients"},
	{"listGroups"},
	{"getDefaultACLAccess"},
	{"getAnonymousGroup"},
}

// dynsecMidgeOnly marks a step run against midge alone: mosquitto 2.0.11
// deletes the anonymous group and goes on using it, which crashes it.
// midge refuses, as later Mosquitto versions do, and the tool prints
// their error.
const dynsecMidgeOnly = "(midge only)"

// dynsecMidgeOnlyErrors are the errors of the dynsecMidgeOnly steps.
var dynsecMidgeOnlyErrors = map[string]string{
	"deleteGroup g2": "deleteGroup: Error: Deleting the anonymous group is forbidden",
}

// dynsecCtrlDiffers lists the steps of dynsecSteps, by their arguments,
// where midge is known to answer otherwise than mosquitto, with why: the
// step is then skipped, not failed. None at present.
var dynsecCtrlDiffers = map[string]string{}

// dynsecMask hides what differs between two plugin files holding the
// same clients for a reason that is no difference: each broker salts a
// password with its own random salt, so salt and hash differ.
var dynsecMask = regexp.MustCompile(`"(password|salt)":(\s*)"[^"]*"`)

func TestDynsecCtrlParity(t *testing.T) {
	dynsecNeed(t)
	initial := dynsecInitFile(t)
	m := startDynsecMidge(t, initial, false)
	q := startDynsecMosquitto(t, initial, false)
	for i, args := range dynsecSteps {
		key := strings.Join(args, " ")
		t.Run(fmt.Sprintf("%03d %s", i, key), func(t *testing.T) {
			if args[0] == dynsecMidgeOnly {
				args = args[1:]
				key = strings.Join(args, " ")
				r := m.ctrl(t, args...)
				if want := dynsecMidgeOnlyErrors[key]; r.code != 0 || r.stdout != "" || !strings.HasSuffix(r.stderr, "\n\n"+want+"\n") {
					t.Errorf("midge: mosquitto_ctrl dynsec %s: %s\nwant the error %q", key, r, want)
				}
				return
			}
			rm, rq := dynsecCtrlBoth(t, m, q, args...)
			if rm == rq {
				return
			}
			if why, ok := dynsecCtrlDiffers[key]; ok {
				t.Skipf("differs: %s\nmidge: %s\nmosquitto: %s", why, rm, rq)
			}
			t.Errorf("mosquitto_ctrl dynsec %s:\nmidge: %s\nmosquitto: %s", key, rm, rq)
		})
	}
	// Clients that are not the admin: a wrong password, and bob, who may
	// not use $CONTROL.
	for _, who := range [][2]string{{"admin", "wrong"}, {"bob", "bobpw"}, {"nobody", "x"}} {
		rm, rq := m.ctrlAs(who[0], who[1], "listClients"), q.ctrlAs(who[0], who[1], "listClients")
		if rm != rq || rq.code == -1 {
			t.Errorf("mosquitto_ctrl -u %s -P %s dynsec listClients:\nmidge: %s\nmosquitto: %s", who[0], who[1], rm, rq)
		}
	}

	// Both brokers saved what the commands made of the file alike, up to
	// the salts: mosquitto reads midge's file and the other way round.
	fm, err := os.ReadFile(m.file)
	if err != nil {
		t.Fatal(err)
	}
	fq, err := os.ReadFile(q.file)
	if err != nil {
		t.Fatal(err)
	}
	mm, mq := dynsecMask.ReplaceAll(fm, []byte(`"$1":$2"-"`)), dynsecMask.ReplaceAll(fq, []byte(`"$1":$2"-"`))
	if !bytes.Equal(mm, mq) {
		t.Errorf("the plugin files differ (salts and hashes masked):\nmidge:\n%s\nmosquitto:\n%s", mm, mq)
	}
}

// dynsecConn is a raw MQTT connection of the access tests.
type dynsecConn struct {
	nc net.Conn
	v  byte
	id string
}

// dynsecIdentity is how a client of the access tests connects.
type dynsecIdentity struct {
	label            string
	clientID         string
	username         string // "" with hasUsername false: anonymous
	password         string
	hasUsername, has bool // has: a password is sent
}

// dialDynsec connects to port with MQTT version v as who and returns the
// connection (nil when the broker refused it) and the CONNACK's code, or
// how the connection failed instead.
func dialDynsec(port int, v byte, who dynsecIdentity) (*dynsecConn, string) {
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return nil, "dial: " + err.Error()
	}
	c := &dynsecConn{nc: nc, v: v, id: who.clientID}
	if err := c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, ClientID: who.clientID, CleanStart: true, KeepAlive: 60,
		UsernameFlag: who.hasUsername, Username: who.username, PasswordFlag: who.has, Password: []byte(who.password)}); err != nil {
		nc.Close()
		return nil, "send CONNECT: " + err.Error()
	}
	p, err := c.recv(5 * time.Second)
	if err != nil {
		nc.Close()
		return nil, "no CONNACK: " + dynsecErr(err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		nc.Close()
		return nil, fmt.Sprintf("%T instead of CONNACK", p)
	}
	code := fmt.Sprintf("0x%02x", byte(ack.ReasonCode))
	if ack.ReasonCode != 0 {
		nc.Close()
		return nil, code
	}
	return c, code
}

func dynsecErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	// A reset is a close that left data unread.
	if strings.Contains(err.Error(), "connection reset") {
		return "closed"
	}
	return err.Error()
}

func (c *dynsecConn) close() { c.nc.Close() }

// bye sends DISCONNECT and waits for the broker to close the connection,
// so that the next connection with the same client id takes over nothing.
func (c *dynsecConn) bye() {
	c.send(&packet.Disconnect{})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.recv(time.Until(deadline)); err != nil {
			break
		}
	}
	c.close()
}

func (c *dynsecConn) send(p packet.Packet) error {
	b, err := packet.Append(nil, p, c.v)
	if err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = c.nc.Write(b)
	return err
}

func (c *dynsecConn) recv(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(c.nc, c.v, 0)
}

// await reads until a packet for which want returns true, and collects
// the topics of the messages read on the way (with their payloads).
func (c *dynsecConn) await(want func(packet.Packet) bool) (packet.Packet, []string, error) {
	var seen []string
	for {
		p, err := c.recv(10 * time.Second)
		if err != nil {
			return nil, seen, err
		}
		if want(p) {
			return p, seen, nil
		}
		if m, ok := p.(*packet.Publish); ok {
			seen = append(seen, m.Topic+" "+string(m.Payload))
		}
	}
}

func dynsecCodes(rcs []packet.ReasonCode) string {
	s := make([]string, len(rcs))
	for i, rc := range rcs {
		s[i] = fmt.Sprintf("0x%02x", byte(rc))
	}
	return strings.Join(s, " ")
}

// dynsecFilters are the filters each client subscribes to and then
// unsubscribes from; dynsecTopics the topics it publishes on and has
// published to it.
var (
	dynsecFilters = []string{"a/+", "a/#", "a/1", "b/#", "b/private", "g/#", "g/x", "users/alice/#", "users/bob/#",
		"clients/alice-id/#", "clients/bob-c/#", "anon/#", "#", "$SYS/#", "+/1"}
	dynsecTopics = []string{"a/1", "a/secret", "b/1", "b/private", "g/x", "users/alice/x", "users/bob/x",
		"clients/alice-id/x", "clients/bob-c/x", "anon/x", "other", "$SYS/x"}
)

// dynsecSetup is what the access tests set up with mosquitto_ctrl on the
// file of `dynsec init`: a watcher allowed everything, clients with
// roles of their own and of groups, a disabled client, one without a
// password, patterns with %u and %c, and a group for anonymous clients.
var dynsecSetup = [][]string{
	{"createRole", "all"},
	{"addRoleACL", "all", "publishClientSend", "#", "allow"},
	{"addRoleACL", "all", "publishClientReceive", "#", "allow"},
	{"addRoleACL", "all", "subscribePattern", "#", "allow"},
	{"addRoleACL", "all", "unsubscribePattern", "#", "allow"},
	{"createClient", "watcher", "-p", "watcherpw"},
	{"addClientRole", "watcher", "all"},

	// Every client may use marker/#, which the tests use to know that
	// everything sent before has been delivered.
	{"createRole", "markers"},
	{"addRoleACL", "markers", "publishClientSend", "marker/#", "allow"},
	{"addRoleACL", "markers", "subscribePattern", "marker/#", "allow"},
	{"createGroup", "everyone"},
	{"addGroupRole", "everyone", "markers"},

	{"createRole", "ra"},
	{"addRoleACL", "ra", "publishClientSend", "a/#", "allow"},
	{"addRoleACL", "ra", "publishClientSend", "a/secret", "deny", "10"},
	{"addRoleACL", "ra", "publishClientReceive", "b/private", "deny", "5"},
	{"addRoleACL", "ra", "subscribeLiteral", "a/+", "allow"},
	{"addRoleACL", "ra", "subscribeLiteral", "+/1", "allow"},
	{"addRoleACL", "ra", "subscribePattern", "b/#", "allow"},
	{"addRoleACL", "ra", "subscribePattern", "b/private", "deny", "5"},
	{"addRoleACL", "ra", "unsubscribeLiteral", "a/+", "deny"},
	{"addRoleACL", "ra", "unsubscribePattern", "b/private", "deny"},
	{"createClient", "alice", "-c", "alice-id", "-p", "alicepw"},
	{"addClientRole", "alice", "ra", "1"},
	{"addGroupClient", "everyone", "alice"},

	{"createRole", "rg"},
	{"addRoleACL", "rg", "publishClientSend", "g/#", "allow"},
	{"addRoleACL", "rg", "subscribePattern", "g/#", "allow"},
	{"addRoleACL", "rg", "publishClientSend", "a/secret", "allow", "20"},
	{"addRoleACL", "rg", "publishClientSend", "users/%u/#", "allow"},
	{"addRoleACL", "rg", "subscribePattern", "users/%u/#", "allow"},
	{"addRoleACL", "rg", "publishClientSend", "clients/%c/#", "allow"},
	{"addRoleACL", "rg", "subscribePattern", "clients/%c/#", "allow"},
	{"addRoleACL", "rg", "publishClientReceive", "g/x", "deny", "1"},
	{"addRoleACL", "rg", "unsubscribeLiteral", "g/x", "deny"},
	{"createGroup", "gg"},
	{"addGroupRole", "gg", "rg"},
	{"addGroupClient", "gg", "alice"},

	{"createRole", "rb"},
	{"addRoleACL", "rb", "publishClientSend", "#", "allow"},
	{"addRoleACL", "rb", "publishClientSend", "a/#", "deny", "1"},
	{"addRoleACL", "rb", "subscribeLiteral", "#", "allow"},
	{"addRoleACL", "rb", "publishClientReceive", "users/#", "deny"},
	{"createClient", "bob", "-p", "bobpw"},
	{"addClientRole", "bob", "rb", "2"},
	{"addGroupClient", "gg", "bob", "3"},
	{"addGroupClient", "everyone", "bob"},

	{"createClient", "carol", "-p", "carolpw"},
	{"addGroupClient", "everyone", "carol"},
	{"addClientRole", "carol", "all"},
	{"disableClient", "carol"},

	{"createClient", "dave"}, // no password: dave cannot log in

	// kim is disconnected by the kick tests.
	{"createClient", "kim", "-p", "kimpw"},

	{"createRole", "ranon"},
	{"addRoleACL", "ranon", "publishClientSend", "anon/#", "allow"},
	{"addRoleACL", "ranon", "subscribePattern", "anon/#", "allow"},
	{"addRoleACL", "ranon", "subscribeLiteral", "a/1", "allow"},
	{"createGroup", "anon"},
	{"addGroupRole", "anon", "ranon"},
	{"addGroupRole", "anon", "markers"},
	{"setAnonymousGroup", "anon"},
}

// dynsecIdentities are the rows of the access table.
var dynsecIdentities = []dynsecIdentity{
	{label: "watcher", clientID: "watcher-x", username: "watcher", password: "watcherpw", hasUsername: true, has: true},
	{label: "alice", clientID: "alice-id", username: "alice", password: "alicepw", hasUsername: true, has: true},
	{label: "alice with another client id", clientID: "not-alice", username: "alice", password: "alicepw", hasUsername: true, has: true},
	{label: "alice with an empty client id", clientID: "", username: "alice", password: "alicepw", hasUsername: true, has: true},
	{label: "alice with a wrong password", clientID: "alice-id", username: "alice", password: "nope", hasUsername: true, has: true},
	{label: "alice without a password", clientID: "alice-id", username: "alice", hasUsername: true},
	{label: "bob", clientID: "bob-c", username: "bob", password: "bobpw", hasUsername: true, has: true},
	{label: "bob with another client id", clientID: "bob-other", username: "bob", password: "bobpw", hasUsername: true, has: true},
	{label: "bob with an empty password", clientID: "bob-c", username: "bob", password: "", hasUsername: true, has: true},
	{label: "carol (disabled)", clientID: "carol-c", username: "carol", password: "carolpw", hasUsername: true, has: true},
	{label: "dave (no password)", clientID: "dave-c", username: "dave", password: "x", hasUsername: true, has: true},
	{label: "dave without a password", clientID: "dave-c", username: "dave", hasUsername: true},
	{label: "dave with an empty password", clientID: "dave-c", username: "dave", hasUsername: true, has: true},
	{label: "unknown user", clientID: "who-c", username: "nobody", password: "x", hasUsername: true, has: true},
	{label: "anonymous", clientID: "anon-c"},
}

// dynsecDecisions connects every identity to b and returns, line by
// line, what the broker decided: CONNACK codes in 3.1.1 and 5.0, SUBACK
// codes in both, which messages the watcher's publications delivered to
// it, 5.0 UNSUBACK codes, PUBACK codes of its publications and which of
// them reached the watcher, which is allowed everything.
func dynsecDecisions(t *testing.T, b *dynsecBroker) []string {
	t.Helper()
	w := dynsecIdentities[0]
	w.clientID = "watcher"
	watcher, code := dialDynsec(b.port, packet.V5, w)
	if watcher == nil {
		t.Fatalf("%s: the watcher cannot connect: %s", b.name, code)
	}
	defer watcher.close()
	if err := watcher.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}}}); err != nil {
		t.Fatal(err)
	}
	if p, _, err := watcher.await(func(p packet.Packet) bool { _, ok := p.(*packet.Suback); return ok }); err != nil || dynsecCodes(p.(*packet.Suback).ReasonCodes) != "0x00" {
		t.Fatalf("%s: the watcher's subscription: %v %v", b.name, p, err)
	}
	var out []string
	add := func(who dynsecIdentity, format string, args ...any) {
		out = append(out, who.label+": "+fmt.Sprintf(format, args...))
	}
	var subs []packet.Subscription
	for _, f := range dynsecFilters {
		subs = append(subs, packet.Subscription{Filter: f})
	}
	for _, who := range dynsecIdentities {
		// 3.1.1: CONNACK and SUBACK.
		c3, code := dialDynsec(b.port, packet.V311, who)
		add(who, "3.1.1 CONNACK %s", code)
		if c3 != nil {
			c3.send(&packet.Subscribe{PacketID: 1, Subscriptions: subs})
			p, _, err := c3.await(func(p packet.Packet) bool { _, ok := p.(*packet.Suback); return ok })
			if err != nil {
				add(who, "3.1.1 SUBACK: %s", dynsecErr(err))
			} else {
				add(who, "3.1.1 SUBACK %s", dynsecCodes(p.(*packet.Suback).ReasonCodes))
			}
			c3.bye()
		}

		c, code := dialDynsec(b.port, packet.V5, who)
		add(who, "5.0 CONNACK %s", code)
		if c == nil {
			continue
		}
		out = append(out, dynsecSession(t, b, who, c, watcher, subs)...)
		c.bye()
	}
	return out
}

// dynsecSession is what dynsecDecisions checks of one connected 5.0
// client c.
func dynsecSession(t *testing.T, b *dynsecBroker, who dynsecIdentity, c, watcher *dynsecConn, subs []packet.Subscription) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, who.label+": "+fmt.Sprintf(format, args...)) }
	marker := "marker/" + who.clientID
	isAck := func(kind packet.Type, id uint16) func(packet.Packet) bool {
		return func(p packet.Packet) bool {
			switch a := p.(type) {
			case *packet.Suback:
				return kind == packet.SUBACK && a.PacketID == id
			case *packet.Unsuback:
				return kind == packet.UNSUBACK && a.PacketID == id
			case *packet.Ack:
				return a.Kind == kind && a.PacketID == id
			}
			return false
		}
	}
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: append(subs, packet.Subscription{Filter: marker})})
	p, _, err := c.await(isAck(packet.SUBACK, 1))
	if err != nil {
		add("5.0 SUBACK: %s", dynsecErr(err))
		return out
	}
	rcs := p.(*packet.Suback).ReasonCodes
	add("5.0 SUBACK %s", dynsecCodes(rcs[:len(subs)]))
	if rcs[len(subs)] != 0 {
		t.Fatalf("%s: %s: no subscription to %s: 0x%02x", b.name, who.label, marker, byte(rcs[len(subs)]))
	}

	// What the watcher publishes: which messages reach c. The marker,
	// published last, comes after everything the others delivered.
	for i, topic := range dynsecTopics {
		if err := watcher.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(100 + i), Payload: []byte("to " + who.clientID)}); err != nil {
			t.Fatal(err)
		}
	}
	watcher.send(&packet.Publish{Topic: marker, Payload: []byte("to " + who.clientID)})
	for i := range dynsecTopics {
		if _, _, err := watcher.await(isAck(packet.PUBACK, uint16(100+i))); err != nil {
			t.Fatalf("%s: the watcher's PUBACK: %v", b.name, err)
		}
	}
	_, got, err := c.await(func(p packet.Packet) bool { m, ok := p.(*packet.Publish); return ok && m.Topic == marker })
	if err != nil {
		add("receives: %s", dynsecErr(err))
		return out
	}
	add("receives %q", dynsecDistinct(got, " to "+who.clientID))

	c.send(&packet.Unsubscribe{PacketID: 2, Filters: dynsecFilters})
	if p, _, err := c.await(isAck(packet.UNSUBACK, 2)); err != nil {
		add("5.0 UNSUBACK: %s", dynsecErr(err))
		return out
	} else {
		add("5.0 UNSUBACK %s", dynsecCodes(p.(*packet.Unsuback).ReasonCodes))
	}

	// What c publishes: the PUBACK codes and which messages reach the
	// watcher, before c's marker.
	var pubacks []packet.ReasonCode
	for i, topic := range dynsecTopics {
		c.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(10 + i), Payload: []byte("from " + who.clientID)})
	}
	c.send(&packet.Publish{Topic: marker, Payload: []byte("from " + who.clientID)})
	for i, topic := range dynsecTopics {
		p, _, err := c.await(isAck(packet.PUBACK, uint16(10+i)))
		if err != nil {
			add("PUBACK on %s: %s", topic, dynsecErr(err))
			return out
		}
		pubacks = append(pubacks, p.(*packet.Ack).ReasonCode)
	}
	add("PUBACK %s", dynsecCodes(pubacks))
	_, seen, err := watcher.await(func(p packet.Packet) bool {
		m, ok := p.(*packet.Publish)
		return ok && m.Topic == marker && string(m.Payload) == "from "+who.clientID
	})
	if err != nil {
		t.Fatalf("%s: %s: the watcher did not get the marker: %v", b.name, who.label, err)
	}
	add("delivers %q", dynsecDistinct(seen, " from "+who.clientID))
	return out
}

// dynsecDistinct returns, sorted, the topics of the messages of got (each
// "topic payload") with the payload suffix, each once. The payload leaves
// out the brokers' own retained $SYS messages, which differ. Each topic
// once: mosquitto sends a copy of a message for every subscription of the
// client it matches, midge one copy (see README.md); what matters here is
// whether the plugin let it through.
func dynsecDistinct(got []string, suffix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range got {
		topic, ok := strings.CutSuffix(m, suffix)
		if ok && !seen[topic] {
			seen[topic] = true
			out = append(out, topic)
		}
	}
	sort.Strings(out)
	return out
}

// dynsecSame fails the test where got, midge's decisions, are not
// want, mosquitto's.
func dynsecSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d decisions, mosquitto %d:\nmidge:\n%s\nmosquitto:\n%s", what, len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s:\nmidge:     %s\nmosquitto: %s", what, got[i], want[i])
		}
	}
}

// dynsecKicks connects kim, in 5.0 and 3.1.1, and runs commands that
// change her rights: each must disconnect both connections (the 5.0 one
// with DISCONNECT 0x98, administrative action). It returns what
// happened, line by line.
func dynsecKicks(t *testing.T, b *dynsecBroker) []string {
	t.Helper()
	kim5 := dynsecIdentity{label: "kim", clientID: "kim5", username: "kim", password: "kimpw", hasUsername: true, has: true}
	kim3 := kim5
	kim3.clientID = "kim3"
	var out []string
	for _, step := range [][]string{
		{"addClientRole", "kim", "all"},
		{"removeClientRole", "kim", "all"},
		{"addGroupClient", "everyone", "kim"},
		{"disableClient", "kim"},
		{"enableClient", "kim"},
		{"setClientPassword", "kim", "kimpw"},
		{"deleteClient", "kim"},
	} {
		c5, code5 := dialDynsec(b.port, packet.V5, kim5)
		c3, code3 := dialDynsec(b.port, packet.V311, kim3)
		line := fmt.Sprintf("%s: CONNACK 5.0 %s 3.1.1 %s; ", strings.Join(step, " "), code5, code3)
		r := b.ctrl(t, step...)
		line += fmt.Sprintf("exit %d %q; ", r.code, r.stdout)
		for _, c := range []*dynsecConn{c5, c3} {
			if c == nil {
				continue
			}
			p, err := c.recv(5 * time.Second)
			switch d, ok := p.(*packet.Disconnect); {
			case err != nil:
				line += fmt.Sprintf("%s %s; ", c.id, dynsecErr(err))
				continue
			case ok:
				line += fmt.Sprintf("%s DISCONNECT 0x%02x", c.id, byte(d.ReasonCode))
			default:
				line += fmt.Sprintf("%s %T", c.id, p)
			}
			_, err = c.recv(5 * time.Second)
			line += fmt.Sprintf(" then %s; ", dynsecErr(err))
			c.close()
		}
		out = append(out, line)
	}
	_, code := dialDynsec(b.port, packet.V5, kim5)
	out = append(out, "kim deleted: CONNACK "+code)
	return out
}

func TestDynsecAccessParity(t *testing.T) {
	dynsecNeed(t)
	initial := dynsecInitFile(t)
	for _, anonymous := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_anonymous %v", anonymous), func(t *testing.T) {
			m := startDynsecMidge(t, initial, anonymous)
			q := startDynsecMosquitto(t, initial, anonymous)
			for _, step := range dynsecSetup {
				dynsecCtrlSame(t, m, q, step...)
			}
			want := dynsecDecisions(t, q)
			dynsecSame(t, "decisions", dynsecDecisions(t, m), want)

			// Changes persist: midge restarted reads its file back, and a
			// fresh mosquitto reads it.
			m.restart(t)
			dynsecSame(t, "decisions of midge restarted", dynsecDecisions(t, m), want)
			written, err := os.ReadFile(m.file)
			if err != nil {
				t.Fatal(err)
			}
			q2 := startDynsecMosquitto(t, written, anonymous)
			dynsecSame(t, "decisions of mosquitto on midge's file", dynsecDecisions(t, q2), want)
			q2.mosq.Stop()

			// Commands that change a client's rights disconnect it.
			wantKicks := dynsecKicks(t, q)
			dynsecSame(t, "kicks", dynsecKicks(t, m), wantKicks)
			for _, l := range wantKicks {
				if strings.HasPrefix(l, "disableClient") || strings.HasPrefix(l, "deleteClient") {
					if !strings.Contains(l, "kim5 DISCONNECT 0x98 then closed; kim3 closed;") {
						t.Errorf("mosquitto: %s", l)
					}
				}
			}
		})
	}
}

// TestDynsecRefusesToStart: midge does not run with less security than
// the configuration asks for: a plugin file it cannot read, a plugin it
// does not have or the plugin without its file stop the start. Mosquitto
// 2.0.11 starts in the first and the last case (with the plugin holding
// nothing, or not activated) and stops in the second: midge stops in all,
// on purpose.
func TestDynsecRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	good := []byte(`{"clients":[],"groups":[],"roles":[],"defaultACLAccess":{"publishClientSend":false}}`)
	truncated := filepath.Join(dir, "truncated.json")
	os.WriteFile(truncated, good[:len(good)/2], 0o600)
	notObject := filepath.Join(dir, "clients.json")
	os.WriteFile(notObject, []byte(`{"clients":5}`), 0o600)
	for _, tc := range []struct {
		name  string
		lines []string
		want  string // with %s the configuration file
	}{
		{"truncated JSON", []string{"plugin " + dynsecSO, "plugin_opt_config_file " + truncated}, truncated},
		{"clients not an array", []string{"plugin " + dynsecSO, "plugin_opt_config_file " + notObject}, notObject},
		{"another plugin", []string{"plugin /usr/lib/x86_64-linux-gnu/mosquitto_other_plugin.so", "plugin_opt_config_file " + truncated}, "%s:3: plugin /usr/lib/x86_64-linux-gnu/mosquitto_other_plugin.so"},
		{"no plugin_opt_config_file", []string{"plugin " + dynsecSO}, "%s:3: the dynamic security plugin needs plugin_opt_config_file"},
		{"empty plugin_opt_config_file", []string{"plugin /opt/mosquitto/lib/mosquitto_dynamic_security.so", "plugin_opt_config_file"}, "%s:4: empty plugin_opt_config_file value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := writeConf(t, append([]string{"user root", fmt.Sprintf("listener %d 127.0.0.1", freePort(t))}, tc.lines...)...)
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, conf)
			}
			out, code := dynsecRunMidge(t, "", "-c", conf)
			if code == 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d, want non-zero with %q in:\n%s", code, want, out)
			}
			if strings.Contains(out, " running") {
				t.Fatalf("midge ran:\n%s", out)
			}
		})
	}

	// A configuration file given by a relative name is named as given, as
	// Mosquitto names it.
	t.Run("relative configuration name", func(t *testing.T) {
		cdir := t.TempDir()
		os.WriteFile(filepath.Join(cdir, "bad.conf"), []byte(fmt.Sprintf("user root\nlistener %d 127.0.0.1\nplugin %s\nplugin_opt_config_file %s\n", freePort(t), dynsecSO, truncated)), 0o600)
		out, code := dynsecRunMidge(t, cdir, "-c", "bad.conf")
		if code == 0 {
			t.Fatalf("midge ran:\n%s", out)
		}
		if !strings.Contains(out, "Error: bad.conf:3: ") {
			t.Errorf("the error does not name bad.conf:3 as written:\n%s", out)
		}
	})
}

// dynsecRunMidge runs midge with args in dir (the test's directory if
// ""), which must exit within 20 s, and returns its output and exit
// status.
func dynsecRunMidge(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := midgeCmd(t, "midge", args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.Env = append(os.Environ(), "MIDGE_TEST_MAIN=midge")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("midge %v did not exit:\n%s", args, out)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}
