//go:build unix

package harness

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit lifts this process's open-file limit to the hard limit
// and returns it. Setting it explicitly makes broker children inherit the
// raised limit too.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read open-file limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise open-file limit: %w", err)
	}
	return uint64(lim.Cur), nil
}
