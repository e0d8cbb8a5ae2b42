package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The fanout scenario measures throughput and latency of one publisher
// feeding many subscribers of one topic: every message the broker accepts
// is delivered -subs times.

const (
	fanoutTopic = "bench/fanout"
	// qos1Window is how many QoS 1 PUBLISH packets the publisher keeps
	// awaiting PUBACK.
	qos1Window = 20
	// publishBatch is how many messages the publisher buffers before it
	// writes them to the socket in one call.
	publishBatch = 64
	// drainTimeout bounds the wait for deliveries after publishing stops.
	drainTimeout = 2 * time.Second
	ioBufSize    = 64 << 10
	// publisherSendBuffer is the publisher's SO_SNDBUF (the kernel doubles it).
	publisherSendBuffer = 64 << 10
	// ioGrace is added to every socket deadline beyond the planned end of
	// the run, so that only a stuck broker trips it.
	ioGrace = 10 * time.Second
)

// subscriber is one subscribing connection and what it has received.
type subscriber struct {
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	qos      byte
	received atomic.Int64
	latency  histogram
	err      error
}

// run reads until the connection fails or is closed, recording each
// message's latency and acknowledging QoS 1 messages in batches.
func (s *subscriber) run(base time.Time, stopping *atomic.Bool) {
	var scratch []byte
	var ack [4]byte
	for {
		// Acknowledgements wait in the buffer while more input is at hand
		// and are written before the reader could block.
		if s.r.Buffered() == 0 && s.w.Buffered() > 0 {
			if err := s.w.Flush(); err != nil {
				s.fail(err, stopping)
				return
			}
		}
		first, body, err := readPacket(s.r, &scratch)
		if err != nil {
			s.fail(err, stopping)
			return
		}
		if first>>4 != hdrPublish>>4 {
			continue
		}
		id, payload, err := publishPayload(first, body)
		if err != nil {
			s.fail(err, stopping)
			return
		}
		if len(payload) >= 8 {
			sent := time.Duration(binary.LittleEndian.Uint64(payload))
			s.latency.record(time.Since(base) - sent)
		}
		s.received.Add(1)
		if (first>>1)&3 == 1 {
			_, _ = s.w.Write(appendPuback(ack[:0], id))
		}
	}
}

func (s *subscriber) fail(err error, stopping *atomic.Bool) {
	if !stopping.Load() {
		s.err = err
	}
}

func runFanout(ctx context.Context, b *brokerProc, st settings) ([]metric, error) {
	base := time.Now()
	ioDeadline := base.Add(st.duration + drainTimeout + connectTimeout + ioGrace)

	subs, err := connectSubscribers(ctx, b.addr, st.subs, st.qos, ioDeadline)
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.conn.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { s.run(base, &stopping) })
	}
	stopSubscribers := func() {
		stopping.Store(true)
		for _, s := range subs {
			s.conn.Close()
		}
		wg.Wait()
	}
	defer stopSubscribers()

	pc, err := dialConnect(ctx, b.addr, "bench-pub", connectTimeout)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	defer pc.Close()
	_ = pc.SetReadDeadline(ioDeadline)
	// A small send buffer keeps the kernel from queueing megabytes the
	// broker has not read: the published count then reflects what the
	// broker took in.
	if tc, ok := pc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(publisherSendBuffer)
	}
	pub := &publisher{
		conn:     pc,
		w:        bufio.NewWriterSize(pc, ioBufSize),
		qos:      st.qos,
		template: newPublishTemplate(fanoutTopic, st.qos, st.payload),
		tokens:   make(chan struct{}, qos1Window),
		rate:     st.rate,
	}

	brokerCPU0, err := b.cpuTime()
	if err != nil {
		return nil, err
	}
	selfCPU0 := selfCPUTime()
	busy0 := machineBusyTime()
	start := time.Now()
	if err := pub.run(ctx, base, start.Add(st.duration)); err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	pubElapsed := time.Since(start)
	inWindow := int64(0)
	for _, s := range subs {
		inWindow += s.received.Load()
	}

	// Drain: wait for the deliveries still in flight (and, at QoS 1, the
	// publisher's last acknowledgements).
	published := pub.sent
	expected := published * int64(len(subs))
	delivered := int64(0)
	drainEnd := time.Now().Add(drainTimeout)
	for {
		delivered = 0
		for _, s := range subs {
			delivered += s.received.Load()
		}
		done := delivered >= expected && (st.qos == 0 || pub.acked.Load() >= published)
		if done || time.Now().After(drainEnd) {
			break
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return nil, err
		}
	}
	window := time.Since(start)
	brokerCPU1, err := b.cpuTime()
	if err != nil {
		return nil, err
	}
	selfCPU := selfCPUTime() - selfCPU0
	busy := machineBusyTime() - busy0
	brokerCPU := brokerCPU1 - brokerCPU0
	peak, err := b.peakRSSBytes()
	if err != nil {
		return nil, err
	}

	stopSubscribers()
	var lat histogram
	var subErrs []error
	for _, s := range subs {
		lat.merge(&s.latency)
		if s.err != nil {
			subErrs = append(subErrs, s.err)
		}
	}
	if len(subErrs) > 0 {
		return nil, fmt.Errorf("%d subscribers lost their connection, first: %w", len(subErrs), subErrs[0])
	}
	if err := b.alive(); err != nil {
		return nil, err
	}

	pubRate := float64(published) / pubElapsed.Seconds()
	delRate := float64(inWindow) / pubElapsed.Seconds()
	deliveredPct := 0.0
	if expected > 0 {
		deliveredPct = 100 * float64(delivered) / float64(expected)
	}
	p50, p99 := lat.percentile(0.50), lat.percentile(0.99)
	brokerPct := 100 * brokerCPU.Seconds() / window.Seconds()
	selfPct := 100 * selfCPU.Seconds() / window.Seconds()
	otherPct := max(0, 100*(busy-brokerCPU-selfCPU).Seconds()/window.Seconds())
	fmt.Printf("  %s fanout: published %d in %v (%.0f msg/s); delivered %d while publishing (%.0f msg/s), %d of %d (%.2f%%) after the drain; latency p50 %v p99 %v; CPU broker %.0f%% generator %.0f%% others %.0f%% (of %d cores); peak RSS %.1f MB\n",
		b.name, published, pubElapsed.Round(time.Millisecond), pubRate, inWindow, delRate, delivered, expected, deliveredPct,
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), brokerPct, selfPct, otherPct, runtime.NumCPU(), mb(peak))
	return []metric{
		{name: "fanout: published (msg/s)", value: pubRate, format: "%.0f"},
		{name: "fanout: delivered (msg/s)", value: delRate, format: "%.0f"},
		{name: "fanout: delivered after drain (% of expected)", value: deliveredPct, format: "%.2f"},
		{name: "fanout: latency p50 (ms)", value: ms(p50), format: "%.3f", lowerIsBetter: true},
		{name: "fanout: latency p99 (ms)", value: ms(p99), format: "%.3f", lowerIsBetter: true},
		{name: "fanout: broker CPU (% of a core)", value: brokerPct, format: "%.0f", info: true},
		{name: "fanout: generator CPU (% of a core)", value: selfPct, format: "%.0f", info: true},
		{name: "fanout: other processes' CPU (% of a core)", value: otherPct, format: "%.0f", info: true},
		{name: "fanout: broker peak RSS (MB)", value: mb(peak), format: "%.1f", lowerIsBetter: true},
	}, nil
}

// connectSubscribers connects and subscribes n clients concurrently.
func connectSubscribers(ctx context.Context, addr string, n int, qos byte, ioDeadline time.Time) ([]*subscriber, error) {
	subs := make([]*subscriber, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := dialConnect(ctx, addr, fmt.Sprintf("bench-sub-%d", i), connectTimeout)
			if err != nil {
				errs[i] = err
				return
			}
			s := &subscriber{
				conn: c,
				r:    bufio.NewReaderSize(c, ioBufSize),
				w:    bufio.NewWriterSize(c, 4<<10),
				qos:  qos,
			}
			subs[i] = s
			if err := subscribe(c, s.r, fanoutTopic, qos, time.Now().Add(connectTimeout)); err != nil {
				errs[i] = err
				return
			}
			_ = c.SetDeadline(ioDeadline)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return subs, fmt.Errorf("subscribers: %w", err)
	}
	return subs, nil
}

// publisher publishes timestamped messages as fast as the broker takes
// them, keeping at most qos1Window unacknowledged at QoS 1.
type publisher struct {
	conn     net.Conn
	w        *bufio.Writer
	qos      byte
	template publishTemplate
	tokens   chan struct{} // one per free slot in the QoS 1 window
	rate     float64       // messages per second, 0 for as fast as possible
	sent     int64
	acked    atomic.Int64
}

func (p *publisher) run(ctx context.Context, base, end time.Time) error {
	endOffset := end.Sub(base)
	pktLen := int64(len(p.template.buf))
	// Writes stop at the end of the run even while the broker is not
	// reading: what the kernel has not taken by then was not published.
	_ = p.conn.SetWriteDeadline(end)
	var ackErr chan error
	if p.qos > 0 {
		for range qos1Window {
			p.tokens <- struct{}{}
		}
		ackErr = make(chan error, 1)
		go func() { ackErr <- p.readAcks() }()
	}
	endTimer := time.NewTimer(time.Until(end))
	defer endTimer.Stop()
	startOffset := time.Since(base)
	var id uint16
	for {
		now := time.Since(base)
		if now >= endOffset {
			break
		}
		if p.rate > 0 {
			// Message number p.sent is due at p.sent/rate after the start;
			// ahead of schedule, send what is buffered and wait.
			due := startOffset + time.Duration(float64(p.sent)/p.rate*float64(time.Second))
			if due > now {
				if err := p.w.Flush(); err != nil {
					return p.stopped(err, 0, pktLen)
				}
				if err := sleepCtx(ctx, min(due, endOffset)-now); err != nil {
					return err
				}
				continue
			}
		}
		if p.qos > 0 {
			select {
			case <-p.tokens:
			default:
				// The window is full: send what is buffered and wait.
				if err := p.w.Flush(); err != nil {
					return p.stopped(err, 0, pktLen)
				}
				select {
				case <-p.tokens:
				case <-endTimer.C:
					return p.stopped(p.w.Flush(), 0, pktLen)
				case err := <-ackErr:
					return fmt.Errorf("reading PUBACK: %w", err)
				case <-ctx.Done():
					return ctx.Err()
				}
				now = time.Since(base)
			}
			id++
			if id == 0 {
				id = 1
			}
		}
		if n, err := p.w.Write(p.template.fill(id, uint64(now))); err != nil {
			return p.stopped(err, n, pktLen)
		}
		p.sent++
		if p.sent%publishBatch == 0 {
			if err := p.w.Flush(); err != nil {
				return p.stopped(err, 0, pktLen)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return p.stopped(p.w.Flush(), 0, pktLen)
}

// stopped handles the error that ended publishing. Reaching the write
// deadline is the normal end of a run against a saturated broker: then
// only the messages the kernel took in full count as sent. partial is how
// many bytes of an unfinished message went into the buffer.
func (p *publisher) stopped(err error, partial int, pktLen int64) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	taken := p.sent*pktLen + int64(partial) - int64(p.w.Buffered())
	p.sent = taken / pktLen
	return nil
}

// readAcks reads the publisher's connection for PUBACKs, each of which
// frees a slot in the window. It returns when the connection fails or is
// closed.
func (p *publisher) readAcks() error {
	r := bufio.NewReaderSize(p.conn, 4<<10)
	var scratch []byte
	for {
		first, _, err := readPacket(r, &scratch)
		if err != nil {
			return err
		}
		if first>>4 == hdrPuback>>4 {
			p.acked.Add(1)
			select {
			case p.tokens <- struct{}{}:
			default:
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
