package packet

import (
	"errors"
	"io"
)

// bodyChunk bounds how far the body buffer ReadPacket allocates runs ahead
// of the bytes that have arrived, so that a header announcing 256 MB does
// not allocate 256 MB before the peer has sent it.
const bodyChunk = 64 << 10

// ReadPacket reads exactly one packet from r and decodes it for protocol
// level version (see Decode). The fixed header is read byte by byte, so r
// need not be buffered and nothing after the packet is consumed. maxSize,
// when positive, bounds the packet's total size (fixed header included): a
// larger packet returns a PacketTooLarge *Error before its body is read.
// A clean end of input before the first byte returns io.EOF; an end
// inside the packet returns io.ErrUnexpectedEOF.
func ReadPacket(r io.Reader, version byte, maxSize int) (Packet, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return nil, err
	}
	var (
		first             byte
		remaining, hdrLen int
		err               error
	)
	for n := 2; ; n++ {
		if _, err := io.ReadFull(r, hdr[n-1:n]); err != nil {
			return nil, noEOF(err)
		}
		first, remaining, hdrLen, err = ParseHeader(hdr[:n])
		if err == nil {
			break
		}
		// ParseHeader fails for good by the fifth byte, so n stays in hdr.
		if !errors.Is(err, ErrIncomplete) {
			return nil, err
		}
	}
	if total := hdrLen + remaining; maxSize > 0 && total > maxSize {
		return nil, reasonError(PacketTooLarge, "%s of %d bytes exceeds the maximum packet size %d",
			Type(first>>4), total, maxSize)
	}
	body, err := readBody(r, remaining)
	if err != nil {
		return nil, err
	}
	return Decode(version, first, body)
}

// readBody reads n bytes, growing the buffer as the bytes arrive.
func readBody(r io.Reader, n int) ([]byte, error) {
	body := make([]byte, min(n, bodyChunk))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, noEOF(err)
	}
	for len(body) < n {
		have := len(body)
		// Double, so a large body costs a logarithmic number of copies.
		body = append(body, make([]byte, min(n-have, have))...)
		if _, err := io.ReadFull(r, body[have:]); err != nil {
			return nil, noEOF(err)
		}
	}
	return body, nil
}

// noEOF reports a clean end of input inside a packet as unexpected.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
