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

// Builds for other platforms, run on this machine: the Windows build
// under Wine, the Linux arm64 and arm builds under QEMU's user mode. Each
// starts, takes a subscription and a QoS 1 publish from Debian's
// mosquitto_sub and mosquitto_pub, delivers the message and is stopped.

// crossBuild builds midge for goos/goarch (and GOARM=7) into dir.
func crossBuild(ctx context.Context, t *testing.T, dir, goos, goarch string) string {
	t.Helper()
	exe := filepath.Join(dir, "midge-"+goos+"-"+goarch)
	if goos == "windows" {
		exe += ".exe"
	}
	runTool(ctx, t, []string{"GOOS=" + goos, "GOARCH=" + goarch, "GOARM=7", "CGO_ENABLED=0"}, "go", "build", "-o", exe, ".")
	return exe
}

// runTool runs a command to completion, failing the test if it fails.
// Its output goes to a file, not a pipe: a Wine command may leave Wine's
// service manager running with the command's output, and a pipe would
// stay open until that ends.
func runTool(ctx context.Context, t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

// smokeRoundTrip starts broker (a midge started with `-p port -v`),
// checks a mosquitto_sub / mosquitto_pub round trip through it, then
// calls stop, waits for the broker to exit and returns how it exited.
func smokeRoundTrip(ctx context.Context, t *testing.T, broker *exec.Cmd, port int, stop func()) (exit error) {
	t.Helper()
	pub := testtool.Need(t, "mosquitto_pub")
	sub := testtool.Need(t, "mosquitto_sub")
	log := &syncBuffer{}
	broker.Stdout, broker.Stderr = log, log
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- broker.Wait() }()
	defer func() {
		if t.Failed() {
			_ = broker.Process.Kill()
			t.Logf("broker log:\n%s", log.String())
		}
	}()
	// " running\n", not " running": the local-only notice speaks of
	// "clients running on this machine".
	waitLog(t, broker.Path, log.String, " running\n", 1)

	subCmd := exec.CommandContext(ctx, sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-t", "smoke/#", "-v", "-C", "1", "-W", "30", "-q", "1")
	var got, subErr bytes.Buffer
	subCmd.Stdout, subCmd.Stderr = &got, &subErr
	if err := subCmd.Start(); err != nil {
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() { subDone <- subCmd.Wait() }()
	deadline := time.After(time.Minute)
	for !strings.Contains(log.String(), "Sending SUBACK") {
		select {
		case err := <-subDone:
			t.Fatalf("mosquitto_sub ended before it subscribed: %v %s", err, subErr.String())
		case <-deadline:
			t.Fatal("no SUBACK within a minute")
		case <-time.After(20 * time.Millisecond):
		}
	}
	runTool(ctx, t, nil, pub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-t", "smoke/test", "-m", "hello", "-q", "1")
	if err := <-subDone; err != nil {
		t.Fatalf("mosquitto_sub: %v %s", err, subErr.String())
	}
	if want := "smoke/test hello\n"; got.String() != want {
		t.Fatalf("mosquitto_sub printed %q, want %q", got.String(), want)
	}
	stop()
	select {
	case exit = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the broker did not stop")
	}
	for _, want := range []string{"midge version", "Received PUBLISH", "Sending PUBLISH"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log has no %q", want)
		}
	}
	return exit
}

// TestWindowsBuildUnderWine runs the windows/amd64 build under Wine, in
// one Wine prefix: the broker from a console, the broker as a Windows
// service (midge install, net start, a round trip, net stop, midge
// uninstall), and the service handler's unit test built for Windows.
func TestWindowsBuildUnderWine(t *testing.T) {
	wine := testtool.Need(t, "wine")
	wineboot := testtool.Need(t, "wineboot")
	wineserver := testtool.Need(t, "wineserver")
	gcc := testtool.Need(t, "x86_64-w64-mingw32-gcc")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	exe := crossBuild(ctx, t, dir, "windows", "amd64")

	prefix := filepath.Join(dir, "wine")
	wineEnv := []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml="}
	runTool(ctx, t, wineEnv, wineboot, "-i")
	// The service's configuration is in C:\midge: MIDGE_DIR in the
	// system environment, which services get (as `setx /M` sets it).
	runTool(ctx, t, wineEnv, wine, "reg", "add", `HKLM\System\CurrentControlSet\Control\Session Manager\Environment`,
		"/v", "MIDGE_DIR", "/d", `C:\midge`, "/f")
	// The prefix is ready once the server wineboot started has gone.
	runTool(ctx, t, wineEnv, wineserver, "-w")
	// A persistent Wine server: its service manager must outlive each
	// command, as Windows' does.
	runTool(ctx, t, wineEnv, wineserver, "-p")
	t.Cleanup(func() {
		cmd := exec.Command(wineserver, "-k")
		cmd.Env = append(os.Environ(), wineEnv...)
		_ = cmd.Run()
	})
	runTool(ctx, t, nil, gcc, "-O2", "-shared", "-o", filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"),
		filepath.Join("testdata", "wine", "prng.c"), "-ladvapi32")

	t.Run("service", func(t *testing.T) {
		port := testtool.ListenPort(t)
		conf := filepath.Join(prefix, "drive_c", "midge")
		if err := os.MkdirAll(conf, 0o755); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlog_dest file C:\\midge\\midge.log\nlog_type all\n", port)
		if err := os.WriteFile(filepath.Join(conf, "mosquitto.conf"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		log := func() string { b, _ := os.ReadFile(filepath.Join(conf, "midge.log")); return string(b) }
		runTool(ctx, t, wineEnv, wine, exe, "install")
		runTool(ctx, t, wineEnv, wine, "net", "start", "midge")
		defer func() {
			if t.Failed() {
				query := exec.Command(wine, "sc", "query", "midge")
				query.Env = append(os.Environ(), wineEnv...)
				var out bytes.Buffer
				query.Stdout = &out
				_ = query.Start()
				time.AfterFunc(10*time.Second, func() { _ = query.Process.Kill() })
				_ = query.Wait()
				t.Logf("sc query midge:\n%s", out.String())
			}
		}()
		waitLog(t, "the service", log, " running\n", 1)
		runTool(ctx, t, nil, testtool.Need(t, "mosquitto_pub"), "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-t", "svc/test", "-m", "hello", "-q", "1")
		waitLog(t, "the service", log, "Received PUBLISH", 1)
		runTool(ctx, t, wineEnv, wine, "net", "stop", "midge")
		waitLog(t, "the service", log, " terminating\n", 1)
		runTool(ctx, t, wineEnv, wine, exe, "uninstall")
	})

	t.Run("handler", func(t *testing.T) {
		test := filepath.Join(dir, "service.test.exe")
		runTool(ctx, t, []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"}, "go", "test", "-c", "-o", test, "../../internal/service")
		runTool(ctx, t, wineEnv, wine, test, "-test.run", "TestServiceHandler")
	})
	// The broker from a console, last: its stop ends the Wine server.
	t.Run("console", func(t *testing.T) {
		port := testtool.ListenPort(t)
		broker := exec.CommandContext(ctx, wine, exe, "-p", fmt.Sprint(port), "-v")
		broker.Env = append(os.Environ(), wineEnv...)
		// Wine gives the Windows process no console to send Ctrl-C to:
		// the broker is stopped with the Wine server.
		smokeRoundTrip(ctx, t, broker, port, func() { runTool(ctx, t, wineEnv, wineserver, "-k") })
	})

}

// TestLinuxArmBuildsUnderQEMU runs the linux/arm64 and linux/arm (v7)
// builds under QEMU's user mode; SIGTERM stops them as on real hardware.
func TestLinuxArmBuildsUnderQEMU(t *testing.T) {
	for _, arch := range []struct{ goarch, qemu string }{{"arm64", "qemu-aarch64"}, {"arm", "qemu-arm"}} {
		t.Run(arch.goarch, func(t *testing.T) {
			qemu := testtool.Need(t, arch.qemu)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			exe := crossBuild(ctx, t, t.TempDir(), "linux", arch.goarch)
			port := testtool.ListenPort(t)
			broker := exec.CommandContext(ctx, qemu, exe, "-p", fmt.Sprint(port), "-v")
			exit := smokeRoundTrip(ctx, t, broker, port, func() {
				if err := broker.Process.Signal(os.Interrupt); err != nil {
					t.Error(err)
				}
			})
			if exit != nil {
				t.Errorf("stopped with SIGINT: %v, want exit status 0", exit)
			}
		})
	}
}
