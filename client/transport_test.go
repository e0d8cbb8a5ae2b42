package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// roundTrip subscribes and publishes over two clients made with opts.
func roundTrip(t *testing.T, opts Options) {
	t.Helper()
	on, got := collector()
	so := opts
	so.OnMessage = on
	sub := connect(t, so)
	pub := connect(t, opts)
	ctx := testCtx(t)
	if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: "rt", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, &Message{Topic: "rt", QoS: 2, Payload: []byte("over the wire")}); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, got); string(m.Payload) != "over the wire" {
		t.Fatalf("got %+v", m)
	}
}

// chanListener is a net.Listener fed with connections from elsewhere:
// here the WebSocket handler.
type chanListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// wsBroker runs our broker behind a WebSocket endpoint that requires
// the "mqtt" subprotocol.
func wsBroker(t *testing.T, tlsServer bool) *httptest.Server {
	cl := &chanListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	serveBroker(t, cl, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return
		}
		if ws.Subprotocol() != "mqtt" {
			ws.Close(websocket.StatusPolicyViolation, "subprotocol mqtt required")
			return
		}
		select {
		case cl.conns <- websocket.NetConn(context.Background(), ws, websocket.MessageBinary):
		case <-cl.closed:
			ws.CloseNow()
		}
	})
	var hs *httptest.Server
	if tlsServer {
		hs = httptest.NewTLSServer(h)
	} else {
		hs = httptest.NewServer(h)
	}
	t.Cleanup(hs.Close)
	return hs
}

func TestWebSocket(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			hs := wsBroker(t, false)
			roundTrip(t, Options{Address: "ws://" + strings.TrimPrefix(hs.URL, "http://") + "/mqtt", ProtocolVersion: ver.v})
		})
	}
}

func TestWebSocketTLS(t *testing.T) {
	hs := wsBroker(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	roundTrip(t, Options{Address: "wss://" + strings.TrimPrefix(hs.URL, "https://"), TLSConfig: &tls.Config{RootCAs: roots},
		ProtocolVersion: MQTT5})
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "midge test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:         true,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLS(t *testing.T) {
	cert, roots := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	serveBroker(t, ln, nil)
	addr := ln.Addr().String()
	t.Run("mqtts", func(t *testing.T) {
		roundTrip(t, Options{Address: "mqtts://" + addr, TLSConfig: &tls.Config{RootCAs: roots}})
	})
	t.Run("tls config turns TLS on", func(t *testing.T) {
		roundTrip(t, Options{Address: addr, TLSConfig: &tls.Config{RootCAs: roots}})
	})
	t.Run("insecure", func(t *testing.T) {
		roundTrip(t, Options{Address: "ssl://" + addr, TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	})
	t.Run("unknown CA", func(t *testing.T) {
		_, err := Connect(testCtx(t), Options{Address: "mqtts://" + addr})
		if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
			t.Fatalf("Connect: %v, want a certificate error", err)
		}
	})
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serveBroker(t, ln, nil)
	roundTrip(t, Options{Address: "unix://" + path, ProtocolVersion: MQTT5})
}

func TestCustomDialer(t *testing.T) {
	_, addr := startBroker(t, nil)
	dialed := make(chan struct{}, 2)
	roundTrip(t, Options{Dialer: func(ctx context.Context) (net.Conn, error) {
		dialed <- struct{}{}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}})
	if len(dialed) != 2 {
		t.Fatalf("dialer used %d times", len(dialed))
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]endpoint{
		"":                    {network: "tcp", addr: "localhost:1883", host: "localhost"},
		"example.com":         {network: "tcp", addr: "example.com:1883", host: "example.com"},
		"example.com:1884":    {network: "tcp", addr: "example.com:1884", host: "example.com"},
		"mqtts://example.com": {network: "tcp", tls: true, addr: "example.com:8883", host: "example.com"},
		"tcp://[::1]:1":       {network: "tcp", addr: "[::1]:1", host: "::1"},
		"ws://h:8080":         {network: "ws", addr: "ws://h:8080/", host: "h"},
		"wss://h/mqtt":        {network: "ws", tls: true, addr: "wss://h/mqtt", host: "h"},
		"unix:///run/m.sock":  {network: "unix", addr: "/run/m.sock"},
	} {
		got, err := parseAddress(in, nil)
		if err != nil || got != want {
			t.Errorf("parseAddress(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := parseAddress("gopher://x", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown scheme: %v", err)
	}
}
