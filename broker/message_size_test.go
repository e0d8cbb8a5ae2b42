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

// Every idle connection holds a conn, its writer, a session and the
// client's ClientInfo: each stays in its size class, so that what an idle
// connection costs does not creep up one field at a time.
func TestStateSizes(t *testing.T) {
	for _, s := range []struct {
		name      string
		size, max uintptr
	}{
		{"conn", unsafe.Sizeof(conn{}), 320},
		{"session", unsafe.Sizeof(session{}), 224},
		{"writer", unsafe.Sizeof(writer{}), 144},
		{"ClientInfo", unsafe.Sizeof(ClientInfo{}), 176},
	} {
		if s.size > s.max {
			t.Errorf("%s is %d bytes, more than %d", s.name, s.size, s.max)
		}
	}
}

// A read deadline kept as monotime converts back to the same instant, and
// 0 to no deadline.
func TestMonoDeadline(t *testing.T) {
	if !monoDeadline(0).IsZero() {
		t.Fatal("monotime 0 is a deadline")
	}
	now := monotime()
	at := now + int64(90*time.Second)
	if d := time.Until(monoDeadline(at)); d <= 89*time.Second || d > 90*time.Second {
		t.Fatalf("deadline 90 s ahead is %v away", d)
	}
}
