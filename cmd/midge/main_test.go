package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// The test binary doubles as the midge binary: with MIDGE_TEST_MAIN set it
// runs main with the remaining arguments, so the tests exercise the real
// process (exit codes, signals) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("MIDGE_TEST_MAIN") != "" {
		args := append([]string{os.Getenv("MIDGE_TEST_MAIN")}, os.Args[1:]...)
		os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// midgeCmd returns a command running midge (as argv0 name) with args.
func midgeCmd(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MIDGE_TEST_MAIN="+name)
	return cmd
}

func TestUsageErrorsExit3(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"-x"}, {"-p"}, {"-p", "0"}, {"-c"}, {"-rd"}} {
		cmd := midgeCmd(t, "midge", args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("%v: exit %v, want %d", args, err, 3)
		}
		if !strings.Contains(stdout.String(), "Usage: midge") {
			t.Fatalf("%v: no usage text in %q", args, stdout.String())
		}
		if args[0] != "-h" && !strings.HasPrefix(stderr.String(), "Error: ") {
			t.Fatalf("%v: stderr %q", args, stderr.String())
		}
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

func TestBadConfigNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(conf, []byte("listener 1883\nallow_anonymous maybe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := midgeCmd(t, "midge", "-c", conf)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want %d", err, 3)
	}
	if !strings.Contains(string(out), conf+":2") {
		t.Fatalf("error does not name %s:2: %q", conf, out)
	}
}

// A listener that cannot bind names its file:line once, and the broker
// exits 1, as Mosquitto does.
func TestListenerInUseNamesFileAndLine(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	conf := filepath.Join(t.TempDir(), "m.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\n", taken.Addr().(*net.TCPAddr).Port)), 0o600)
	out, err := midgeCmd(t, "midge", "-c", conf).CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1:\n%s", err, out)
	}
	if n := strings.Count(string(out), conf+":1:"); n != 1 || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("want %s:1: once and the cause in:\n%s", conf, out)
	}
}

func TestRefusesToStartWithLessSecurity(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.acl"), []byte("user alice\ntopic read a/#\ntopic\n"), 0o600)
	for _, tc := range []struct {
		name, line string
		exit       int
		want       string
	}{
		{"missing password file", "password_file " + filepath.Join(dir, "nope"), 13, "Unable to open password file: open " + filepath.Join(dir, "nope")},
		{"missing acl file", "acl_file " + filepath.Join(dir, "nope.acl"), 13, "nope.acl"},
		{"malformed acl file", "acl_file " + filepath.Join(dir, "bad.acl"), 3, filepath.Join(dir, "bad.acl") + ":3:"},
		{"psk", "psk_file " + filepath.Join(dir, "psk"), 3, "psk_file is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "m.conf")
			os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\n%s\n", freePort(t), tc.line)), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := midgeCmd(t, "midge", "-c", conf)
			cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
			cmd.Env = append(os.Environ(), "MIDGE_TEST_MAIN=midge")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errorsAs(err, &ee) || ee.ExitCode() != tc.exit || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %v, want %d with %q in:\n%s", err, tc.exit, tc.want, out)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMidge runs the broker and waits for its "running" line.
func startMidge(t *testing.T, name string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startCmd(t, midgeCmd(t, name, args...))
}

// startCmd is startMidge for a command made ready to run midge.
func startCmd(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	log := &syncBuffer{}
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !signalled && strings.HasSuffix(sc.Text(), " running") {
				close(running)
				signalled = true
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatalf("broker did not start")
	}
	return cmd, log
}

// syncBuffer collects the broker's log lines while tests read them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLocalOnlyBrokerAndSignals(t *testing.T) {
	for _, name := range []string{"midge", "mosquitto"} {
		t.Run(name, func(t *testing.T) {
			port := freePort(t)
			cmd, _ := startMidge(t, name, "-p", fmt.Sprint(port))
			nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "cli", CleanStart: true}, packet.V311)
			nc.Write(b)
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			p, err := packet.ReadPacket(nc, packet.V311, 0)
			if ack, ok := p.(*packet.Connack); err != nil || !ok || ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %v %v", p, err)
			}
			// SIGHUP must not stop the broker; SIGTERM stops it with status 0.
			cmd.Process.Signal(syscall.SIGHUP)
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("broker did not stop on SIGTERM")
			}
		})
	}
}

func TestVersionSubcommand(t *testing.T) {
	out, err := midgeCmd(t, "midge", "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "midge version ") {
		t.Fatalf("%q %v", out, err)
	}
}
