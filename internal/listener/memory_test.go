package listener

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMemoryPerIdleConn measures the broker-side memory of idle conns: n
// clients connect, the server side of each has a goroutine blocked in Read
// (as the broker's reader is), and heap plus stacks are compared before and
// after. Clients are raw sockets with a hand-written WebSocket upgrade, so
// their cost is the same small amount for both kinds. It is a measurement,
// not an assertion: run with MIDGE_MEASURE_MEM=1 -v.
func TestMemoryPerIdleConn(t *testing.T) {
	if os.Getenv("MIDGE_MEASURE_MEM") == "" {
		t.Skip("set MIDGE_MEASURE_MEM=1 to measure")
	}
	const n = 2000
	for _, kind := range []string{"mqtt", "websockets"} {
		l := testListener()
		l.Protocol = kind
		ln := open(t, l)
		before := memInUse()
		var clients, servers []net.Conn
		done := make(chan struct{})
		for i := 0; i < n; i++ {
			accepted := acceptOne(t, ln)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if kind == "websockets" {
				upgrade(t, c)
			}
			s := <-accepted
			go func() {
				var b [1]byte
				s.Read(b[:])
				<-done
			}()
			clients, servers = append(clients, c), append(servers, s)
		}
		after := memInUse()
		t.Logf("%s: %d bytes per idle conn (server side plus a raw client socket)", kind, (after-before)/n)
		for _, c := range clients {
			c.Close()
		}
		close(done)
		for _, s := range servers {
			s.SetDeadline(time.Now())
			s.Close()
		}
	}
}

func memInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

func upgrade(t *testing.T, c net.Conn) {
	t.Helper()
	fmt.Fprintf(c, "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
}
