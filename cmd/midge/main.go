// Command midge is an MQTT broker that is a drop-in replacement for
// Eclipse Mosquitto. Run as "midge" (or through a symlink named
// "mosquitto") it takes Mosquitto's command line:
//
//	midge [-c config_file] [-d] [-p port]... [-v]
//
// and subcommands:
//
//	midge version
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/service"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run picks what to do from the program name and first argument.
func run(args []string, stdout, stderr *os.File) int {
	name := filepath.Base(args[0])
	switch {
	case strings.HasPrefix(name, "mosquitto") && name != "mosquitto":
		fmt.Fprintf(stderr, "%s: not available yet in midge\n", name)
		return 1
	}
	if len(args) > 1 {
		switch args[1] {
		case "version", "--version":
			fmt.Fprintf(stdout, "midge version %s\n", broker.Version)
			return 0
		}
	}
	return service.Main(args[1:], stdout, stderr)
}
