// Package bridge runs Mosquitto's bridges: links from this broker to other
// MQTT brokers, configured by `connection` blocks of mosquitto.conf.
//
// Each bridge is two MQTT clients of the client package: the remote one
// connects to the other broker as Mosquitto's bridge does (the same
// CONNECT, SUBSCRIBE and UNSUBSCRIBE packets, try_private, notifications
// and reconnection rules), and the local one connects to this broker
// through an in-process connection on a trusted listener. Messages for
// `out` topics reach the bridge through the local client's subscriptions
// and leave it on the remote client; messages for `in` topics go the other
// way. A message is acknowledged on the side it came from only once the
// other side has it (QoS 1 and 2): with persistence on, what the local
// broker has queued for a bridge whose remote is away survives restarts,
// because it is queued in the local client's persistent session.
package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/config"
)

// Options are the broker-wide settings the bridges follow.
type Options struct {
	// MaxInflight is max_inflight_messages: the bridges' window of
	// unacknowledged QoS 1 and 2 messages toward the remote, and the
	// Receive Maximum they announce to it (MQTT 5). 0 means unlimited.
	MaxInflight int
	// SysInterval is sys_interval: the period of the bridges' figures
	// under $SYS/broker/bridge/ (see sysLoop); 0 publishes none.
	SysInterval time.Duration
}

// Manager runs the bridges of one broker.
type Manager struct {
	opts     Options
	srv      *broker.Server
	log      *slog.Logger
	hostname string
	ln       *pipeListener
	served   chan struct{} // closed when Serve on ln returns
	sysStop  chan struct{} // closed by Close to end sysLoop
	sysDone  chan struct{} // closed when sysLoop returns

	mu      sync.Mutex
	bridges map[string]*Bridge
	closed  bool
}

// NewManager makes a manager for the bridges of srv, which logs to log.
// It starts serving the bridges' local connections at once.
func NewManager(srv *broker.Server, log *slog.Logger, opts Options) *Manager {
	hostname, _ := os.Hostname()
	m := &Manager{
		opts: opts, srv: srv, log: log, hostname: hostname,
		ln:      newPipeListener(),
		served:  make(chan struct{}),
		bridges: make(map[string]*Bridge),
		sysStop: make(chan struct{}),
		sysDone: make(chan struct{}),
	}
	if opts.SysInterval > 0 {
		go m.sysLoop(opts.SysInterval)
	} else {
		close(m.sysDone)
	}
	l := broker.DefaultListener(0)
	l.Name = "bridge"
	l.Trusted = true
	go func() {
		defer close(m.served)
		_ = srv.Serve(m.ln, l)
	}()
	return m
}

// Start starts the bridges of cfgs, in order.
func (m *Manager) Start(cfgs []*config.Bridge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cfgs {
		m.startLocked(c)
	}
}

func (m *Manager) startLocked(c *config.Bridge) {
	if m.closed {
		return
	}
	b := newBridge(m, c)
	m.bridges[c.Name] = b
	b.start()
}

// Reload applies a new configuration: bridges no longer configured stop,
// new ones start, and changed ones restart; unchanged bridges go on
// untouched, connections and queues included.
func (m *Manager) Reload(cfgs []*config.Bridge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := make(map[string]*config.Bridge, len(cfgs))
	for _, c := range cfgs {
		want[c.Name] = c
	}
	for name, b := range m.bridges {
		if c, ok := want[name]; ok && sameBridge(b.cfg, c) {
			continue
		}
		b.stop()
		delete(m.bridges, name)
		if _, ok := want[name]; ok {
			m.log.Log(context.Background(), broker.LevelNotice, fmt.Sprintf("Bridge %s changed: restarting it.", name))
		} else {
			m.log.Log(context.Background(), broker.LevelNotice, fmt.Sprintf("Bridge %s removed.", name))
		}
	}
	for _, c := range cfgs {
		if _, ok := m.bridges[c.Name]; !ok {
			m.startLocked(c)
		}
	}
}

// sameBridge reports whether two configurations describe the same bridge;
// where the block is in the files does not matter.
func sameBridge(a, b *config.Bridge) bool {
	x, y := *a, *b
	x.File, x.Line, y.File, y.Line = "", 0, "", 0
	return reflect.DeepEqual(x, y)
}

// Close stops every bridge (see Bridge.stop: what is in flight may finish
// for a moment; what is not passed on stays unacknowledged on its side)
// and the local listener. Calling it again does nothing.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.sysStop)
	bs := make([]*Bridge, 0, len(m.bridges))
	for _, b := range m.bridges {
		bs = append(bs, b)
	}
	clear(m.bridges)
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(b.stop)
	}
	wg.Wait()
	<-m.sysDone
	m.ln.Close()
	<-m.served
}

// Bridges returns the names of the running bridges' states, for tests and
// $SYS: name → connected.
func (m *Manager) Bridges() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.bridges))
	for name, b := range m.bridges {
		out[name] = b.Connected()
	}
	return out
}
