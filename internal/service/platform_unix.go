//go:build unix

package service

import (
	"fmt"
	"log/slog"
	"log/syslog"
	"os"
	"syscall"

	"github.com/midge-mqtt/midge/broker"
)

// userSignals are the signals Mosquitto gives a meaning midge has nothing
// to do for (SIGUSR1 writes the persistence file, SIGUSR2 dumps the
// subscription tree): they are logged, not fatal.
var userSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2}

func isUserSignal(sig os.Signal) bool { return sig == syscall.SIGUSR1 || sig == syscall.SIGUSR2 }

// detached is how -d runs the broker again: in a session of its own.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// setIDs switches the process to uid, gid and the groups gids.
func setIDs(uid, gid int, gids []int) error {
	// Groups first: after setuid we could no longer change them. Go
	// applies these to every thread of the process.
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("error setting groups whilst dropping privileges: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("error setting gid whilst dropping privileges: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("error setting uid whilst dropping privileges: %w", err)
	}
	return nil
}

// sysLogger is log_dest syslog: the system log, under the name midge.
type sysLogger struct{ w *syslog.Writer }

// openSysLog opens the system log with log_facility (0 to 7: local0 to
// local7; anything else: daemon).
func openSysLog(logFacility int) (sysLogger, error) {
	facility := syslog.LOG_DAEMON
	if logFacility >= 0 && logFacility <= 7 {
		facility = syslog.LOG_LOCAL0 + syslog.Priority(logFacility)<<3
	}
	w, err := syslog.New(facility|syslog.LOG_INFO, "midge")
	if err != nil {
		return sysLogger{}, fmt.Errorf("unable to open syslog: %w", err)
	}
	return sysLogger{w}, nil
}

func (l sysLogger) open() bool { return l.w != nil }

func (l sysLogger) Close() { _ = l.w.Close() }

func (l sysLogger) write(level slog.Level, msg string) {
	switch level {
	case broker.LevelError:
		_ = l.w.Err(msg)
	case broker.LevelWarning:
		_ = l.w.Warning(msg)
	case broker.LevelNotice:
		_ = l.w.Notice(msg)
	case broker.LevelDebug:
		_ = l.w.Debug(msg)
	default:
		_ = l.w.Info(msg)
	}
}
