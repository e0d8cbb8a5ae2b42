//go:build linux

package broker

import (
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A parked connection whose writer is idle keeps no net.Conn: it is bare.
// A net.Conn costs an idle connection about 900 bytes (the netFD, its two
// addresses, and the runtime poller's entry with its two timers), more
// than a third of everything it holds. A bare connection keeps a duplicate
// of the socket's descriptor in c.fd, watched by the parker's epoll set,
// and closes the net.Conn; the socket stays open through the duplicate.
// Whoever needs the socket again, the reader the parker starts or a
// flusher with something to send, makes a new net.Conn from the
// descriptor (restoreLocked).
//
// All of it happens under the writer's lock (c.w.mu): going bare, coming
// back, and every use of c.nc, c.raw and c.fd by goroutines other than
// c's reader. The reader itself comes back before it reads (awaitNext),
// and a connection goes bare only while it is parked, so the reader uses
// its socket without the lock.
//
// Going bare and back costs about twenty system calls. A connection that
// comes back within bareHold of going bare (a subscriber receiving a
// stream, a client that pings every second) is hot: it keeps its net.Conn
// until the sweeper finds it quiet for bareHold.
var bareHold = 5 * time.Second

// bareableLocked reports whether c, parked, may go bare now: its writer is
// idle, the client was accepted (the log and introspection then have its
// address without the net.Conn), and it is not hot.
func (c *conn) bareableLocked() bool {
	w := c.w
	return c.srv.opts.BareIdle && c.nc != nil && c.raw != nil && !w.closed && !w.flushing && !w.held &&
		(w.queue == nil || len(w.queue.s) == 0) && c.parked.Load()&1 == 1 &&
		!c.flags.has(flagBareHot|flagSockClosed) && c.authInfo.Load() != nil
}

// goBareLocked makes parked c bare. If the descriptor cannot be
// duplicated c stays as it is.
func (c *conn) goBareLocked() {
	fd := -1
	var derr error
	if err := c.raw.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || derr != nil {
		return
	}
	p := c.srv.parker
	// An epoll registration lives as long as the socket, not the
	// descriptor: the old one is removed before its descriptor closes,
	// or the parker would hear of the socket under a number that may
	// then belong to another connection.
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
	p.forget(c)
	_ = c.nc.Close()
	c.nc, c.w.nc, c.raw, c.fd = nil, nil, nil, int32(fd)
	// While bare the flusher does not run: armedAt holds when c went
	// bare, for restoreLocked.
	c.w.armedAt = monotime()
	c.flags.set(flagBare, true)
	if c.parked.Load()&1 == 1 {
		c.registerFD(uintptr(fd))
	}
}

// restoreLocked gives bare c a net.Conn again; it does nothing if c is not
// bare. It fails if c's socket was closed meanwhile, or the system refuses
// a descriptor: then the socket is closed.
func (c *conn) restoreLocked() error {
	if c.nc != nil {
		return nil
	}
	if c.flags.has(flagSockClosed) {
		return net.ErrClosed
	}
	p := c.srv.parker
	fd := int(c.fd)
	// FileConn works on a duplicate of the descriptor: the bare one is
	// then closed, after the parker stops watching it.
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	p.forget(c)
	_ = f.Close()
	c.flags.set(flagBare, false)
	if err != nil {
		c.flags.set(flagSockClosed, true)
		c.srv.log.Warn("cannot resume idle connection", "client", c.clientID, "error", err)
		return err
	}
	raw, fd, ok := rawFD(nc)
	if !ok {
		_ = nc.Close()
		c.flags.set(flagSockClosed, true)
		return net.ErrClosed
	}
	c.nc, c.w.nc, c.raw, c.fd = nc, nc, raw, int32(fd)
	c.flags.set(flagBareHot, monotime()-c.w.armedAt < int64(bareHold))
	c.w.armedAt = 0 // the new net.Conn has no write deadline yet
	if tc, ok := nc.(*net.TCPConn); ok && !c.srv.opts.SetTCPNoDelay {
		// A new TCPConn turns Nagle's algorithm off.
		_ = tc.SetNoDelay(false)
	}
	_ = nc.SetReadDeadline(monoDeadline(c.parkDeadline.Load()))
	if c.parked.Load()&1 == 0 {
		// The reader came back: the sweeper watches it from the slot,
		// to nudge it into parking again when it falls quiet.
		p.claim(c, fd)
	} else if raw.Control(c.registerFD) != nil {
		// Still parked (a flusher came back): the parker watches the
		// new descriptor.
		c.wake()
	}
	return nil
}

// bareIfQuiet makes parked c bare if it and its writer have been quiet
// for bareHold (the sweeper's part; see bareHold).
func (c *conn) bareIfQuiet(now int64) {
	w := c.w
	w.mu.Lock()
	// armedAt is the flusher's while it runs; it is 0 when nothing was
	// written since c came back.
	if !w.flushing && (w.armedAt == 0 || now-w.armedAt >= int64(bareHold)) {
		c.flags.set(flagBareHot, false)
		if c.bareableLocked() {
			c.goBareLocked()
		}
	}
	w.mu.Unlock()
}

// flushed is the writer's word that its flusher went idle (under w.mu):
// a parked connection then goes bare.
func (c *conn) flushed() {
	if c.bareableLocked() {
		c.goBareLocked()
	}
}

// closeSocketLocked closes c's socket, bare or not.
func (c *conn) closeSocketLocked() {
	if c.flags.has(flagSockClosed) {
		return
	}
	c.flags.set(flagSockClosed, true)
	if c.nc != nil {
		_ = c.nc.Close()
		return
	}
	p := c.srv.parker
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
	p.forget(c)
	_ = syscall.Close(int(c.fd))
}

// control runs f on c's socket descriptor, kept open meanwhile, from any
// goroutine; it reports false if c's socket cannot be reached this way.
func (c *conn) control(f func(fd uintptr)) bool {
	c.w.mu.Lock()
	if c.nc == nil {
		ok := !c.flags.has(flagSockClosed)
		if ok {
			f(uintptr(c.fd))
		}
		c.w.mu.Unlock()
		return ok
	}
	raw := c.raw
	c.w.mu.Unlock()
	return raw != nil && raw.Control(f) == nil
}

// rawFD returns nc's RawConn and descriptor, if it has them.
func rawFD(nc net.Conn) (syscall.RawConn, int, bool) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, -1, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, -1, false
	}
	fd := -1
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return nil, -1, false
	}
	return raw, fd, true
}
