package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT broker. Create it with New, feed it listeners with
// Serve, stop it with Close.
type Server struct {
	opts Options
	log  logger
	auth atomic.Pointer[authHolder]
	// relayPacing has flagPacing while DeliverRelayed waits for a
	// congested subscriber (pacing.go).
	relayPacing connFlags

	subs     *topic.Tree[*session]
	retained *topic.Retained[*message]
	// retainMu keeps a retained publish and a new subscription apart: a
	// retained publish holds it for reading from matching the
	// subscriptions to updating the retained store, a subscription is
	// added to the tree holding it for writing. retainSeq numbers the
	// retained publishes (message.rseq). See retainedOrder in subscribe.go.
	retainMu  sync.RWMutex
	retainSeq atomic.Uint64
	// heldWills numbers the wills given to a WillKeeper (conn.heldWill).
	heldWills atomic.Uint64

	// mu guards sessions and the connection set; see docs/locking.md.
	mu        sync.Mutex
	sessions  map[string]*session
	conns     map[*conn]struct{}
	listeners map[net.Listener]*Listener
	closed    bool

	// Scratch pools: read buffers for connections with bytes to read,
	// routers for publishes in progress.
	readers sync.Pool
	// lists are the writers' packet lists (see writer.queue).
	lists sync.Pool
	// parker holds idle connections without a goroutine (nil where it
	// cannot); made by the first Serve, stopped by Close.
	parker   *parker
	parkOnce sync.Once
	routers  sync.Pool

	// journal orders and group-commits the changes to Options.Store; nil
	// without a store.
	journal *journal

	// gate keeps subscription changes and retained publishes ahead of
	// later packets of other connections (order.go).
	gate orderGate

	// paused, when set, is closed by the resume function Pause returned;
	// connections wait for it before handling their next packets.
	paused atomic.Pointer[chan struct{}]

	// controls are the handlers of $CONTROL topics (control.go), replaced
	// whole under controlMu.
	controls  atomic.Pointer[map[string]ControlHandler]
	controlMu sync.Mutex

	stats     stats
	started   time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // connection goroutines and background loops
	idCounter atomic.Uint64
}

// New creates a broker with the given options.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Auth == nil {
		opts.Auth = AllowAll{}
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		log:       logger{opts.Logger},
		subs:      topic.NewTree[*session](),
		retained:  topic.NewRetained[*message](),
		sessions:  make(map[string]*session),
		conns:     make(map[*conn]struct{}),
		listeners: make(map[net.Listener]*Listener),
		started:   time.Now(),
		ctx:       ctx,
		cancel:    cancel,
	}
	s.auth.Store(&authHolder{opts.Auth})
	s.controls.Store(new(map[string]ControlHandler))
	if opts.Store != nil {
		s.journal = newJournal(opts.Store, s.log, &s.stats.commitLatency)
	}
	if opts.SysInterval > 0 {
		s.wg.Go(s.sysLoop)
	}
	return s
}

// Serve accepts connections on ln until Close, using the listener
// settings l. It returns ErrServerClosed after Close.
func (s *Server) Serve(ln net.Listener, l *Listener) error {
	if l == nil {
		l = DefaultListener(0)
		l.AllowAnonymous = true
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = l
	s.mu.Unlock()
	s.parkOnce.Do(func() { s.parker = newParker() })

	var active atomic.Int64
	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or similar: back off and retry,
				// as net/http does, rather than spin or give up.
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else {
					tempDelay = min(2*tempDelay, time.Second)
				}
				s.log.Warn("accept failed, retrying", "listener", l.Name, "error", err)
				time.Sleep(tempDelay)
				continue
			}
			return err
		}
		tempDelay = 0
		if l.MaxConnections >= 0 && active.Load() >= int64(l.MaxConnections) {
			s.log.Info("Client connection refused: too many connections", "listener", l.Name, "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		active.Add(1)
		c := newConn(s, nc, l)
		if !s.track(c) {
			nc.Close()
			return ErrServerClosed
		}
		c.active = &active
		go func() {
			defer s.wg.Done() // added by track
			c.serve()
		}()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.stats.sockets.Add(1)
	// Counted under the lock: Close, which sets closed under it, then
	// waits for every connection it let in.
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the listeners, lets each connection handle the packets it
// has already received, disconnects every client (v5 clients get
// DISCONNECT 0x8B server shutting down) and waits for the goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	var timers []*session
	for _, ss := range s.sessions {
		timers = append(timers, ss)
	}
	s.mu.Unlock()

	for _, c := range conns {
		// In parallel: a stuck socket costs its drain timeout once, not
		// once per connection. Each first handles what it has already
		// received (at most settleWait): an acknowledgement that came
		// just before the shutdown is not lost to it, which would send
		// the message again after a restart.
		s.wg.Go(func() {
			c.settle()
			c.kick(packet.ServerShuttingDown)
		})
	}
	s.wg.Wait()
	s.parkOnce.Do(func() {}) // no parker after this; or wait for Serve's
	if s.parker != nil {
		s.parker.stop() // every connection has ended: none is parked
	}
	for _, ss := range timers {
		ss.mu.Lock()
		ss.stopTimers()
		ss.mu.Unlock()
	}
	if s.journal != nil {
		// What the disconnects above changed; the store stays the caller's.
		s.journal.close()
	}
	return nil
}

// Pause holds back the handling of every connection's next packets until
// resume is called. A reconfiguration (the ACL file reloaded on SIGHUP)
// done in between then applies to everything the clients send after it
// began, as in single-threaded Mosquitto, where a reload runs before any
// further packet: a client that connects right after the SIGHUP sees the
// new rules. A packet whose handling had already started finishes. resume
// may be called more than once.
func (s *Server) Pause() (resume func()) {
	ch := make(chan struct{})
	for !s.paused.CompareAndSwap(nil, &ch) {
		// Another pause in progress: wait for it, then take ours.
		if p := s.paused.Load(); p != nil {
			<-*p
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.paused.Store(nil)
			close(ch)
		})
	}
}

// waitIfPaused blocks while the server is paused.
func (s *Server) waitIfPaused() {
	if p := s.paused.Load(); p != nil {
		<-*p
	}
}

// Addr-independent helpers for tests and embedding.

// ClientCount returns the number of connected clients.
func (s *Server) ClientCount() int { return int(s.stats.connected.Load()) }

// SessionCount returns the number of sessions, connected or not.
func (s *Server) SessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
