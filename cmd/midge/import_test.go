//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// TestFirstStartImportsMosquittoDB: Debian's mosquitto writes its
// mosquitto.db (a retained message, messages queued for an offline
// persistent session); midge started on the same config keeps them.
func TestFirstStartImportsMosquittoDB(t *testing.T) {
	for _, path := range []string{"/usr/sbin/mosquitto", "/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_sub"} {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing in CI: %v", path, err)
			}
			t.Skipf("%s not installed", path)
		}
	}
	dir := t.TempDir()
	// mosquitto may drop privileges and must write here.
	if err := errors.Join(os.Chmod(filepath.Dir(dir), 0o711), os.Chmod(dir, 0o777)); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := writeConf(t, fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true", "persistence true",
		"persistence_location "+dir+"/", "user root")
	mosq := exec.Command("/usr/sbin/mosquitto", "-c", conf)
	if err := mosq.Start(); err != nil {
		t.Fatal(err)
	}
	defer mosq.Process.Kill()
	p := fmt.Sprint(port)
	run := func(args ...string) {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // until mosquitto listens
			if out, err = exec.Command(args[0], args[1:]...).CombinedOutput(); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	run("/usr/bin/mosquitto_sub", "-p", p, "-i", "keep", "-c", "-q", "2", "-t", "q/#", "-E")
	run("/usr/bin/mosquitto_pub", "-p", p, "-t", "ret/a", "-m", "RA", "-r", "-q", "1")
	run("/usr/bin/mosquitto_pub", "-p", p, "-t", "q/1", "-m", "one", "-q", "1")
	run("/usr/bin/mosquitto_pub", "-p", p, "-t", "q/2", "-m", "two", "-q", "2")
	mosq.Process.Signal(os.Interrupt) // mosquitto writes mosquitto.db on exit
	if err := mosq.Wait(); err != nil {
		t.Fatalf("mosquitto: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.db")); err != nil {
		t.Fatal(err)
	}
	// The same database, for the subcommand below.
	dir2 := t.TempDir()
	b, _ := os.ReadFile(filepath.Join(dir, "mosquitto.db"))
	os.WriteFile(filepath.Join(dir2, "mosquitto.db"), b, 0o600)

	cmd, log := startMidge(t, "midge", "-c", conf)
	if !strings.Contains(log.String(), "Imported "+dir+"/mosquitto.db") {
		t.Errorf("no import logged:\n%s", log.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan string, 10)
	c, err := client.Connect(ctx, client.Options{Address: "127.0.0.1:" + p, ClientID: "keep", KeepSession: true,
		OnMessage: func(_ *client.Client, m *client.Message) { got <- fmt.Sprintf("%s=%s@%d", m.Topic, m.Payload, m.QoS) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Connack().SessionPresent {
		t.Fatal("the imported session is not present")
	}
	for _, want := range []string{"q/1=one@1", "q/2=two@2"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %s, want %s", m, want)
			}
		case <-ctx.Done():
			t.Fatalf("queued message %s not delivered", want)
		}
	}
	if _, err := c.Subscribe(ctx, nil, client.Subscription{Filter: "ret/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "ret/a=RA@1" {
			t.Fatalf("retained: got %s", m)
		}
	case <-ctx.Done():
		t.Fatal("retained message not imported")
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)

	// The subcommand refuses a store that exists, and imports into a new one.
	out, err := midgeCmd(t, "midge", "import-mosquitto-db", "-c", conf).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "already holds a store") {
		t.Fatalf("import over an existing store: exit %d\n%s", code, out)
	}
	conf2 := writeConf(t, "persistence true", "persistence_location "+dir2+"/")
	out, err = midgeCmd(t, "midge", "import-mosquitto-db", "-c", conf2).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 sessions, 2 queued or in-flight messages, 1 retained messages") {
		t.Fatalf("import: %v\n%s", err, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
