//go:build !linux

package broker

// parker holds idle connections without a goroutine on Linux (see
// park_linux.go). Elsewhere every connection keeps its reader goroutine.
type parker struct{}

func newParker() *parker             { return nil }
func (p *parker) stop()              {}
func (p *parker) canPark(*conn) bool { return false }
func (p *parker) park(*conn, int64)  {}
func (p *parker) forget(*conn)       {}

// Connections are never bare (bare_linux.go) elsewhere.
func (c *conn) restoreLocked() error            { return nil }
func (c *conn) flushed()                        {}
func (c *conn) closeSocketLocked()              { _ = c.nc.Close() }
func (c *conn) control(f func(fd uintptr)) bool { return false }
