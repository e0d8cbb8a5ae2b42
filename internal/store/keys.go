package store

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes and per-client record tags; see the package documentation.
// They are part of the stored format.
const (
	prefixMeta     = 0x00
	prefixClient   = 'c'
	prefixRetained = 'r'

	tagSession  = 0x01
	tagInbound  = 0x02
	tagOutgoing = 0x03
	tagWill     = 0x04
)

// formatKey is the key under which a backend keeps its format version.
const formatKey = "\x00format"

// FormatKey returns the key a backend stores its format version under. It
// sorts before every record key and is not a record: Load skips it.
func FormatKey() []byte { return []byte(formatKey) }

// clientPrefix is 'c' len16 clientID: the start of all of a client's keys.
func clientPrefix(dst []byte, clientID string) []byte {
	dst = append(dst, prefixClient)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(clientID)))
	return append(dst, clientID...)
}

func sessionKey(dst []byte, clientID string) []byte {
	return append(clientPrefix(dst, clientID), tagSession)
}

func inboundKey(dst []byte, clientID string, pid uint16) []byte {
	dst = append(clientPrefix(dst, clientID), tagInbound)
	return binary.BigEndian.AppendUint16(dst, pid)
}

func outgoingKey(dst []byte, clientID string, seq uint64) []byte {
	dst = append(clientPrefix(dst, clientID), tagOutgoing)
	return binary.BigEndian.AppendUint64(dst, seq)
}

func willKey(dst []byte, clientID string) []byte {
	return append(clientPrefix(dst, clientID), tagWill)
}

func retainedKey(dst []byte, topic string) []byte {
	return append(append(dst, prefixRetained), topic...)
}

// prefixEnd returns the smallest key greater than every key that starts
// with prefix. The client prefix ends in the client id, which may end in
// 0xFF bytes, so those are carried like in an addition.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // all 0xFF: no upper bound; cannot happen, prefixes start with 'c'
}

// parsedKey is a decoded record key.
type parsedKey struct {
	prefix   byte
	clientID string // or the retained topic
	tag      byte
	seq      uint64
	packetID uint16
}

func parseKey(k []byte) (parsedKey, error) {
	bad := func() (parsedKey, error) {
		return parsedKey{}, fmt.Errorf("%w: malformed key %q", ErrCorrupt, k)
	}
	if len(k) == 0 {
		return bad()
	}
	switch k[0] {
	case prefixRetained:
		return parsedKey{prefix: prefixRetained, clientID: string(k[1:])}, nil
	case prefixClient:
	default:
		return bad()
	}
	if len(k) < 4 {
		return bad()
	}
	n := int(binary.BigEndian.Uint16(k[1:3]))
	if len(k) < 3+n+1 {
		return bad()
	}
	p := parsedKey{prefix: prefixClient, clientID: string(k[3 : 3+n]), tag: k[3+n]}
	rest := k[3+n+1:]
	switch p.tag {
	case tagSession, tagWill:
		if len(rest) != 0 {
			return bad()
		}
	case tagInbound:
		if len(rest) != 2 {
			return bad()
		}
		p.packetID = binary.BigEndian.Uint16(rest)
	case tagOutgoing:
		if len(rest) != 8 {
			return bad()
		}
		p.seq = binary.BigEndian.Uint64(rest)
	default:
		return bad()
	}
	return p, nil
}
