//go:build unix

package service

import (
	"os"
	"syscall"
)

// barrierSignal means nothing to a daemon (a terminal was resized): an
// outside one only lets a waiting CONNECT go on a little early.
var barrierSignal os.Signal = syscall.SIGWINCH

func raise(sig os.Signal) error {
	return syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}
