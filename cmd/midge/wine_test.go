//go:build linux && amd64

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/testtool"
)

// TestWindowsBuildUnderWine builds midge for windows/amd64 and runs it
// under Wine: it starts, takes a subscription and a QoS 1 publish from
// Debian's mosquitto_sub and mosquitto_pub, delivers the message and is
// stopped.
func TestWindowsBuildUnderWine(t *testing.T) {
	wine := testtool.Need(t, "wine")
	wineboot := testtool.Need(t, "wineboot")
	wineserver := testtool.Need(t, "wineserver")
	gcc := testtool.Need(t, "x86_64-w64-mingw32-gcc")
	pub := testtool.Need(t, "mosquitto_pub")
	sub := testtool.Need(t, "mosquitto_sub")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	run := func(env []string, name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	exe := filepath.Join(dir, "midge.exe")
	run([]string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"}, "go", "build", "-o", exe, ".")

	prefix := filepath.Join(dir, "wine")
	wineEnv := []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml="}
	run(wineEnv, wineboot, "-i")
	run(nil, gcc, "-O2", "-shared", "-o", filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"),
		filepath.Join("testdata", "wine", "prng.c"), "-ladvapi32")

	port := listenPort(t)
	log := &syncBuffer{}
	broker := exec.CommandContext(ctx, wine, exe, "-p", fmt.Sprint(port), "-v")
	broker.Env = append(os.Environ(), wineEnv...)
	broker.Stdout, broker.Stderr = log, log
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- broker.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("midge.exe log:\n%s", log.String())
		}
	}()
	waitLog(t, "midge.exe", log.String, " running", 1)

	subCmd := exec.CommandContext(ctx, sub, "-p", fmt.Sprint(port), "-t", "smoke/#", "-v", "-C", "1", "-W", "30", "-q", "1")
	var got bytes.Buffer
	subCmd.Stdout = &got
	if err := subCmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitLog(t, "midge.exe", log.String, "Sending SUBACK", 1)
	run(nil, pub, "-p", fmt.Sprint(port), "-t", "smoke/test", "-m", "hello from windows", "-q", "1")
	if err := subCmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if want := "smoke/test hello from windows\n"; got.String() != want {
		t.Fatalf("mosquitto_sub printed %q, want %q", got.String(), want)
	}

	// Stop: Wine gives the Windows process no console to send Ctrl-C to,
	// so the broker is killed with the Wine server.
	run(wineEnv, wineserver, "-k")
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = broker.Process.Kill()
		t.Fatal("midge.exe did not stop")
	}
	for _, want := range []string{"midge version", "running", "Received PUBLISH", "Sending PUBLISH"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log has no %q", want)
		}
	}
}
