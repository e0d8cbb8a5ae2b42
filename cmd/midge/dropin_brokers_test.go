package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dropinTools are the Mosquitto programs the drop-in tests compare with.
type dropinTools struct {
	broker, pub, sub, passwd string
	stdbuf                   string // coreutils, to line-buffer mosquitto_sub
}

// needMosquitto finds Debian's mosquitto and mosquitto-clients. Without
// them the drop-in tests skip, except in CI, which installs them and must
// never silently skip the comparison.
func needMosquitto(t *testing.T) dropinTools {
	t.Helper()
	find := func(name string, extra ...string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		// The broker lives in /usr/sbin, often not on a user's PATH.
		for _, p := range extra {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: CI must install mosquitto and mosquitto-clients", name)
		}
		t.Skipf("%s not found: install mosquitto and mosquitto-clients to compare with Mosquitto", name)
		return ""
	}
	return dropinTools{
		broker: find("mosquitto", "/usr/sbin/mosquitto"),
		pub:    find("mosquitto_pub"),
		sub:    find("mosquitto_sub"),
		passwd: find("mosquitto_passwd"),
		stdbuf: find("stdbuf"),
	}
}

// dropinPorts are one broker's three listeners.
type dropinPorts struct{ plain, tls, ws int }

// newDropinPorts picks three distinct free ports, holding each open
// until all are chosen (a port just released may be handed out again).
func newDropinPorts(t *testing.T) dropinPorts {
	t.Helper()
	var ports [3]int
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return dropinPorts{plain: ports[0], tls: ports[1], ws: ports[2]}
}

// dropinFiles are the security files both brokers read.
type dropinFiles struct {
	dir, passwords, acl string
	pki                 *dropinPKI
}

// dropinACL has an anonymous section (the lines before the first "user"),
// user sections with every access kind including deny, and patterns.
const dropinACL = `# Clients without a username: only the lines before the first "user" apply.
topic read public/#
topic write public/anon/#

user alice
topic readwrite alice/#
topic read sensors/#
topic deny sensors/secret
topic write sensors/alice/#
topic public/#

user bob
topic read alice/news
topic write alice/inbox
topic read sensors/+/temp
topic readwrite $SYS/#
topic readwrite bob/#

# An operator: "#" covers every topic except those starting with "$".
user ops
topic readwrite #

# The certificate identity of a device on the TLS listener.
user dev-7
topic write telemetry/dev-7/#

# Patterns apply to every client; a %u pattern only to clients with a username.
pattern readwrite users/%u/#
pattern read devices/%c/cmd
pattern write devices/%c/state
pattern read sync/%c
`

// dropinUsers are the password file's entries.
var dropinUsers = [][2]string{{"alice", "alice-pw"}, {"bob", "bob-pw"}, {"ops", "ops-pw"}}

// writeDropinFiles writes the PKI, the ACL file and a password file made
// by the real mosquitto_passwd, so that midge reads Mosquitto's own hashes.
func writeDropinFiles(t *testing.T, tools dropinTools) *dropinFiles {
	t.Helper()
	dir := t.TempDir()
	f := &dropinFiles{
		dir:       dir,
		passwords: filepath.Join(dir, "passwd"),
		acl:       filepath.Join(dir, "acl"),
		pki:       newDropinPKI(t, map[string]string{"alice": "alice", "dev-7": "dev-7", "nocn": ""}),
	}
	for i, u := range dropinUsers {
		args := []string{"-b", f.passwords, u[0], u[1]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, tools.passwd, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(f.acl, []byte(dropinACL), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// dropinConfig is the mosquitto.conf under test. Both brokers get the same
// text; only the port numbers differ so that they can run side by side.
func dropinConfig(f *dropinFiles, p dropinPorts, allowAnonymous bool) string {
	return fmt.Sprintf(`per_listener_settings false
allow_anonymous %t
password_file %s
acl_file %s
# Run as root rather than drop to the mosquitto user: the test files are
# in a directory only root may enter.
user root

listener %d 127.0.0.1

listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true

listener %d 127.0.0.1
protocol websockets
`, allowAnonymous, f.passwords, f.acl, p.plain, p.tls, f.pki.caFile, f.pki.serverCert, f.pki.serverKey, p.ws)
}

// dropinBroker is a running broker process under test.
type dropinBroker struct {
	name  string // "mosquitto" or "midge"
	ports dropinPorts
	log   *syncBuffer
}

// dropinLogWriter lets a syncBuffer be a process's stdout and stderr.
type dropinLogWriter struct{ b *syncBuffer }

func (w dropinLogWriter) Write(p []byte) (int, error) {
	w.b.WriteString(string(p))
	return len(p), nil
}

// startDropinBroker starts cmd and waits until all three listeners accept
// connections, failing early with the broker's log if it exits instead.
// The broker is stopped with SIGTERM (then killed) when the test ends.
func startDropinBroker(t *testing.T, name string, cmd *exec.Cmd, ports dropinPorts) *dropinBroker {
	t.Helper()
	b := &dropinBroker{name: name, ports: ports, log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = dropinLogWriter{b.log}, dropinLogWriter{b.log}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop on SIGTERM", name)
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{ports.plain, ports.tls, ports.ws} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for {
			nc, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				nc.Close()
				break
			}
			select {
			case err := <-exited:
				exited <- err // for the cleanup
				t.Fatalf("%s exited during start (%v):\n%s", name, err, b.log.String())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not listening on %s: %v\n%s", name, addr, err, b.log.String())
			}
		}
	}
	return b
}

// startDropinPair starts Mosquitto and midge side by side, each on its own
// copy of the configuration.
func startDropinPair(t *testing.T, tools dropinTools, f *dropinFiles, allowAnonymous bool) []*dropinBroker {
	t.Helper()
	var out []*dropinBroker
	for _, name := range []string{"mosquitto", "midge"} {
		ports := newDropinPorts(t)
		conf := filepath.Join(f.dir, name+".conf")
		if err := os.WriteFile(conf, []byte(dropinConfig(f, ports, allowAnonymous)), 0o644); err != nil {
			t.Fatal(err)
		}
		var cmd *exec.Cmd
		if name == "mosquitto" {
			cmd = exec.Command(tools.broker, "-c", conf)
		} else {
			cmd = midgeCmd(t, "midge", "-c", conf)
		}
		out = append(out, startDropinBroker(t, name, cmd, ports))
	}
	return out
}

// exitCode is a finished process's status for the observation tables.
func dropinExit(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit 0"
	case errors.As(err, &ee):
		return fmt.Sprintf("exit %d", ee.ExitCode())
	default:
		return "error " + strings.TrimSpace(err.Error())
	}
}
