//go:build linux

package service

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// sdNotify tells systemd about the broker's state, as Mosquitto does
// under its Type=notify unit: READY=1 once the listeners are open,
// RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 on the way
// out. Without $NOTIFY_SOCKET (not started by systemd) it does nothing.
// Errors are ignored: systemd not listening must not stop the broker.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // the abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

// sdReloading is the RELOADING=1 message, with the monotonic time
// systemd asks to come with it.
func sdReloading() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}
