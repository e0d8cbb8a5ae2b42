//go:build unix

package broker

import "syscall"

// peekByte returns the next byte waiting on c's socket without consuming
// it; ok is false when there is none (or the socket cannot be peeked:
// TLS and WebSocket connections keep bytes the kernel does not show).
func (c *conn) peekByte() (b byte, ok bool) {
	var buf [1]byte
	n := 0
	// Control, not Read: a reader may be blocked in Read, holding the
	// descriptor's read lock.
	c.control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return buf[0], n == 1
}
