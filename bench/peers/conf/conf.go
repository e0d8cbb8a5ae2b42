// Package conf lets the peer brokers of the comparison run like midge and
// Mosquitto under bench/internal/harness: "BINARY -c FILE" with the
// comparison's mosquitto.conf, of which they take the listener line, and
// "BINARY version" for the report.
package conf

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// Args reads the command line. It prints the version of module (as built
// in) and exits for "version"; otherwise it returns the host:port of the
// first "listener PORT [HOST]" line of the -c file.
func Args(name, module string) (string, error) {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "version" {
		fmt.Printf("%s version %s\n", name, Version(module))
		os.Exit(0)
	}
	if len(args) != 2 || args[0] != "-c" {
		return "", errors.New("usage: " + name + " -c FILE | version")
	}
	f, err := os.Open(args[1])
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) >= 2 && w[0] == "listener" {
			host := "0.0.0.0"
			if len(w) >= 3 {
				host = w[2]
			}
			return net.JoinHostPort(host, w[1]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no listener line", args[1])
}

// Version is the version of a module built into this binary.
func Version(module string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == module {
				return strings.TrimPrefix(d.Version, "v")
			}
		}
	}
	return "unknown"
}

// Wait returns on SIGTERM or SIGINT.
func Wait() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
