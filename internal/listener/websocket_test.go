package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/midge-mqtt/midge/internal/config"
)

// mqttConnect is an MQTT 3.1.1 CONNECT for client id "p".
var mqttConnect = []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'p'}

func wsListener() *config.Listener {
	l := testListener()
	l.Protocol = "websockets"
	return l
}

func dialWS(t *testing.T, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The caller closes c (defer), before the server side's cleanup runs,
	// as a real client reading its socket would answer the close.
	return websocket.Dial(ctx, url, opts)
}

func writeMsg(t *testing.T, c *websocket.Conn, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
}

func readExactly(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

func TestWebSocketStreamsAcrossFrames(t *testing.T) {
	ln := open(t, wsListener())
	accepted := acceptOne(t, ln)
	c, _, err := dialWS(t, "ws://"+ln.Addr().String()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "mqtt" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	s := waitConn(t, accepted)
	if _, ok := s.(interface{ ConnectionState() tls.ConnectionState }); ok {
		t.Error("a ws:// conn claims a TLS state")
	}
	if s.RemoteAddr().String() == "websocket/unknown-addr" || !strings.HasPrefix(s.RemoteAddr().String(), "127.0.0.1:") {
		t.Errorf("RemoteAddr = %v", s.RemoteAddr())
	}

	// One packet split over two messages.
	writeMsg(t, c, mqttConnect[:5])
	writeMsg(t, c, mqttConnect[5:])
	if got := readExactly(t, s, len(mqttConnect)); string(got) != string(mqttConnect) {
		t.Fatalf("read %x", got)
	}
	// Two packets (PINGREQ, DISCONNECT) in one message.
	writeMsg(t, c, []byte{0xc0, 0, 0xe0, 0})
	if got := readExactly(t, s, 4); string(got) != "\xc0\x00\xe0\x00" {
		t.Fatalf("read %x", got)
	}
	// Server to client: one binary message per Write.
	if _, err := s.Write([]byte{0x20, 2, 0, 0}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(b) != "\x20\x02\x00\x00" {
		t.Fatalf("client read %v %x %v", typ, b, err)
	}

	// The broker closing the conn closes the WebSocket cleanly.
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); readErr <- err }()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after Close: %v", err)
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	ln := open(t, wsListener())
	url := "ws://" + ln.Addr().String() + "/"
	tests := []struct {
		offer []string
		want  string
		ok    bool
	}{
		{[]string{"mqttv3.1"}, "mqttv3.1", true},
		{[]string{"foo", "mqtt"}, "mqtt", true},
		{nil, "", true}, // Mosquitto upgrades then ignores MQTT; midge serves it
		{[]string{"foo"}, "", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.offer), func(t *testing.T) {
			accepted := acceptOne(t, ln)
			c, resp, err := dialWS(t, url, &websocket.DialOptions{Subprotocols: tc.offer})
			if !tc.ok {
				if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("offer %v: err %v", tc.offer, err)
				}
				ln.Close() // ends the pending Accept
				<-accepted
				ln = open(t, wsListener())
				url = "ws://" + ln.Addr().String() + "/"
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if c.Subprotocol() != tc.want {
				t.Errorf("subprotocol %q, want %q", c.Subprotocol(), tc.want)
			}
			s := waitConn(t, accepted)
			writeMsg(t, c, mqttConnect)
			readExactly(t, s, len(mqttConnect))
		})
	}
}

func TestWebSocketOrigin(t *testing.T) {
	// Default: any origin, as Mosquitto 2.0.
	ln := open(t, wsListener())
	accepted := acceptOne(t, ln)
	h := http.Header{"Origin": {"https://elsewhere.example"}}
	c, _, err := dialWS(t, "ws://"+ln.Addr().String()+"/", &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPHeader: h})
	if err != nil {
		t.Fatalf("cross-origin refused by default: %v", err)
	}
	defer c.CloseNow()
	waitConn(t, accepted)

	// websockets_origin restricts it.
	l := wsListener()
	l.WebsocketsOrigins = []string{"https://good.example"}
	ln = open(t, l)
	url := "ws://" + ln.Addr().String() + "/"
	_, resp, err := dialWS(t, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad origin: err %v", err)
	}
	accepted = acceptOne(t, ln)
	h.Set("Origin", "https://good.example")
	good, _, err := dialWS(t, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPHeader: h})
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	defer good.CloseNow()
	waitConn(t, accepted)
}

func TestWSSClientCertificate(t *testing.T) {
	f := newTLSFixture(t)
	l := f.listener()
	l.Protocol = "websockets"
	l.TLS.CAFile, l.TLS.RequireCertificate, l.TLS.UseIdentityAsUsername = f.ca.File, true, true
	ln := open(t, l)
	accepted := acceptOne(t, ln)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: f.clientConfig(f.client.TLS)}}
	defer client.CloseIdleConnections()
	c, _, err := dialWS(t, "wss://"+ln.Addr().String()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	s := waitConn(t, accepted)
	tc, ok := s.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		t.Fatalf("%T has no ConnectionState", s)
	}
	if u, ok := CertUsername(tc.ConnectionState(), false); !ok || u != "client" {
		t.Errorf("CertUsername = %q, %v", u, ok)
	}
	writeMsg(t, c, mqttConnect)
	readExactly(t, s, len(mqttConnect))

	// Without a client certificate the TLS handshake fails.
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: f.clientConfig()}}
	defer noCert.CloseIdleConnections()
	if c, _, err := dialWS(t, "wss://"+ln.Addr().String()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: noCert}); err == nil {
		c.CloseNow()
		t.Fatal("wss without a client certificate accepted")
	}
}

func TestHTTPDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "www")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>midge</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.js"), []byte("connect()"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(base, "secret.txt"), []byte("password"), 0o644)
	os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "escape.txt"))

	l := wsListener()
	l.HTTPDir = dir
	ln := open(t, l)
	addr := ln.Addr().String()

	tests := []struct {
		target string // sent as is, so ".." reaches the server
		status int
		body   string
	}{
		{"/", 200, "<h1>midge</h1>"},
		{"/app.js", 200, "connect()"},
		{"/../secret.txt", 404, ""},
		{"/sub/../../secret.txt", 404, ""},
		{"/%2e%2e/secret.txt", 404, ""},
		{"/escape.txt", 403, ""},
		{"/sub", 403, ""},
		{"/missing", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			status, body := rawGET(t, addr, "GET", tc.target)
			if status != tc.status || (tc.body != "" && body != tc.body) || strings.Contains(body, "password") {
				t.Fatalf("GET %s: %d %q, want %d %q", tc.target, status, body, tc.status, tc.body)
			}
		})
	}
	if status, _ := rawGET(t, addr, "POST", "/app.js"); status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", status)
	}

	// Without http_dir a plain GET is refused, and a missing http_dir is an
	// error naming it.
	plain := open(t, wsListener())
	if status, _ := rawGET(t, plain.Addr().String(), "GET", "/"); status != http.StatusNotFound {
		t.Errorf("GET without http_dir: %d", status)
	}
	l.HTTPDir = filepath.Join(base, "nope")
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing http_dir: err = %v", err)
	}
}

// rawGET sends a request line exactly as given (http.Client would clean
// the path) and returns the status and body.
func rawGET(t *testing.T, addr, method, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
