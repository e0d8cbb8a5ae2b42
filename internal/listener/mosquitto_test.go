package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/testtool"
)

// haveMosquitto reports whether the real broker is installed for
// side-by-side checks; in CI it must be.
func haveMosquitto(t *testing.T) bool {
	t.Helper()
	return testtool.Have(t, "mosquitto")
}

// startMosquitto runs a real broker with one listener on a free loopback
// port, the given extra configuration lines, and waits for its "running"
// line. It returns the address.
func startMosquitto(t *testing.T, conf string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	testtool.Mosquitto(t, "listener "+port+" 127.0.0.1\nallow_anonymous true\n"+conf)
	return net.JoinHostPort("127.0.0.1", port)
}

// mosquittoAccepts connects to a real broker over TLS with cfg and reports
// whether it got as far as a CONNACK. With TLS 1.3 the client's handshake
// ends before the broker has looked at the client certificate, so only the
// broker's answer to a CONNECT (mqttConnect) tells: a CONNACK, or an alert
// (err says which).
func mosquittoAccepts(t *testing.T, addr string, cfg *tls.Config) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(mqttConnect); err != nil {
		return false, err
	}
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil {
		return false, err
	}
	if buf[0] != 0x20 {
		return false, fmt.Errorf("not a CONNACK: % x", buf)
	}
	return true, nil
}
