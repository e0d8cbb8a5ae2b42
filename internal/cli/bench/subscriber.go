package bench

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// subscriber is one subscribing connection and what it has received. Its
// read loop reuses one buffer and allocates nothing per message.
type subscriber struct {
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	version  byte
	received atomic.Int64
	latency  histogram // owned by run until it returns
	err      error     // set by run, read after it returns
}

// run reads until the connection fails or is closed, recording each
// message's latency and acknowledging QoS 1 and 2 messages.
func (s *subscriber) run(base time.Time, stopping *atomic.Bool) {
	var scratch []byte
	var ack [4]byte
	for {
		// Acknowledgements wait in the buffer while more input is at hand
		// and are written before the reader could block: one write per
		// batch of messages rather than one per message.
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
		switch first >> 4 {
		case hdrPublish >> 4:
			id, payload, err := publishFields(s.version, first, body)
			if err != nil {
				s.fail(err, stopping)
				return
			}
			if len(payload) >= 8 {
				sent := time.Duration(binary.LittleEndian.Uint64(payload))
				s.latency.record(time.Since(base) - sent)
			}
			s.received.Add(1)
			switch (first >> 1) & 3 {
			case 1:
				_, _ = s.w.Write(appendAck(ack[:0], hdrPuback, id))
			case 2:
				_, _ = s.w.Write(appendAck(ack[:0], hdrPubrec, id))
			}
		case hdrPubrel >> 4:
			id, _, err := ackFields(body)
			if err != nil {
				s.fail(err, stopping)
				return
			}
			_, _ = s.w.Write(appendAck(ack[:0], hdrPubcomp, id))
		}
	}
}

func (s *subscriber) fail(err error, stopping *atomic.Bool) {
	if !stopping.Load() {
		s.err = err
	}
}
