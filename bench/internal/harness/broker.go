package harness

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

	"github.com/midge-mqtt/midge/internal/testtool"
)

// Spec names a broker and the binary that runs it. midge and Mosquitto
// take the same command line (-c FILE) and the same config file.
type Spec struct {
	Name string
	Path string
}

// Proc is a running broker child process.
type Proc struct {
	Name   string
	Port   int
	Addr   string // 127.0.0.1:Port
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
	stderr *tailBuffer
}

// Start writes the config that config returns for a free loopback port
// into a new file in dir, starts the broker with it and waits until it
// accepts TCP connections.
func Start(ctx context.Context, spec Spec, dir string, config func(port int) string) (*Proc, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, spec.Name+"-*.conf")
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(config(port))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	b := &Proc{
		Name:   spec.Name,
		Port:   port,
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		exited: make(chan struct{}),
		stderr: &tailBuffer{max: 8 << 10},
	}
	b.cmd = exec.Command(spec.Path, "-c", f.Name())
	b.cmd.Dir = dir
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	// The broker dies with us even if we are killed without a chance to
	// clean up (where the system can promise that).
	b.cmd.SysProcAttr = dieWithParent()
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.waitReady(ctx, 10*time.Second); err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

// waitReady polls the listener until a TCP connection succeeds.
func (b *Proc) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("%s exited before accepting connections: %s", b.Name, b.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections on %s within %v", b.Name, b.Addr, timeout)
		}
	}
}

// Alive reports an error if the broker process has exited.
func (b *Proc) Alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("%s exited: %s", b.Name, b.stderr.String())
	default:
		return nil
	}
}

// Output is the end of what the broker has written to stdout and stderr.
func (b *Proc) Output() string { return b.stderr.String() }

// Stop asks the broker to exit and kills it if it does not within 5 s.
// It is safe to call more than once, and on nil.
func (b *Proc) Stop() {
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

// PID is the broker's process id.
func (b *Proc) PID() int { return b.cmd.Process.Pid }

// FreePort returns a loopback TCP port that was free a moment ago, below
// the ephemeral range (testtool.FreePort): the nodes' route ports are
// picked before the nodes listen, while the others already dial.
func FreePort() (int, error) { return testtool.FreePort() }

// BuildMidge compiles the broker from the module at root into dir.
func BuildMidge(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "midge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/midge")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build midge: %w\n%s", err, msg)
	}
	return out, nil
}

// ModuleRoot returns the directory of the main module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
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

// FindMosquitto looks for the mosquitto binary on PATH and in the sbin
// directories distributions install it to, which are often not on a
// normal user's PATH.
func FindMosquitto() (string, error) {
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

// BinaryVersion returns the first line of "path args...", or "unknown".
func BinaryVersion(path string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, args...).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "unknown"
	}
	return line
}

// Version is the version line of a broker binary.
func (s Spec) Version() string {
	if s.Name == "mosquitto" {
		return BinaryVersion(s.Path, "-h")
	}
	return BinaryVersion(s.Path, "version")
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

// Peers are the multi-core brokers the comparison can run beside midge
// and Mosquitto, each built from bench/peers (a module of its own, so that
// midge's go.mod does not grow): the directory of its main package there.
var Peers = map[string]string{"mochi": "./mochi", "nats": "./nats"}

// BrokerPath is the binary to run for the broker name ("midge",
// "mosquitto", or a peer): bin for that broker if not empty, else midge
// built from ./cmd/midge into dir, a peer built from bench/peers into dir,
// or Debian's mosquitto found on the system.
func BrokerPath(ctx context.Context, name, dir, bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	switch name {
	case "midge":
		root, err := ModuleRoot(ctx)
		if err != nil {
			return "", err
		}
		fmt.Println("building midge from ./cmd/midge")
		return BuildMidge(ctx, root, dir)
	case "mosquitto":
		return FindMosquitto()
	}
	pkg, ok := Peers[name]
	if !ok {
		return "", fmt.Errorf("unknown broker %q", name)
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	fmt.Printf("building %s from bench/peers\n", name)
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join(root, "bench", "peers")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", name, err, msg)
	}
	return out, nil
}

// BaseConfig is the config every benchmarked broker starts from, midge
// and Mosquitto alike: one loopback listener on port, anonymous clients,
// the queue limits, no $SYS traffic, and errors and warnings logged
// (shown if a run fails).
func BaseConfig(port, inflight, queued int) string {
	return fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
max_inflight_messages %d
max_queued_messages %d
sys_interval 0
log_dest stderr
log_type error
log_type warning
`, port, inflight, queued)
}
