// Package sub is midge sub, a drop-in replacement for mosquitto_sub 2.0:
// it subscribes to the -t filters and prints what arrives (payload, -v,
// or -F format) until -C messages, -W seconds, --retained-only's first
// live message, -E's SUBACK, or a signal, with mosquitto_sub's flags,
// output bytes and exit codes (27 on timeout).
package sub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/cli/clientflags"
	"github.com/midge-mqtt/midge/internal/cli/format"
	"github.com/midge-mqtt/midge/internal/topic"
)

// exitTimeout is MOSQ_ERR_TIMEOUT, mosquitto_sub's status after -W.
const exitTimeout = 27

// Main runs the tool; args exclude the program name. SIGINT and SIGTERM
// end it cleanly, as they do mosquitto_sub.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr, clientflags.OSEnv(), nil)
}

// hooks lets tests pin the printer's clock.
type hooks struct {
	printer func(*format.Printer)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, env clientflags.Env, h *hooks) int {
	cfg, err := clientflags.Parse(clientflags.Sub, args, env)
	if err != nil {
		return clientflags.ReportParseError(cfg, err, usage, version, stdout, stderr)
	}
	if cfg.NoRetain && cfg.RetainedOnly {
		fmt.Fprint(stderr, "\nError: Combining '-R' and '--retained-only' makes no sense.\n")
		return 1
	}
	opts, err := cfg.Options()
	if err != nil {
		cfg.PrintOptionsError(stderr, err)
		return 1
	}
	out := clientflags.NewLockedWriter(stdout)
	popts := format.Options{Format: cfg.Format, Verbose: cfg.Verbose, NoEOL: !cfg.EOL, Pretty: cfg.Pretty}
	if !cfg.Quiet {
		popts.Warn = stderr
	}
	printer, err := format.New(popts)
	if err != nil {
		return clientflags.ReportParseError(cfg, err, usage, version, stdout, stderr)
	}
	if h != nil && h.printer != nil {
		h.printer(printer)
	}

	s := &session{
		cfg: cfg, out: out, stderr: stderr, printer: printer,
		dbg:         clientflags.NewDebug(cfg.Debug, out, opts.ClientID),
		finished:    make(chan struct{}),
		subscribing: make(chan struct{}),
	}
	opts.OnConnect = s.onConnect
	opts.OnMessage = s.onMessage
	opts.OnSuback = s.onSuback
	// libmosquitto's loop_forever reconnects after a lost connection and
	// the connect callback subscribes again.
	opts.AutoReconnect = true

	s.dbg.Printf("sending CONNECT")
	c, err := client.Connect(ctx, opts)
	if err != nil {
		var ce *client.ConnectError
		if errors.As(err, &ce) {
			s.dbg.Printf("received CONNACK (%d)", ce.ReasonCode)
		}
		msg, code := cfg.ConnectFailure(err)
		cfg.Errorf(stderr, "%s", msg)
		return code
	}

	var timeout <-chan time.Time
	if cfg.Timeout > 0 {
		t := time.NewTimer(time.Duration(cfg.Timeout) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	reason := client.Success
	code := 0
	select {
	case <-s.finished:
	case <-ctx.Done():
		reason = client.DisconnectWithWill
	case <-timeout:
		reason = client.DisconnectWithWill
		code = exitTimeout
	case <-c.Done():
		cfg.Errorf(stderr, "Error: %s\n", "The connection was lost.")
		return 7
	}
	s.stop()
	s.dbg.Printf("sending DISCONNECT")
	dprops := clientflags.ToProperties(cfg.DisconnectProps)
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.Disconnect(dctx, reason, &dprops)
	cancel()
	if code == exitTimeout {
		cfg.Errorf(stderr, "Timed out\n")
	}
	return code
}

// session is the state shared by the client's callbacks.
type session struct {
	cfg     *clientflags.Config
	out     io.Writer
	stderr  io.Writer
	printer *format.Printer
	dbg     *clientflags.Debug

	mu       sync.Mutex
	stopped  bool
	count    int
	once     sync.Once
	finished chan struct{} // closed when the tool should disconnect and exit 0
	// subscribing is closed once the first SUBSCRIBE has been logged:
	// messages print after that line, as libmosquitto's loop runs the
	// connect callback before it reads any PUBLISH.
	subscribing    chan struct{}
	subscribingOne sync.Once
	subMID         uint16 // the -d message id of the SUBSCRIBE in flight
}

func (s *session) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

func (s *session) finish() {
	s.once.Do(func() { close(s.finished) })
}

// onConnect subscribes (and unsubscribes) as mosquitto_sub's connect
// callback does, after every connection.
func (s *session) onConnect(ctx context.Context, c *client.Client, ack *client.Connack) {
	defer s.subscribingOne.Do(func() { close(s.subscribing) })
	s.dbg.SetID(c.ClientID())
	s.dbg.Printf("received CONNACK (%d)", ack.ReasonCode)
	cfg := s.cfg
	subs := make([]client.Subscription, len(cfg.Topics))
	options := byte(0)
	if cfg.RetainAsPublished {
		options |= 0x08
	}
	if cfg.ProtocolVersion == clientflags.V5 {
		options |= cfg.RetainHandling << 4
	}
	mid := s.dbg.NextMID()
	for i, t := range cfg.Topics {
		subs[i] = client.Subscription{Filter: t, QoS: byte(cfg.QoS), RetainAsPublished: cfg.RetainAsPublished, RetainHandling: cfg.RetainHandling}
		s.dbg.Printf("sending SUBSCRIBE (Mid: %d, Topic: %s, QoS: %d, Options: 0x%02x)", mid, t, cfg.QoS, options)
	}
	s.mu.Lock()
	s.subMID = mid
	s.mu.Unlock()
	s.subscribingOne.Do(func() { close(s.subscribing) })
	sprops := clientflags.ToProperties(cfg.SubscribeProps)
	if _, err := c.Subscribe(ctx, &sprops, subs...); err != nil {
		return
	}
	// The SUBACK itself is handled by onSuback, in order with messages.
	if len(cfg.UnsubTopics) > 0 {
		uprops := clientflags.ToProperties(cfg.UnsubscribeProps)
		for _, u := range cfg.UnsubTopics {
			s.dbg.Printf("sending UNSUBSCRIBE (Mid: %d, Topic: %s)", s.dbg.NextMID(), u)
			if _, err := c.Unsubscribe(ctx, &uprops, u); err == nil {
				s.dbg.Printf("received UNSUBACK")
			}
		}
	}
}

// onSuback is mosquitto_sub's subscribe callback. It runs in order with
// onMessage: messages that arrived before the SUBACK are printed before
// it, and -E prints exactly those.
func (s *session) onSuback(_ *client.Client, suback *client.Suback) {
	cfg := s.cfg
	s.mu.Lock()
	mid := s.subMID
	s.mu.Unlock()
	s.dbg.Printf("received SUBACK")
	if cfg.Debug && !cfg.Quiet && len(suback.ReasonCodes) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "Subscribed (mid: %d): %d", mid, suback.ReasonCodes[0])
		for _, rc := range suback.ReasonCodes[1:] {
			fmt.Fprintf(&b, ", %d", rc)
		}
		s.dbg.Raw("%s", b.String())
	}
	allowed := false
	for _, rc := range suback.ReasonCodes {
		allowed = allowed || rc < 0x80
	}
	if !allowed {
		cfg.Errorf(s.stderr, "All subscription requests were denied.\n")
		s.stop()
		s.finish()
	}
	if cfg.ExitAfterSub {
		s.stop()
		s.finish()
	}
}

// onMessage is mosquitto_sub's message callback: filters, printing, -C.
func (s *session) onMessage(c *client.Client, m *client.Message) {
	<-s.subscribing
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	s.dbg.Received(m)
	if stopped {
		return
	}
	cfg := s.cfg
	if cfg.RetainedOnly && !m.Retain {
		s.stop()
		s.finish()
		return
	}
	if m.Retain && cfg.NoRetain {
		return
	}
	for _, f := range cfg.FilterOuts {
		if topic.Match(f, m.Topic) {
			return
		}
	}
	if cfg.RemoveRetained && m.Retain {
		clear := &client.Message{Topic: m.Topic, QoS: 1, Retain: true}
		mid := s.dbg.Publishing(clear)
		if ack, err := c.Publish(context.Background(), clear); err == nil {
			s.dbg.Published(1, mid, ack)
		}
	}
	if cfg.RandomFilter >= 10000 || rand.IntN(10000) < cfg.RandomFilter {
		if err := s.printer.Print(s.out, clientflags.FormatMessage(m)); err != nil {
			s.stop()
			s.finish()
			return
		}
	}
	if cfg.MsgCount > 0 {
		s.count++
		if s.count == cfg.MsgCount {
			s.stop()
			s.finish()
		}
	}
}
