//go:build windows

package service

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/windows/svc/eventlog"

	"github.com/midge-mqtt/midge/broker"
)

// Windows has no SIGUSR1 or SIGUSR2.
var userSignals []os.Signal

func isUserSignal(os.Signal) bool { return false }

// detached is how -d runs the broker again: without a console, in a
// process group of its own.
func detached() *syscall.SysProcAttr {
	const detachedProcess = 0x00000008
	return &syscall.SysProcAttr{CreationFlags: detachedProcess | syscall.CREATE_NEW_PROCESS_GROUP}
}

// setIDs is never reached: Windows has no root to drop (os.Geteuid is -1).
func setIDs(int, int, []int) error {
	return errors.New("dropping privileges is not supported on Windows")
}

// sysLogger is log_dest syslog on Windows: the Application event log,
// under the source midge, as Mosquitto's Windows build logs there.
type sysLogger struct{ l *eventlog.Log }

// openSysLog opens the event log; Windows has no facilities.
func openSysLog(int) (sysLogger, error) {
	l, err := eventlog.Open("midge")
	if err != nil {
		return sysLogger{}, fmt.Errorf("unable to open the event log: %w", err)
	}
	return sysLogger{l}, nil
}

func (l sysLogger) open() bool { return l.l != nil }

func (l sysLogger) Close() { _ = l.l.Close() }

// eventID is the one event id midge logs under.
const eventID = 1

func (l sysLogger) write(level slog.Level, msg string) {
	switch level {
	case broker.LevelError:
		_ = l.l.Error(eventID, msg)
	case broker.LevelWarning:
		_ = l.l.Warning(eventID, msg)
	default:
		_ = l.l.Info(eventID, msg)
	}
}
