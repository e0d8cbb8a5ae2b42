// Command midge is an MQTT broker that is a drop-in replacement for
// Eclipse Mosquitto. Run as "midge" (or through a symlink named
// "mosquitto") it takes Mosquitto's command line:
//
//	midge [-c config_file] [-d] [-p port]... [-v]
//
// and subcommands, each also available through a symlink with the name of
// the Mosquitto program it replaces:
//
//	midge pub       (mosquitto_pub)
//	midge sub       (mosquitto_sub)
//	midge rr        (mosquitto_rr)
//	midge passwd    (mosquitto_passwd)
//	midge bench     a load generator
//	midge version
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/midge-mqtt/midge/broker"
	benchcmd "github.com/midge-mqtt/midge/internal/cli/bench"
	passwdcmd "github.com/midge-mqtt/midge/internal/cli/passwd"
	pubcmd "github.com/midge-mqtt/midge/internal/cli/pub"
	rrcmd "github.com/midge-mqtt/midge/internal/cli/rr"
	subcmd "github.com/midge-mqtt/midge/internal/cli/sub"
	"github.com/midge-mqtt/midge/internal/service"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// tool is a subcommand's entry point; args exclude the program name.
type tool func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

// subcommands by their midge name; mosquitto_NAME symlinks run the same.
var subcommands = map[string]tool{
	"pub":    pubcmd.Main,
	"sub":    subcmd.Main,
	"rr":     rrcmd.Main,
	"passwd": passwdcmd.Main,
	"bench":  benchcmd.Main,
}

// run picks what to do from the program name and first argument.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	if sub, ok := strings.CutPrefix(name, "mosquitto_"); ok {
		if t, ok := subcommands[sub]; ok && sub != "bench" {
			return t(args[1:], stdin, stdout, stderr)
		}
		fmt.Fprintf(stderr, "%s: not available in midge\n", name)
		return 1
	}
	if len(args) > 1 {
		switch args[1] {
		case "version", "--version":
			fmt.Fprintf(stdout, "midge version %s\n", broker.Version)
			return 0
		}
		if t, ok := subcommands[args[1]]; ok {
			return t(args[2:], stdin, stdout, stderr)
		}
		if args[1] == "import-mosquitto-db" {
			return service.ImportMain(args[2:], stdout, stderr)
		}
		if code, ok := service.WindowsCommand(args[1:], stdout, stderr); ok {
			return code
		}
	}
	return service.Main(args[1:], stdout, stderr)
}
