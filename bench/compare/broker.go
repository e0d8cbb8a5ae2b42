package main

import (
	"bytes"
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

// This file starts and stops broker processes and reads their memory and
// CPU use from /proc.

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

// statusKB returns a "Vm..." field of /proc/PID/status in kilobytes.
func statusKB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssBytes is the broker's resident set size.
func (b *brokerProc) rssBytes() (int64, error) {
	kb, err := statusKB(b.pid(), "VmRSS")
	return kb << 10, err
}

// peakRSSBytes is the broker's largest resident set size so far.
func (b *brokerProc) peakRSSBytes() (int64, error) {
	kb, err := statusKB(b.pid(), "VmHWM")
	return kb << 10, err
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time the broker has used.
func (b *brokerProc) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.pid()))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces: fields are counted
	// from the closing parenthesis, after which utime and stime are the
	// 12th and 13th.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat format")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// selfCPUTime returns the user plus system CPU time of this process.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusyTime returns the CPU time all processors of the machine have
// spent on anything but idling, from the first line of /proc/stat. With
// the broker's and our own share taken out, it tells whether something
// else competed for the processors during a run.
func machineBusyTime() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user, idle and iowait are not busy.
	for i, v := range f[1:min(len(f), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

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
