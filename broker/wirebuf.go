package broker

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// wireBuf is an encoded PUBLISH on its way to one or more sockets. A QoS 0
// fan-out shares one encoding between every subscriber that takes the same
// wire form, so the buffer is reference counted: each holder (the router's
// cache of a publish, each writer queue it sits in) owns one reference and
// gives it back with release once it no longer needs the bytes, and the
// last release returns the buffer to its pool. A steady stream of
// messages therefore reuses the same few buffers instead of allocating one
// per message.
//
// The bytes must not be read after release: a released buffer may
// already carry another message. Race-detector builds overwrite released
// bytes (poisonReleased) so that the tests catch a holder that breaks this.
type wireBuf struct {
	b     []byte
	refs  atomic.Int32
	class int8 // index in wireClasses; -1: too large to pool
}

// The pooled buffers come in size classes, the powers of two from
// minWire to maxWire bytes: a packet goes in the smallest class it fits,
// so a queued packet never holds twice its size. Larger packets get a
// buffer of their own, left to the garbage collector, so that a burst of
// large messages does not leave the pools pinning large arrays.
const (
	minWireShift = 6  // 64 B
	maxWireShift = 16 // 64 KB
)

var wirePools [maxWireShift - minWireShift + 1]sync.Pool

// wireClass returns the class of a buffer for size bytes, -1 if too large.
func wireClass(size int) int {
	switch {
	case size > 1<<maxWireShift:
		return -1
	case size <= 1<<minWireShift:
		return 0
	}
	return bits.Len(uint(size-1)) - minWireShift
}

func classSize(class int8) int { return 1 << (minWireShift + int(class)) }

// getWireBuf returns an empty buffer with room for size bytes, holding one
// reference.
func getWireBuf(size int) *wireBuf {
	class := wireClass(size)
	var wb *wireBuf
	if class < 0 {
		wb = &wireBuf{b: make([]byte, 0, size), class: -1}
	} else if pooled, ok := wirePools[class].Get().(*wireBuf); ok {
		wb = pooled
	} else {
		wb = &wireBuf{b: make([]byte, 0, classSize(int8(class))), class: int8(class)}
	}
	wb.refs.Store(1)
	return wb
}

// retain adds a reference for a new holder. The caller must hold one.
func (wb *wireBuf) retain() { wb.refs.Add(1) }

// release gives back one reference.
func (wb *wireBuf) release() {
	n := wb.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("broker: wire buffer released more times than retained")
	}
	if wb.class < 0 || cap(wb.b) != classSize(wb.class) {
		return // not pooled, or grown past its class: leave it to the GC
	}
	if poisonReleased {
		b := wb.b[:cap(wb.b)]
		for i := range b {
			b[i] = 0xEE
		}
	}
	wb.b = wb.b[:0]
	wirePools[wb.class].Put(wb)
}
