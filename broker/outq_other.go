//go:build !linux

package broker

// unsentBytes is known on Linux only (outq_linux.go); elsewhere a
// publisher tells a subscriber that reads from one that stopped by the
// writes its connection completes.
func (c *conn) unsentBytes() (int, bool) { return 0, false }
