package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one run measured.
type Result struct {
	Config Config // with defaults applied

	Connections int           // connections opened
	ConnectTime time.Duration // from the first dial to the last CONNACK (and SUBACK)
	ConnectRate float64       // connections per second
	// ConnectLatency (Idle) is each connection's time from the dial to
	// its CONNACK.
	ConnectLatency Latency

	Elapsed           time.Duration // publishing time (Idle: time connected)
	Sent              int64         // messages published (written in full to the socket)
	Acked             int64         // QoS 1/2: PUBACK or PUBCOMP received
	Rejected          int64         // MQTT 5: acknowledged with an error reason code
	Expected          int64         // deliveries expected: Sent × matching subscribers
	DeliveredInWindow int64         // received while publishing
	Delivered         int64         // received by the end of the drain
	Lost              int64         // Expected − Delivered when positive
	SentRate          float64       // Sent / Elapsed
	DeliveredRate     float64       // DeliveredInWindow / Elapsed
	Latency           Latency       // send to receive, from the payload's timestamp

	GeneratorCPU        time.Duration // this process over publishing and drain
	GeneratorCPUPercent float64       // of one core
	BrokerCPU           time.Duration // with BrokerPID
	BrokerCPUPercent    float64
	OtherCPUPercent     float64 // rest of the machine (includes the broker without BrokerPID)

	BrokerRSSBefore     int64   // with BrokerPID: bytes before connecting
	BrokerRSSAfter      int64   // ... and at the end, still connected
	BrokerPeakRSS       int64   // ... largest so far (VmHWM)
	MemoryPerConnection float64 // Idle: (after − before) / connections
}

// ioGrace is added to every socket deadline beyond the planned end of a run,
// so that only a stuck broker trips it.
const ioGrace = 10 * time.Second

// Run runs one benchmark against the broker at cfg.Addr (or the brokers of
// cfg.PubBrokers and cfg.SubBrokers) and returns what it measured. It
// returns an error when a connection fails or the broker refuses
// something; lost messages are a result, not an error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if cfg.ClientIDPrefix == "" {
		cfg.ClientIDPrefix = fmt.Sprintf("bench-%06x-", rand.Uint32()&0xffffff)
	}
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	res := Result{Config: cfg}
	if cfg.BrokerPID > 0 {
		var err error
		if res.BrokerRSSBefore, err = ProcRSS(cfg.BrokerPID); err != nil {
			return res, err
		}
	}
	var err error
	if cfg.Scenario == Idle {
		err = runIdle(ctx, cfg.dialers(nil)[0], &cfg, &res)
	} else {
		err = runMessages(ctx, &cfg, &res)
	}
	if err != nil {
		return res, err
	}
	if cfg.BrokerPID > 0 {
		if res.BrokerPeakRSS, err = ProcPeakRSS(cfg.BrokerPID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// load is the connections of a message scenario and the dialers that
// open them: connection i of each kind goes to dialer i modulo their
// number.
type load struct {
	subs []*subscriber
	slow []net.Conn
	pubs []*publisher

	pubDialers, subDialers []*dialer
}

func (l *load) pubDialer(i int) *dialer { return l.pubDialers[i%len(l.pubDialers)] }
func (l *load) subDialer(i int) *dialer { return l.subDialers[i%len(l.subDialers)] }

func (l *load) connected() int { return len(l.subs) + len(l.slow) + len(l.pubs) }

func runMessages(ctx context.Context, cfg *Config, res *Result) error {
	p := makePlan(cfg)
	base := time.Now()
	ioDeadline := base.Add(cfg.ConnectTimeout + cfg.Duration + cfg.Drain + ioGrace)

	l := load{pubDialers: cfg.dialers(cfg.PubBrokers), subDialers: cfg.dialers(cfg.SubBrokers)}
	var stopping atomic.Bool
	var readers sync.WaitGroup
	defer func() {
		stopping.Store(true)
		for _, s := range l.subs {
			s.conn.Close()
		}
		for _, c := range l.slow {
			c.Close()
		}
		for _, pub := range l.pubs {
			pub.conn.Close()
			if pub.ackDone != nil {
				<-pub.ackDone
			}
		}
		readers.Wait()
		if cfg.Persistent {
			// A clean connection under each id discards the kept session.
			for i := range l.subs {
				if c, err := l.subDialer(i).connect(context.Background(), fmt.Sprintf("%ssub-%d", cfg.ClientIDPrefix, i)); err == nil {
					c.Close()
				}
			}
		}
	}()

	connStart := time.Now()
	if err := connectLoad(ctx, cfg, &p, &l, ioDeadline); err != nil {
		return err
	}
	res.Connections = l.connected()
	res.ConnectTime = time.Since(connStart)
	res.ConnectRate = float64(res.Connections) / res.ConnectTime.Seconds()

	for _, s := range l.subs {
		readers.Go(func() { s.run(base, &stopping) })
	}
	for _, pub := range l.pubs {
		pub.startAcks()
	}
	delivered := func() int64 {
		var n int64
		for _, s := range l.subs {
			n += s.received.Load()
		}
		return n
	}
	sent := func() (n, acked int64) {
		for _, pub := range l.pubs {
			n += pub.sent.Load()
			acked += pub.acked.Load()
		}
		return n, acked
	}

	meter := startCPUMeter(cfg.BrokerPID)
	start := time.Now()
	stopProgress := startProgress(cfg, start, func() Progress {
		n, _ := sent()
		return Progress{Connected: l.connected(), Sent: n, Delivered: delivered()}
	})
	defer stopProgress()

	end := start.Add(cfg.Duration)
	errs := make([]error, len(l.pubs))
	var pubWG sync.WaitGroup
	for i, pub := range l.pubs {
		pubWG.Go(func() {
			if err := pub.run(ctx, base, end, ioDeadline); err != nil {
				errs[i] = fmt.Errorf("publisher %d: %w", i, err)
			}
		})
	}
	pubWG.Wait()
	res.Elapsed = time.Since(start)
	res.DeliveredInWindow = delivered()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	// Drain: wait for the deliveries still in flight and, at QoS 1 and 2,
	// the publishers' last acknowledgements. Polling is fine here: this is
	// the end of a measurement, not a hot path.
	for i, pub := range l.pubs {
		res.Expected += pub.sent.Load() * int64(p.perMessage[i])
	}
	drainEnd := time.Now().Add(cfg.Drain)
	for {
		res.Delivered = delivered()
		res.Sent, res.Acked = sent()
		done := res.Delivered >= res.Expected && (cfg.QoS == 0 || res.Acked >= res.Sent)
		if done || time.Now().After(drainEnd) {
			break
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	stopProgress()
	if err := meter.stop(res); err != nil {
		return err
	}
	if cfg.BrokerPID > 0 {
		var err error
		if res.BrokerRSSAfter, err = ProcRSS(cfg.BrokerPID); err != nil {
			return err
		}
	}

	stopping.Store(true)
	for _, s := range l.subs {
		s.conn.Close()
	}
	readers.Wait()
	var lat histogram
	var subErrs []error
	for _, s := range l.subs {
		lat.merge(&s.latency)
		if s.err != nil {
			subErrs = append(subErrs, s.err)
		}
	}
	if len(subErrs) > 0 {
		return fmt.Errorf("%d subscribers lost their connection, first: %w", len(subErrs), subErrs[0])
	}
	for _, pub := range l.pubs {
		res.Rejected += pub.rejected.Load()
	}
	res.Latency = lat.summary()
	res.Lost = max(0, res.Expected-res.Delivered)
	res.SentRate = float64(res.Sent) / res.Elapsed.Seconds()
	res.DeliveredRate = float64(res.DeliveredInWindow) / res.Elapsed.Seconds()
	return nil
}

// connectLoad connects and subscribes everyone in the plan: subscribers
// first, so that no message is published before every subscription is in
// place.
func connectLoad(ctx context.Context, cfg *Config, p *plan, l *load, ioDeadline time.Time) error {
	l.subs = make([]*subscriber, len(p.subFilters))
	err := forEach(ctx, len(p.subFilters), cfg.Parallel, func(i int) error {
		c, err := l.subDialer(i).connectSession(ctx, fmt.Sprintf("%ssub-%d", cfg.ClientIDPrefix, i), cfg.Persistent)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		s := &subscriber{
			conn:    c,
			r:       bufio.NewReaderSize(c, 64<<10),
			w:       bufio.NewWriterSize(c, 4<<10),
			version: cfg.Version,
		}
		l.subs[i] = s
		if err := subscribe(c, s.r, cfg.Version, p.subFilters[i], cfg.QoS, time.Now().Add(cfg.ConnectTimeout)); err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		_ = c.SetDeadline(ioDeadline)
		return nil
	})
	l.subs = compact(l.subs)
	if err != nil {
		return err
	}

	l.slow = make([]net.Conn, len(p.slowFilters))
	err = forEach(ctx, len(p.slowFilters), cfg.Parallel, func(i int) error {
		c, err := l.subDialer(i).connect(ctx, fmt.Sprintf("%sslow-%d", cfg.ClientIDPrefix, i))
		if err != nil {
			return fmt.Errorf("slow subscriber %d: %w", i, err)
		}
		l.slow[i] = c
		// A small receive buffer makes the kernel push back on the broker
		// soon, as a client that stopped reading on a real network would.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		r := bufio.NewReaderSize(c, 256)
		return subscribe(c, r, cfg.Version, p.slowFilters[i], cfg.QoS, time.Now().Add(cfg.ConnectTimeout))
	})
	l.slow = compact(l.slow)
	if err != nil {
		return err
	}

	rate := cfg.Rate / float64(len(p.pubTopics))
	l.pubs = make([]*publisher, len(p.pubTopics))
	err = forEach(ctx, len(p.pubTopics), cfg.Parallel, func(i int) error {
		c, err := l.pubDialer(i).connect(ctx, fmt.Sprintf("%spub-%d", cfg.ClientIDPrefix, i))
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		_ = c.SetReadDeadline(ioDeadline)
		// A small send buffer keeps the kernel from queueing megabytes the
		// broker has not read: the sent count then reflects what the
		// broker took in.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(64 << 10)
		}
		l.pubs[i] = &publisher{
			conn:     c,
			w:        bufio.NewWriterSize(c, 64<<10),
			qos:      cfg.QoS,
			template: newPublishTemplate(cfg.Version, p.pubTopics[i], cfg.QoS, cfg.Payload),
			window:   cfg.Inflight,
			rate:     rate,
		}
		return nil
	})
	l.pubs = compact(l.pubs)
	return err
}

// compact drops the nil entries that failed connections left.
func compact[T comparable](s []T) []T {
	var zero T
	out := s[:0]
	for _, v := range s {
		if v != zero {
			out = append(out, v)
		}
	}
	return out
}

// forEach calls fn(0) ... fn(n-1) with at most parallel calls at once and
// returns the first error, after which it starts no more calls.
func forEach(ctx context.Context, n, parallel int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(parallel, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() {
						firstErr = err
						cancel()
					})
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// startProgress calls cfg.Progress every interval until the returned
// function is called (which is safe to call more than once).
func startProgress(cfg *Config, start time.Time, snap func() Progress) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := snap()
				p.Elapsed = time.Since(start)
				cfg.Progress(p)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}
