package broker

import (
	"syscall"
	"time"
)

// SetBareHold sets bareHold until the returned function is called. Tests
// that set it must not run in parallel.
func SetBareHold(d time.Duration) (restore func()) {
	old := bareHold
	bareHold = d
	return func() { bareHold = old }
}

// BareState reports whether the connection of the client id is bare and
// whether it is hot (bare_linux.go).
func (s *Server) BareState(id string) (bare, hot bool) {
	c := s.connOf(id)
	if c == nil {
		return false, false
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return c.nc == nil, c.flags.has(flagBareHot)
}

// NoDelay reads TCP_NODELAY off the socket of the client id's connection.
func (s *Server) NoDelay(id string) (on bool, err error) {
	c := s.connOf(id)
	v := -1
	c.control(func(fd uintptr) {
		v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	})
	return v > 0, err
}

func (s *Server) connOf(id string) *conn {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return nil
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.conn
}
