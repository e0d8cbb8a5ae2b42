package broker

import (
	"testing"
	"time"
	"unsafe"
)

// A message is allocated for every PUBLISH: it stays in the 160-byte size
// class, and its expiry goes through Unix nanoseconds unchanged.
func TestMessageSize(t *testing.T) {
	if n := unsafe.Sizeof(message{}); n > 160 {
		t.Fatalf("message is %d bytes, more than 160", n)
	}
	var m message
	if !m.expires().IsZero() || m.expired(time.Now()) {
		t.Fatal("a message without expiry expires")
	}
	at := time.Now().Add(90 * time.Second).Round(0)
	m.expiry = expiryAt(at)
	if !m.expires().Equal(at) || m.expired(at.Add(-time.Nanosecond)) || !m.expired(at) {
		t.Fatalf("expiry %v: expires %v", at, m.expires())
	}
	if got := m.remainingExpiry(at.Add(-89500 * time.Millisecond)); got != 90 {
		t.Fatalf("remaining expiry %d s, want 90 (rounded up)", got)
	}
	if expiryAt(time.Time{}) != 0 {
		t.Fatal("the zero time is an expiry")
	}
}
