package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// publisher publishes timestamped messages on one connection, as fast as
// the broker takes them or at a fixed rate, keeping at most a window of
// QoS 1 or 2 messages unacknowledged. The PUBLISH is encoded once; each
// message only rewrites its packet identifier and timestamp, and messages
// are written in batches.
type publisher struct {
	conn     net.Conn
	w        *bufio.Writer
	qos      byte
	template publishTemplate
	window   int
	tokens   chan struct{} // one per free slot in the QoS 1/2 window
	rate     float64       // messages per second, 0 for as fast as possible
	sent     atomic.Int64  // written in full (read by the progress reporter)
	acked    atomic.Int64  // PUBACK or PUBCOMP received
	rejected atomic.Int64  // acknowledged with an MQTT 5 error reason code
	ackDone  chan error    // the acknowledgement reader's end, at QoS 1 and 2
}

// publishBatch is how many messages the publisher buffers before it writes
// them to the socket in one call.
const publishBatch = 64

// startAcks starts the goroutine that reads acknowledgements. It runs
// until the connection is closed.
func (p *publisher) startAcks() {
	if p.qos == 0 {
		return
	}
	p.tokens = make(chan struct{}, p.window)
	for range p.window {
		p.tokens <- struct{}{}
	}
	p.ackDone = make(chan error, 1)
	go func() { p.ackDone <- p.readAcks() }()
}

// run publishes until end. At QoS 0 the write deadline is end: writes stop
// at the end of the run even while the broker is not reading, and what the
// kernel has not taken by then was not published.
func (p *publisher) run(ctx context.Context, base, end time.Time, ioDeadline time.Time) error {
	endOffset := end.Sub(base)
	pktLen := int64(len(p.template.buf))
	if p.qos == 0 {
		_ = p.conn.SetWriteDeadline(end)
	} else {
		_ = p.conn.SetWriteDeadline(ioDeadline)
	}
	endTimer := time.NewTimer(time.Until(end))
	defer endTimer.Stop()
	startOffset := time.Since(base)
	var id uint16
	var sent int64
	for {
		now := time.Since(base)
		if now >= endOffset {
			break
		}
		if p.rate > 0 {
			// Message number sent is due at sent/rate after the start;
			// ahead of schedule, write what is buffered and wait.
			due := startOffset + time.Duration(float64(sent)/p.rate*float64(time.Second))
			if due > now {
				if err := p.w.Flush(); err != nil {
					return p.stopped(err, sent, 0, pktLen)
				}
				p.sent.Store(sent)
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
				// The window is full: write what is buffered and wait.
				if err := p.w.Flush(); err != nil {
					return p.stopped(err, sent, 0, pktLen)
				}
				select {
				case <-p.tokens:
				case <-endTimer.C:
					return p.stopped(p.w.Flush(), sent, 0, pktLen)
				case err := <-p.ackDone:
					p.ackDone <- err // for whoever waits next
					return fmt.Errorf("reading acknowledgements: %w", err)
				case <-ctx.Done():
					return ctx.Err()
				}
				now = time.Since(base)
			}
			if id++; id == 0 {
				id = 1
			}
		}
		pkt := p.template.fill(id, uint64(now))
		// Flushes end on packet boundaries, so the acknowledgement reader
		// may write a PUBREL to the connection between two of them.
		if p.w.Available() < len(pkt) && p.w.Buffered() > 0 {
			if err := p.w.Flush(); err != nil {
				return p.stopped(err, sent, 0, pktLen)
			}
		}
		if n, err := p.w.Write(pkt); err != nil {
			return p.stopped(err, sent, n, pktLen)
		}
		sent++
		if sent%publishBatch == 0 {
			if err := p.w.Flush(); err != nil {
				return p.stopped(err, sent, 0, pktLen)
			}
			p.sent.Store(sent)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return p.stopped(p.w.Flush(), sent, 0, pktLen)
}

// stopped records the final count and handles the error that ended
// publishing. Reaching the write deadline is the normal end of a QoS 0 run
// against a saturated broker: then only the messages the kernel took in
// full count as sent. partial is how many bytes of an unfinished message
// went into the buffer.
func (p *publisher) stopped(err error, sent int64, partial int, pktLen int64) error {
	p.sent.Store(sent)
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || p.qos > 0 {
		return err
	}
	taken := sent*pktLen + int64(partial) - int64(p.w.Buffered())
	p.sent.Store(taken / pktLen)
	return nil
}

// readAcks reads the publisher's connection for acknowledgements: PUBACK
// and PUBCOMP free a slot in the window, PUBREC is answered with PUBREL.
// It returns when the connection fails or is closed.
func (p *publisher) readAcks() error {
	r := bufio.NewReaderSize(p.conn, 4<<10)
	var scratch []byte
	var rel [4]byte
	for {
		first, body, err := readPacket(r, &scratch)
		if err != nil {
			return err
		}
		kind := first >> 4
		if kind != hdrPuback>>4 && kind != hdrPubrec>>4 && kind != hdrPubcomp>>4 {
			continue
		}
		id, reason, err := ackFields(body)
		if err != nil {
			return err
		}
		if kind == hdrPubrec>>4 && reason < 0x80 {
			// One small write, whole: the publisher's flushes end on
			// packet boundaries, so the two never interleave mid-packet.
			if _, err := p.conn.Write(appendAck(rel[:0], hdrPubrel, id)); err != nil {
				return err
			}
			continue
		}
		if reason >= 0x80 {
			p.rejected.Add(1)
		}
		p.acked.Add(1)
		select {
		case p.tokens <- struct{}{}:
		default:
		}
	}
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
