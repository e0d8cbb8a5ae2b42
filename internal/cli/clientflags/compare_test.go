package clientflags_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/internal/cli/pub"
	"github.com/midge-mqtt/midge/internal/cli/rr"
	"github.com/midge-mqtt/midge/internal/cli/sub"
	"github.com/midge-mqtt/midge/internal/testtool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type mainFunc func(args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int

var tools = map[string]mainFunc{
	"mosquitto_pub": func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return pub.Main(a, in, o, e) },
	"mosquitto_sub": func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return sub.Main(a, in, o, e) },
	"mosquitto_rr":  func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return rr.Main(a, in, o, e) },
}

// TestUsageErrorsMatchMosquitto runs command lines that fail before any
// connection through both the real tool and ours and compares stdout,
// stderr and the exit status byte for byte.
func TestUsageErrorsMatchMosquitto(t *testing.T) {
	home := t.TempDir() // no options file
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	cases := map[string][][]string{
		"mosquitto_pub": {
			{"--help"}, {"--version"}, {}, {"-t", "a"}, {"-m", "x"}, {"-rd", "-t", "a", "-m", "x"},
			{"-t", "a", "-m", "x", "-m", "y"}, {"-t", "a", "-m", "x", "-n"}, {"-t", "a/#", "-m", "x"},
			{"-q", "3"}, {"-q"}, {"-k", "2"}, {"-p", "70000"}, {"-V", "4"}, {"-V"}, {"-c", "-t", "a", "-m", "x"},
			{"-v"}, {"-F", "%t"}, {"-i", "a", "-I", "b"}, {"-I", "b", "-i", "a"}, {"-x", "abc"}, {"-x", "-2"},
			{"-D", "publish"}, {"-D", "nope", "content-type", "x"}, {"-D", "publish", "nope", "x"},
			{"-D", "connect", "content-type", "x"}, {"-D", "publish", "subscription-identifier", "1"},
			{"-D", "publish", "payload-format-indicator", "300"}, {"-D", "publish", "user-property", "k"},
			{"-D", "connect", "receive-maximum", "0", "-t", "a", "-m", "x"},
			{"-D", "publish", "content-type", "a", "-D", "publish", "content-type", "b", "-t", "a", "-m", "x"},
			{"-D", "connect", "receive-maximum", "0", "-t", "a", "-m", "x", "--quiet"},
			{"-D", "connack", "maximum-qos", "1"}, {"-D", "auth", "reason-string", "r"},
			{"--will-payload", "x", "-t", "a", "-m", "x"}, {"--will-retain", "-t", "a", "-m", "x"},
			{"--cert", "c", "-t", "a", "-m", "x"}, {"-L", "http://x/y"}, {"-L", "mqtt://host"},
			{"--repeat", "0"}, {"--repeat-delay", "-1"}, {"-M", "0"}, {"-V", "5", "-c", "-t", "a", "-m", "x"},
			{"-f", "/nonexistent/file", "-t", "a"}, {"-t", "a", "-s"},
		},
		"mosquitto_sub": {
			{"--help"}, {}, {"-U", "a"}, {"-t", "a/#/b"}, {"-T", "a+"}, {"-t", "a", "-R", "--retained-only"},
			{"-t", "a", "-F", "%z"}, {"-t", "a", "-F", "%"}, {"-t", "a", "-F", `\q`}, {"-t", "a", "-W", "0"},
			{"-t", "a", "-C", "0"}, {"-t", "a", "-m", "x"}, {"-t", "a", "-r"}, {"-t", "a", "--random-filter", "0"},
			{"-t", "a", "-e", "b"}, {"-t", "a", "-D", "subscribe", "content-type", "x"}, {"-t"},
		},
		"mosquitto_rr": {
			{"--help"}, {}, {"-t", "a", "-m", "x"}, {"-e", "a/+", "-t", "b", "-m", "x"}, {"-t", "a", "-l"},
			{"-t", "a", "-e", "b", "-m", "x", "-D", "publish", "response-topic", "c"}, {"-E"}, {"-e"},
		},
	}
	for name, argsList := range cases {
		testtool.Need(t, name)
		for _, args := range argsList {
			t.Run(name+" "+strings.Join(args, " "), func(t *testing.T) {
				cmd := exec.Command(name, args...)
				cmd.Stdin = strings.NewReader("")
				var wantOut, wantErr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &wantOut, &wantErr
				wantCode := 0
				if err := cmd.Run(); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						t.Fatal(err)
					}
					wantCode = ee.ExitCode()
				}
				var gotOut, gotErr bytes.Buffer
				gotCode := tools[name](args, strings.NewReader(""), &gotOut, &gotErr)
				if gotCode != wantCode || gotOut.String() != wantOut.String() || gotErr.String() != wantErr.String() {
					t.Errorf("exit %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q",
						gotCode, wantCode, trim(gotOut.String()), trim(wantOut.String()), gotErr.String(), wantErr.String())
				}
			})
		}
	}
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
