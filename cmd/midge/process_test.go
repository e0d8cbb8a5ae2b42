//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeConf(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "midge.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func stopMidge(t *testing.T, pid int, wait func() error) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop on SIGTERM")
	}
}

func TestPidFile(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "midge.pid")
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", freePort(t)), "pid_file "+pidFile, "user root")
	cmd, _ := startMidge(t, "midge", "-c", conf)
	b, err := os.ReadFile(pidFile)
	if err != nil || string(b) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("pid file %q %v, want %d", b, err, cmd.Process.Pid)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
}

func TestPidFileUnwritable(t *testing.T) {
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", freePort(t)), "pid_file /nonexistent/dir/midge.pid")
	cmd := midgeCmd(t, "midge", "-c", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("started without its pid file")
	}
	if !strings.Contains(stderr.String(), "Error: unable to write pid file") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestDropPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", freePort(t)), "user nobody")
	cmd, _ := startMidge(t, "midge", "-c", conf)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var uid string
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid = strings.Fields(rest)[0]
		}
	}
	if uid == "0" || uid == "" {
		t.Fatalf("still running as uid %q", uid)
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)

	conf = writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", freePort(t)), "user no-such-user-here")
	bad := midgeCmd(t, "midge", "-c", conf)
	var stderr bytes.Buffer
	bad.Stderr = &stderr
	if err := bad.Run(); err == nil || !strings.Contains(stderr.String(), "Unable to drop privileges to 'no-such-user-here' because this user does not exist") {
		t.Fatalf("unknown user: %v %s", err, stderr.String())
	}
}
