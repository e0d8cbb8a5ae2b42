//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs midge as systemd runs a Type=notify service
// (Debian's mosquitto.service is one): with $NOTIFY_SOCKET set, the
// broker reports READY=1 once it serves, RELOADING=1 (with the monotonic
// time) and READY=1 around a SIGHUP reload, and STOPPING=1 on SIGTERM.
// Without READY=1 systemd would give up on the unit after its start
// timeout.
func TestSystemdNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			// As /run/systemd/notify: reachable after the broker drops
			// root's privileges.
			dir, err := os.MkdirTemp("", "midge-notify")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "notify")
			env := path
			if abstract {
				path = "\x00midge-notify-test-" + fmt.Sprint(time.Now().UnixNano())
				env = "@" + path[1:]
			}
			sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer sock.Close()
			if !abstract {
				if err := os.Chmod(path, 0o777); err != nil {
					t.Fatal(err)
				}
			}
			next := func(what string) string {
				t.Helper()
				buf := make([]byte, 4096)
				sock.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := sock.Read(buf)
				if err != nil {
					t.Fatalf("waiting for %s: %v", what, err)
				}
				return string(buf[:n])
			}

			cmd := midgeCmd(t, "midge", "-p", fmt.Sprint(freePort(t)))
			cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+env)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			if got := next("READY=1"); got != "READY=1" {
				t.Fatalf("first notification %q, want READY=1", got)
			}
			cmd.Process.Signal(syscall.SIGHUP)
			got := next("RELOADING=1")
			var usec int64
			if _, err := fmt.Sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%d", &usec); err != nil || usec <= 0 {
				t.Fatalf("reload notification %q, want RELOADING=1 and MONOTONIC_USEC", got)
			}
			if got := next("READY=1 after the reload"); got != "READY=1" {
				t.Fatalf("after the reload %q, want READY=1", got)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if got := next("STOPPING=1"); !strings.HasPrefix(got, "STOPPING=1") {
				t.Fatalf("on SIGTERM %q, want STOPPING=1", got)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after SIGTERM: %v", err)
			}
		})
	}
}
