package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// This file starts and stops broker processes; the bench package reads
// their memory and CPU use from /proc.

// brokerSpec names a broker and the binary that runs it. Both brokers take
// the same command line (-c FILE) and the same config file.
type brokerSpec struct {
	name string
	path string
}

// brokerConfig is the config both brokers run with: one loopback listener,
// anonymous clients, Mosquitto's default queue limit written out, no $SYS
// traffic and no logging beyond errors.
func brokerConfig(port int) string {
	return fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
max_queued_messages 1000
sys_interval 0
log_dest stderr
log_type error
`, port)
}

// brokerProc is a running broker child process.
type brokerProc struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
	stderr *tailBuffer
}

// startBroker writes a config file into dir, starts the broker on a free
// loopback port and waits until it accepts TCP connections.
func startBroker(ctx context.Context, spec brokerSpec, dir string) (*brokerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, spec.name+".conf")
	if err := os.WriteFile(confPath, []byte(brokerConfig(port)), 0o644); err != nil {
		return nil, err
	}
	b := &brokerProc{
		name:   spec.name,
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		exited: make(chan struct{}),
		stderr: &tailBuffer{max: 8 << 10},
	}
	b.cmd = exec.Command(spec.path, "-c", confPath)
	b.cmd.Dir = dir
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	// The broker dies with us even if we are killed without a chance to
	// clean up.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.waitReady(ctx, 10*time.Second); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// waitReady polls the listener until a TCP connection succeeds.
func (b *brokerProc) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", b.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("%s exited before accepting connections: %s", b.name, b.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections on %s within %v", b.name, b.addr, timeout)
		}
	}
}

// alive reports an error if the broker process has exited.
func (b *brokerProc) alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("%s exited: %s", b.name, b.stderr.String())
	default:
		return nil
	}
}

// stop asks the broker to exit and kills it if it does not within 5 s.
// It is safe to call more than once.
func (b *brokerProc) stop() {
	if b == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = b.cmd.Process.Kill()
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
	}
}

func (b *brokerProc) pid() int { return b.cmd.Process.Pid }

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// buildMidge compiles the broker from the module at root into dir.
func buildMidge(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "midge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/midge")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build midge: %w\n%s", err, msg)
	}
	return out, nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the midge repository")
	}
	return filepath.Dir(mod), nil
}

// findMosquitto looks for the mosquitto binary on PATH and in the sbin
// directories distributions install it to, which are often not on a
// normal user's PATH.
func findMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mosquitto not found (install it or pass -mosquitto PATH)")
}

// binaryVersion returns the first line of "path args...", or "unknown".
func binaryVersion(path string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, args...).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "unknown"
	}
	return line
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return "(no output)"
	}
	return s
}

// listenOverflows returns the kernel's count of connections dropped
// because a listen queue was full (TcpExt ListenOverflows, system-wide).
// Each one costs the client a SYN retransmission, a second or more, so a
// low connect rate with overflows measures the listen backlog rather than
// the broker's speed.
func listenOverflows() int64 {
	data, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	// The file holds pairs of lines: "TcpExt: names..." then "TcpExt: values...".
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == "ListenOverflows" {
				v, _ := strconv.ParseInt(values[j], 10, 64)
				return v
			}
		}
	}
	return 0
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
