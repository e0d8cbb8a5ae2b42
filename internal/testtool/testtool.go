// Package testtool runs, for tests, the real programs midge is compared
// with: Debian's mosquitto and its clients. A test that needs one skips
// when it is not installed, except in CI (CI set in the environment),
// where that is a failure.
package testtool

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	if os.Geteuid() == 0 {
		// Otherwise mosquitto drops to user mosquitto, which cannot read
		// the files in the test's temporary directory.
		conf = "user root\n" + conf
	}
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Need(t, "mosquitto"), "-c", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log strings.Builder
		ok := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !ok && strings.Contains(sc.Text(), " running") {
				ok = true
				ready <- ""
			}
		}
		if !ok {
			ready <- log.String()
		}
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			t.Fatalf("mosquitto exited before it was running:\n%s", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto did not start")
	}
}
