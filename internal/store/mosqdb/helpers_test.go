package mosqdb

import (
	"bytes"
	"net"
	"os/user"
	"strconv"
	"sync"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// waitListening dials until the broker accepts, with a deadline; each
// failed dial returns at once, the retry is paced by the dial timeout.
func waitListening(t *testing.T, port string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		// Refused immediately: wait on a short timer rather than spin.
		<-time.After(20 * time.Millisecond)
	}
	t.Fatalf("mosquitto did not listen on %s", port)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
