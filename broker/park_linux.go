//go:build linux

package broker

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The parker holds idle plain TCP and unix-socket connections without a
// goroutine. A goroutine blocked in Read costs at least its 2 KB stack and
// a 480-byte descriptor, more than everything else an idle connection
// needs; so when a connection has handled the packets that arrived, its
// reader registers the socket with the parker's epoll set and exits. When
// bytes arrive, the parker starts a new reader. Keep alive deadlines of
// parked connections are checked by the parker every parkSweep.
//
// Ownership: a connection is either owned by a goroutine (its reader) or
// parked. c.parked holds 0 while owned, and an odd value (a sequence number
// shifted left, plus 1) while parked. Whoever moves it from the parked value
// to 0 with a compare-and-swap (the poller on readiness, the sweeper on a
// passed deadline, close on a closed socket) starts the next reader. The
// sequence number makes each parking distinct, so a stale epoll event or
// sweep decision cannot wake a later parking by mistake.
type parker struct {
	epfd       int
	file       *os.File        // epfd, in the runtime's poller (nil: not)
	raw        syscall.RawConn // file's
	wakeR      int             // read end of a pipe in the epoll set: stop
	wakeW      int
	mu         sync.Mutex
	slots      []*conn // by file descriptor: the connection last parked on it
	seq        uint32  // guarded by mu
	done       chan struct{}
	stopOnce   sync.Once
	sweepEvery time.Duration
	// The sweeper's lists, kept from sweep to sweep.
	wakeList []parkedConn
	bareList []*conn
}

// parkSweep is how often the parker checks the keep alive deadlines of
// parked connections: a client that went silent is disconnected at most
// this much later than its one and a half keep alive intervals.
const parkSweep = 250 * time.Millisecond

const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newParker starts the epoll set and its goroutine. It returns nil if the
// system refuses (then connections keep a goroutine while idle).
func newParker() *parker {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0]), Pad: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil
	}
	p := &parker{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], done: make(chan struct{}), sweepEvery: parkSweep}
	// The epoll set is itself watched by the Go runtime's poller, so that
	// the parker's goroutine waits for it like any network read, without a
	// blocking system call. Waiting in epoll_wait would keep the parker's
	// thread in a system call holding its P, and a reader the parker starts
	// would wait there (until the runtime's monitor takes the P back, up to
	// 10 ms) before it could run: a quiet connection answered 2.5 times
	// slower than Mosquitto.
	if syscall.SetNonblock(epfd, true) == nil {
		f := os.NewFile(uintptr(epfd), "parker")
		if raw, err := f.SyscallConn(); err == nil && f.SetReadDeadline(time.Time{}) == nil {
			p.file, p.raw = f, raw
		}
	}
	go p.run()
	return p
}

// stop ends the parker's goroutine and closes its descriptors. Parked
// connections must have been woken first (Server.Close closes them all).
func (p *parker) stop() {
	p.stopOnce.Do(func() {
		syscall.Write(p.wakeW, []byte{0})
		<-p.done
		if p.file != nil {
			p.file.Close() // and with it the epoll descriptor
		} else {
			syscall.Close(p.epfd)
		}
		syscall.Close(p.wakeR)
		syscall.Close(p.wakeW)
	})
}

// canPark reports whether c's socket can be watched by the parker, and
// remembers what parking needs.
func (p *parker) canPark(c *conn) bool {
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return false // TLS and WebSocket conns buffer bytes epoll cannot see
	}
	raw, fd, ok := rawFD(c.nc)
	if !ok {
		return false
	}
	c.raw, c.fd = raw, int32(fd)
	c.waitSince.Store(-1 << 62) // long ago: the first burst counts as quiet
	return true
}

// park hands c to the parker. The calling goroutine, c's reader, must exit
// afterwards without touching c: it holds one count of the server's
// WaitGroup for c, which passes to c's next reader.
// deadline is the keep alive deadline (monotime, 0: none).
func (p *parker) park(c *conn, deadline int64) {
	c.parkDeadline.Store(deadline)
	p.mu.Lock()
	p.seq++
	v := uint64(p.seq)<<1 | 1
	p.mu.Unlock()
	// Under the writer's lock: its flusher may make c bare (bare_linux.go) as
	// soon as c is parked.
	c.w.mu.Lock()
	c.parked.Store(v)
	if c.bareableLocked() {
		c.goBareLocked() // which registers the bare descriptor
	}
	var err error
	if c.nc != nil {
		err = c.raw.Control(c.registerFD)
	}
	c.w.mu.Unlock()
	if err != nil {
		// The socket is closed or closing: a reader finds out why.
		c.wake()
	}
}

// registerFD arms the epoll registration of c's socket for the parking in
// c.parked; it runs inside RawConn.Control (or, for a bare connection,
// under the writer's lock), so the descriptor cannot be closed and reused
// meanwhile. registerMu orders registrations, so the
// last one always carries the current parking's sequence number.
//
// It also claims the descriptor's slot, here and not in park: inside
// Control the descriptor is certainly c's. A connection closed by another
// goroutine (a takeover) may still be parking after its descriptor number
// went to a new connection; its Control fails, so it cannot take the new
// connection's slot, which would lose the new connection's wake-ups.
func (c *conn) registerFD(fd uintptr) {
	p := c.srv.parker
	p.claim(c, int(fd))
	c.registerMu.Lock()
	v := c.parked.Load()
	if v&1 == 0 {
		c.registerMu.Unlock()
		return // already woken
	}
	ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(fd), Pad: int32(uint32(v >> 1))}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
	if errors.Is(err, syscall.ENOENT) {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}
	c.registerMu.Unlock()
	if err != nil {
		// Cannot watch it (say, the epoll watch limit): from now on
		// its reader blocks in Read instead, as on other systems.
		c.flags.set(flagNoPark, true)
		p.forget(c)
		c.srv.log.Warn("cannot park idle connection", "client", c.displayID(), "error", err)
		c.wake()
	}
}

// claim makes fd's slot c's: the parker wakes c for events on fd, and
// sweeps it.
func (p *parker) claim(c *conn, fd int) {
	p.mu.Lock()
	if fd >= len(p.slots) {
		p.slots = append(p.slots, make([]*conn, fd+1-len(p.slots)+len(p.slots)/2)...)
	}
	p.slots[fd] = c
	p.mu.Unlock()
}

// forget clears c's slot when c ends, unless the descriptor already
// belongs to another connection.
func (p *parker) forget(c *conn) {
	p.mu.Lock()
	if fd := int(c.fd); fd < len(p.slots) && p.slots[fd] == c {
		p.slots[fd] = nil
	}
	p.mu.Unlock()
}

// wakeParked starts a reader for c if c is parked with sequence number v.
func wakeParked(c *conn, v uint64) {
	if c.parked.CompareAndSwap(v, 0) {
		// A subscription change or a retained PUBLISH takes its ticket
		// now, in the order the parker saw the sockets become readable,
		// before its reader runs: packets that arrived later on other
		// connections wait for it (order.go).
		if b, ok := c.peekByte(); ok {
			if k := ticketFor(b); k != 0 {
				c.srv.gate.enter(c, k)
			}
		}
		go c.awaitNext()
	}
}

func (p *parker) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	lastSweep := time.Now()
	for {
		n, err := p.wait(events)
		if err != nil && err != syscall.EINTR {
			// Not expected with a valid epoll descriptor; keep the
			// sweeper going rather than spin.
			time.Sleep(p.sweepEvery)
		}
		for _, ev := range events[:max(n, 0)] {
			if ev.Pad == -1 && int(ev.Fd) == p.wakeR {
				return
			}
			v := uint64(uint32(ev.Pad))<<1 | 1
			p.mu.Lock()
			var c *conn
			if fd := int(ev.Fd); fd < len(p.slots) {
				c = p.slots[fd]
			}
			p.mu.Unlock()
			if c != nil {
				wakeParked(c, v)
			}
		}
		if now := time.Now(); now.Sub(lastSweep) >= p.sweepEvery {
			lastSweep = now
			p.sweep(monotime())
		}
	}
}

// wait returns the ready events, waiting at most sweepEvery.
func (p *parker) wait(events []syscall.EpollEvent) (int, error) {
	if p.raw == nil {
		return syscall.EpollWait(p.epfd, events, int(p.sweepEvery/time.Millisecond))
	}
	_ = p.file.SetReadDeadline(time.Now().Add(p.sweepEvery))
	var n int
	var werr error
	err := p.raw.Read(func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		// Nothing ready: the runtime waits until the set is readable.
		return n != 0 || werr != nil && werr != syscall.EINTR
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil // time to sweep
	}
	if err != nil {
		return 0, err
	}
	return n, werr
}

// sweep wakes the parked connections whose keep alive deadline passed:
// their reader finds the read deadline expired and disconnects them. It
// also nudges readers that have waited parkIdleAfter for a packet: it sets
// their read deadline to now, and the reader, seeing the nudge, parks.
// And it makes bare (bare_linux.go) the parked connections that have been quiet
// for bareHold but were busy when they parked.
//
// Waking and baring take a connection's writer lock, which is held while
// p.mu is taken: both happen after p.mu is released.
func (p *parker) sweep(now int64) {
	wake, bare := p.wakeList[:0], p.bareList[:0]
	p.mu.Lock()
	for _, c := range p.slots {
		if c == nil {
			continue
		}
		v := c.parked.Load()
		if v&1 == 1 {
			if dl := c.parkDeadline.Load(); dl != 0 && now >= dl {
				wake = append(wake, parkedConn{c, v})
			} else if c.srv.opts.BareIdle && !c.flags.has(flagBare) && now-c.waitSince.Load() >= int64(bareHold) {
				bare = append(bare, c)
			}
			continue
		}
		if c.waitState.Load() == readerWaiting && now-c.waitStart.Load() >= int64(parkIdleAfter) {
			c.registerMu.Lock()
			if c.waitState.CompareAndSwap(readerWaiting, readerNudged) {
				_ = c.nc.SetReadDeadline(time.Now())
			}
			c.registerMu.Unlock()
		}
	}
	p.mu.Unlock()
	for _, pc := range wake {
		wakeParked(pc.c, pc.v)
	}
	for _, c := range bare {
		c.bareIfQuiet(now)
	}
	clear(wake)
	clear(bare)
	p.wakeList, p.bareList = wake[:0], bare[:0]
}

// parkedConn is a connection and the parking it was seen in.
type parkedConn struct {
	c *conn
	v uint64
}
