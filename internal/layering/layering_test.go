package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/midge-mqtt/midge"

// deps lists the packages pkg depends on, transitively.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var list []string
	for _, p := range strings.Fields(string(out)) {
		if p != module+"/"+pkg {
			list = append(list, p)
		}
	}
	return list
}

func TestStandardLibraryOnly(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	for _, pkg := range []string{"internal/packet", "internal/topic", "internal/config", "internal/strftime"} {
		if d := deps(t, pkg); len(d) > 0 {
			t.Errorf("%s must import only the standard library; it imports %v", pkg, d)
		}
	}
}

func TestBrokerStaysAbstract(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	forbidden := []string{
		module + "/internal/listener",
		module + "/internal/store/pebblestore",
		module + "/internal/service",
		module + "/internal/cli",
		module + "/client",
		"github.com/cockroachdb/pebble",
		"github.com/coder/websocket",
	}
	for _, d := range deps(t, "broker") {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("broker imports %s; cmd/midge (internal/service) wires such packages in", d)
			}
		}
	}
}
