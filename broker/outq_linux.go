package broker

import "golang.org/x/sys/unix"

// unsentBytes returns the bytes c's socket holds that its peer has not
// yet acknowledged (SIOCOUTQ); ok is false when the socket cannot be asked
// (TLS and WebSocket connections, which are not parked).
//
// A publisher waiting for a QoS 0 subscriber (pacing.go) uses it to tell
// a subscriber that reads from one that stopped: the kernel wakes a
// writer blocked on a full socket only once a third of the send buffer
// is free, which at a slow reader's pace can take longer than a whole
// wait, but the send queue shrinks with every read of the peer.
func (c *conn) unsentBytes() (n int, ok bool) {
	reached := c.control(func(fd uintptr) {
		var err error
		n, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		ok = err == nil
	})
	return n, ok && reached
}
