package sub

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/internal/cli/clientflags"
	"github.com/midge-mqtt/midge/internal/testtool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI: %v", name, err)
			}
			t.Skipf("%s not installed", name)
		}
	}
}

// startMosquitto runs a real broker on a free loopback port and waits for
// its "running" log line.
func startMosquitto(t *testing.T) string {
	t.Helper()
	// A port below the ephemeral range: one from port 0 may be taken as
	// a parallel test's source port before mosquitto listens on it.
	port := testtool.ListenPort(t)
	testtool.Mosquitto(t, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", port))
	return strconv.Itoa(port)
}

func mosquittoPub(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mosquitto_pub", args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

var hermetic = clientflags.Env{
	Getenv:   func(string) string { return "" },
	ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist },
}

// masks hides what legitimately differs between two runs: clocks and the
// remaining message expiry.
var masks = []*regexp.Regexp{
	regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6}Z)?[+-]\d{4}`),
	regexp.MustCompile(`\d{10}\.\d{9}`),
	regexp.MustCompile(`"message-expiry-interval":\s*\d+`),
	regexp.MustCompile(`E<\d*>`),
}

func mask(s string) string {
	for _, re := range masks {
		s = re.ReplaceAllString(s, "MASKED")
	}
	return s
}

// TestSideBySideWithMosquittoSub publishes retained messages to a real
// mosquitto and compares what mosquitto_sub and midge sub print for the
// same flags.
func TestSideBySideWithMosquittoSub(t *testing.T) {
	needTools(t, "mosquitto", "mosquitto_pub", "mosquitto_sub")
	port := startMosquitto(t)
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(bin, []byte{0, 1, 2, 0xff, '"', '\\', 'x', '\n'}, 0o600); err != nil {
		t.Fatal(err)
	}
	p := []string{"-p", port, "-r"}
	mosquittoPub(t, append(p, "-t", "s/1", "-m", "plain text", "-q", "1")...)
	mosquittoPub(t, append(p, "-t", "s/2", "-f", bin, "-q", "2")...)
	mosquittoPub(t, append(p, "-t", "s/3", "-m", `{"temp":27.0,"h":[1,2],"s":"é"}`, "-V", "5",
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "message-expiry-interval", "3600",
		"-D", "publish", "content-type", "application/json",
		"-D", "publish", "response-topic", "reply/here",
		"-D", "publish", "correlation-data", "corr-42",
		"-D", "publish", "user-property", "k1", "v1",
		"-D", "publish", "user-property", "k1", "v2")...)
	// A null retained message clears s/4, so four messages remain.
	mosquittoPub(t, append(p, "-t", "s/4", "-n")...)
	mosquittoPub(t, append(p, "-t", "s/5/deep", "-m", "a\tb", "-q", "1")...)

	all := "%t|%p|%q|%r|%l|%m|%x|%X|%C|%R|E<%E>|%F|%P|%D|%S|%A|%%|%10t|%-10t|%5.2t|%05l|%-5l|%-p|%3p|%10x|%I|%U|@Y-@m-@dT@H:@M:@S@z@@|\\t\\\\"
	runs := [][]string{
		{"-v"},
		{"-N"},
		{"-v", "-N"},
		{"-F", all},
		{"-F", all, "-V", "5", "-D", "subscribe", "subscription-identifier", "9"},
		{"-F", "%j", "-V", "5", "-D", "subscribe", "subscription-identifier", "9"},
		{"-F", "%j", "--pretty", "-V", "5"},
		{"-F", "%J", "-V", "5"},
		{"-F", "%J", "--pretty", "-V", "mqttv31"},
		{"-d", "-v", "-i", "fixed-id"},
		{"-d", "-v", "-i", "fixed-id", "-V", "5"},
		{"-v", "-T", "s/5/#", "-T", "s/1", "-C", "2"},
		{"-v", "-R", "-W", "1"},
		{"-v", "-R", "-V", "5", "-W", "1"},
		{"-v", "--retained-only", "-W", "1"},
		{"-v", "-E"},
	}
	for _, flags := range runs {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			// -W bounds every run; a later -C overrides the default count.
			args := append([]string{"-p", port, "-t", "s/#", "-q", "1", "-C", "4", "-W", "5"}, flags...)
			cmd := exec.Command("mosquitto_sub", args...)
			var wantOut, wantErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &wantOut, &wantErr
			wantCode := 0
			if err := cmd.Run(); err != nil {
				ee, ok := err.(*exec.ExitError)
				if !ok {
					t.Fatal(err)
				}
				wantCode = ee.ExitCode()
			}
			var gotOut, gotErr bytes.Buffer
			gotCode := run(context.Background(), args, &gotOut, &gotErr, hermetic, nil)
			if gotCode != wantCode {
				t.Errorf("exit %d, want %d", gotCode, wantCode)
			}
			if g, w := mask(gotOut.String()), mask(wantOut.String()); g != w {
				t.Errorf("stdout differs\ngot:\n%q\nwant:\n%q", g, w)
			}
			if g, w := gotErr.String(), wantErr.String(); g != w {
				t.Errorf("stderr %q, want %q", g, w)
			}
		})
	}
}
