package pub

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/internal/cli/clientflags"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestInputErrors(t *testing.T) {
	env := clientflags.Env{Getenv: func(string) string { return "" }, ReadFile: os.ReadFile}
	tests := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"-t", "a", "-s"}, "", "Error: Zero length input.\nError loading input from stdin.\n"},
		{[]string{"-t", "a", "-f", "/nonexistent"}, "", "Error: Unable to open file \"/nonexistent\".\nError loading input file \"/nonexistent\".\n"},
		{[]string{"-t", "a", "-s", "--quiet"}, "", ""},
		{[]string{"-p", "1", "-t", "a", "-m", "x"}, "", "Error: Connection refused\n"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(tc.stdin), &out, &errb, env)
		if code != 1 || errb.String() != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 1, %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

func TestOptionsFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/mosquitto_pub", []byte("# comment\n-q 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := clientflags.Env{Getenv: func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return dir
		}
		return ""
	}, ReadFile: os.ReadFile}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-t", "a", "-m", "x"}, nil, &out, &errb, env)
	if want := "Error: Invalid QoS given: 3\n\nUse 'mosquitto_pub --help' to see usage.\n"; code != 1 || errb.String() != want {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
