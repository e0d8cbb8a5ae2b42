package format

import (
	"fmt"
	"github.com/midge-mqtt/midge/internal/strftime"
	"io"
	"strconv"
	"time"
)

// Options selects the output mode, mirroring the sub/rr flags.
type Options struct {
	Format  string    // -F; empty selects -v or payload-only output
	Verbose bool      // -v
	NoEOL   bool      // -N
	Pretty  bool      // --pretty, only affects %j and %J
	Warn    io.Writer // gets "payload is not valid JSON" errors; nil discards them (--quiet)
}

// Printer renders messages. It is not safe for concurrent use.
type Printer struct {
	opts Options
	// now is the clock behind %I, %U, %j, %J and @ sequences; tests pin it.
	now func() time.Time
	buf []byte
}

// New validates opts.Format (see Check) and returns a Printer.
func New(opts Options) (*Printer, error) {
	if opts.Format != "" {
		if err := Check(opts.Format); err != nil {
			return nil, err
		}
	}
	return &Printer{opts: opts, now: time.Now}, nil
}

// Print writes m to w in a single Write, as mosquitto flushes stdout after
// every message.
func (p *Printer) Print(w io.Writer, m *Message) error {
	p.buf = p.Append(p.buf[:0], m)
	if len(p.buf) == 0 {
		return nil
	}
	if _, err := w.Write(p.buf); err != nil {
		return fmt.Errorf("format: writing message: %w", err)
	}
	return nil
}

// Append appends the rendering of m to dst.
func (p *Printer) Append(dst []byte, m *Message) []byte {
	eol := !p.opts.NoEOL
	switch {
	case p.opts.Format != "":
		dst = p.appendFormatted(dst, m)
		if eol {
			dst = append(dst, '\n')
		}
	case p.opts.Verbose:
		if len(m.Payload) > 0 {
			dst = append(dst, m.Topic...)
			dst = append(dst, ' ')
			dst = append(dst, m.Payload...)
			if eol {
				dst = append(dst, '\n')
			}
		} else if eol {
			// With -N an empty message prints nothing at all.
			dst = append(dst, m.Topic...)
			dst = append(dst, " (null)\n"...)
		}
	default:
		if len(m.Payload) > 0 {
			dst = append(dst, m.Payload...)
			if eol {
				dst = append(dst, '\n')
			}
		}
	}
	return dst
}

// spec is one parsed %-sequence: flags, width and precision.
type spec struct {
	left  bool // '-' flag
	pad   byte // ' ' or '0'
	width int
	prec  int // -1 when absent
}

// appendFormatted walks the format the way mosquitto's formatted_print does.
// The format has been through Check, so only well formed sequences remain.
func (p *Printer) appendFormatted(dst []byte, m *Message) []byte {
	f := p.opts.Format
	n := len(f)
	var (
		t      time.Time
		haveT  bool
		getNow = func() time.Time {
			if !haveT {
				t, haveT = p.now(), true
			}
			return t
		}
	)
	for i := 0; i < n; i++ {
		switch f[i] {
		case '%':
			if i >= n-1 {
				continue
			}
			s := spec{pad: ' ', prec: -1}
			i++
			if f[i] == '-' {
				s.left = true
				if i < n-1 {
					i++
				}
			}
			if f[i] == '0' {
				s.pad = '0'
				if i < n-1 {
					i++
				}
			}
			for i < n-1 && isDigit(f[i]) {
				s.width = s.width*10 + int(f[i]-'0')
				i++
			}
			if f[i] == '.' && i < n-1 {
				i++
				s.prec = 0
				for i < n-1 && isDigit(f[i]) {
					s.prec = s.prec*10 + int(f[i]-'0')
					i++
				}
			}
			dst = p.appendPercent(dst, f[i], s, m, getNow)
		case '@':
			if i >= n-1 {
				continue
			}
			i++
			switch f[i] {
			case '@':
				dst = append(dst, '@')
			case 'N':
				dst = appendZeroPadded(dst, int64(getNow().Nanosecond()), 9)
			default:
				dst = strftime.AppendConversion(dst, f[i], getNow())
			}
		case '\\':
			if i >= n-1 {
				continue
			}
			i++
			if c, ok := escapes[f[i]]; ok {
				dst = append(dst, c)
			}
		default:
			dst = append(dst, f[i])
		}
	}
	return dst
}

var escapes = map[byte]byte{'\\': '\\', '0': 0, 'a': '\a', 'e': 0x1b, 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}

func (p *Printer) appendPercent(dst []byte, c byte, s spec, m *Message, now func() time.Time) []byte {
	switch c {
	case '%':
		return append(dst, '%')
	case 'A':
		return appendIntProp(dst, m, PropTopicAlias, s)
	case 'C':
		if pr, ok := m.first(PropContentType); ok {
			return appendStr(dst, pr.Str, s)
		}
		return appendRepeat(dst, ' ', s.width)
	case 'D':
		if pr, ok := m.first(PropCorrelationData); ok {
			return append(dst, pr.Bin...)
		}
		return dst
	case 'E':
		return appendIntProp(dst, m, PropMessageExpiry, s)
	case 'F':
		return appendIntProp(dst, m, PropPayloadFormat, s)
	case 'I':
		return appendStr(dst, now().Format("2006-01-02T15:04:05-0700"), s)
	case 'j', 'J':
		return p.appendJSONMessage(dst, m, now(), c == 'j')
	case 'l':
		return appendInt(dst, len(m.Payload), s)
	case 'm':
		return appendInt(dst, int(m.MID), s)
	case 'P':
		sep := false
		for _, pr := range m.Props {
			if pr.ID != PropUserProperty {
				continue
			}
			if sep {
				dst = append(dst, ' ')
			}
			dst = append(dst, pr.Key...)
			dst = append(dst, ':')
			dst = append(dst, pr.Str...)
			sep = true
		}
		return dst
	case 'p':
		return appendPayload(dst, m.Payload, 0, s)
	case 'q':
		return append(dst, '0'+m.QoS)
	case 'R':
		if pr, ok := m.first(PropResponseTopic); ok {
			return appendStr(dst, pr.Str, s)
		}
		return dst
	case 'r':
		if m.Retain {
			return append(dst, '1')
		}
		return append(dst, '0')
	case 'S':
		return appendIntProp(dst, m, PropSubscriptionID, s)
	case 't':
		return appendStr(dst, m.Topic, s)
	case 'U':
		t := now()
		dst = strconv.AppendInt(dst, t.Unix(), 10)
		dst = append(dst, '.')
		return appendZeroPadded(dst, int64(t.Nanosecond()), 9)
	case 'x':
		return appendPayload(dst, m.Payload, 1, s)
	case 'X':
		return appendPayload(dst, m.Payload, 2, s)
	}
	return dst
}

// appendIntProp prints an integer property, or width pad characters when
// the message does not carry it.
func appendIntProp(dst []byte, m *Message, id byte, s spec) []byte {
	pr, ok := m.first(id)
	if !ok {
		return appendRepeat(dst, s.pad, s.width)
	}
	// mosquitto casts to int, so values above 2^31-1 print negative.
	return appendInt(dst, int(int32(pr.Value)), s)
}

// appendInt follows printf's %d, %-*d, %0*d and %*d.
func appendInt(dst []byte, v int, s spec) []byte {
	switch {
	case s.width == 0:
		return strconv.AppendInt(dst, int64(v), 10)
	case s.left:
		return fmt.Appendf(dst, "%-*d", s.width, v)
	case s.pad == '0':
		return fmt.Appendf(dst, "%0*d", s.width, v)
	default:
		return fmt.Appendf(dst, "%*d", s.width, v)
	}
}

// appendStr follows printf's %*.*s, which counts bytes, not runes.
func appendStr(dst []byte, v string, s spec) []byte {
	if s.prec >= 0 && len(v) > s.prec {
		v = v[:s.prec]
	}
	fill := s.width - len(v)
	if !s.left {
		dst = appendRepeat(dst, ' ', fill)
	}
	dst = append(dst, v...)
	if s.left {
		dst = appendRepeat(dst, ' ', fill)
	}
	return dst
}

// appendPayload reproduces mosquitto's write_payload including its quirks:
// a field width also truncates the payload, hex output halves the byte count
// it prints, and "%-p" without a width still appends len(payload) blanks
// (printf("%*s", -n, "")).
func appendPayload(dst []byte, payload []byte, hex int, s spec) []byte {
	const lower, upper = "0123456789abcdef", "0123456789ABCDEF"
	n := len(payload)
	var padlen int
	if s.width > 0 {
		n = min(n, s.width)
		if hex > 0 {
			n /= 2
			padlen = s.width - n*2
		} else {
			padlen = s.width - n
		}
	} else {
		padlen = s.width - n
	}
	if !s.left {
		dst = appendRepeat(dst, s.pad, padlen)
	}
	switch hex {
	case 0:
		dst = append(dst, payload[:n]...)
	default:
		digits := lower
		if hex == 2 {
			digits = upper
		}
		for _, b := range payload[:n] {
			dst = append(dst, digits[b>>4], digits[b&0xF])
		}
	}
	if s.left {
		dst = appendRepeat(dst, ' ', max(padlen, -padlen))
	}
	return dst
}

func appendRepeat(dst []byte, c byte, n int) []byte {
	for range n {
		dst = append(dst, c)
	}
	return dst
}

func appendZeroPadded(dst []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	dst = appendRepeat(dst, '0', width-len(s))
	return append(dst, s...)
}
