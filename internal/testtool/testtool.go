// Package testtool runs, for tests, the real programs midge is compared
// with: Debian's mosquitto and its clients. A test that needs one skips
// when it is not installed, except in CI (CI set in the environment),
// where that is a failure.
package testtool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of an installed program, skipping the test when it
// is absent, except in CI, where it fails.
func Need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI: %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// Have reports whether a program is installed, for tests that check
// against it when they can; in CI it must be.
func Have(t testing.TB, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		return false
	}
	return true
}

// Mosquitto runs Debian's mosquitto with the configuration conf (which
// names its listeners) until the test ends, and returns once it logs that
// it is running.
func Mosquitto(t testing.TB, conf string) {
	t.Helper()
	StartMosquitto(t, conf)
}

// MosquittoProcess is a mosquitto run by StartMosquitto: a test may kill
// it, stop it and start it again on the same configuration (and so on the
// same ports and persistence files).
type MosquittoProcess struct {
	t    testing.TB
	bin  string
	conf string // the configuration file

	mu   sync.Mutex
	cmd  *exec.Cmd     // the current run, nil when not running
	exit chan struct{} // closed when the current run has exited
	log  *logBuffer    // every run's log, in order
}

// StartMosquitto runs Debian's mosquitto with the configuration conf
// (which names its listeners) and returns once it logs that it is
// running. It runs until the test ends, unless the test stops it first.
func StartMosquitto(t testing.TB, conf string) *MosquittoProcess {
	t.Helper()
	if os.Geteuid() == 0 {
		// Otherwise mosquitto drops to user mosquitto, which cannot read
		// the files in the test's temporary directory.
		conf = "user root\n" + conf
	}
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &MosquittoProcess{t: t, bin: Need(t, "mosquitto"), conf: path, log: &logBuffer{changed: make(chan struct{})}}
	t.Cleanup(m.Kill)
	m.Start()
	return m
}

// Start runs mosquitto again after Kill or Stop and returns once it logs
// that it is running.
func (m *MosquittoProcess) Start() {
	m.t.Helper()
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		m.t.Fatal("mosquitto is already running")
	}
	cmd := exec.Command(m.bin, "-c", m.conf)
	mark := m.log.len()
	cmd.Stderr = m.log
	cmd.Stdout = m.log
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		m.t.Fatal(err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	m.cmd, m.exit = cmd, exit
	m.mu.Unlock()

	deadline := time.After(10 * time.Second)
	for {
		text, changed := m.log.since(mark)
		if strings.Contains(text, " running") {
			return
		}
		select {
		case <-changed:
		case <-exit:
			text, _ := m.log.since(mark)
			m.forget(cmd)
			m.t.Fatalf("mosquitto exited before it was running:\n%s", text)
		case <-deadline:
			m.t.Fatal("mosquitto did not start")
		}
	}
}

func (m *MosquittoProcess) forget(cmd *exec.Cmd) {
	m.mu.Lock()
	if m.cmd == cmd {
		m.cmd = nil
	}
	m.mu.Unlock()
}

// Kill ends mosquitto with SIGKILL, as a crash would: it saves nothing.
// It returns once the process has exited; it does nothing if mosquitto
// is not running.
func (m *MosquittoProcess) Kill() { m.end(syscall.SIGKILL) }

// Stop ends mosquitto with SIGTERM, which saves its persistence file,
// and returns once it has exited.
func (m *MosquittoProcess) Stop() { m.end(syscall.SIGTERM) }

func (m *MosquittoProcess) end(sig syscall.Signal) {
	m.mu.Lock()
	cmd, exit := m.cmd, m.exit
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exit:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exit
		m.t.Errorf("mosquitto did not exit on %v", sig)
	}
}

// Signal sends sig to the running mosquitto (SIGSTOP and SIGCONT to
// make it hang and go on, SIGUSR1 to save its persistence file).
func (m *MosquittoProcess) Signal(sig os.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return errors.New("mosquitto is not running")
	}
	return m.cmd.Process.Signal(sig)
}

// Pid is the process id of the running mosquitto, 0 if none.
func (m *MosquittoProcess) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Log is everything mosquitto has logged so far, over all its runs.
func (m *MosquittoProcess) Log() string {
	text, _ := m.log.since(0)
	return text
}

// logBuffer collects a process's output and tells waiters when it grows.
type logBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // closed and replaced on every write
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logBuffer) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// since returns what was written after the first n bytes, and a channel
// closed at the next write.
func (l *logBuffer) since(n int) (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()[n:], l.changed
}

// ListenPort returns a free port on 127.0.0.1 below the kernel's range of
// ephemeral ports, for a server a test starts on a port it must know
// beforehand (see FreePort).
func ListenPort(t testing.TB) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago, below
// the kernel's range of ephemeral ports when there is room. A port from
// listening on port 0 is in that range: between its release and the
// server's listen, any outgoing connection on the machine may take it as
// its source port.
func FreePort() (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 10000
	if low > from+1000 {
		for range 100 {
			port := from + rand.IntN(low-from)
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				ln.Close()
				return port, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
