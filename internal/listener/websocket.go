package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/midge-mqtt/midge/internal/config"
)

const (
	// wsHandshakeTimeout bounds the TLS handshake and the HTTP upgrade
	// request of a WebSocket client, so idle half-open sockets do not pile
	// up before the broker ever sees them.
	wsHandshakeTimeout = 10 * time.Second
	// wsCloseTimeout bounds the WebSocket close handshake when the broker
	// closes a conn: coder/websocket otherwise waits up to 5 s for the
	// peer's close frame.
	wsCloseTimeout = time.Second
	// wsMaxHeaderBytes matches libwebsockets' small header buffer in
	// spirit (websockets_headers_size defaults to 1024; browsers send more).
	wsMaxHeaderBytes = 16 << 10
)

// mqttSubprotocols are the WebSocket subprotocols Mosquitto's
// libwebsockets listener serves MQTT on.
func mqttSubprotocols() []string { return []string{"mqtt", "mqttv3.1"} }

// wsServer serves MQTT over WebSockets on a bound socket. Upgraded
// connections are handed to Accept through a channel; plain HTTP requests
// get static files from http_dir, if configured.
//
// Subprotocol policy (Mosquitto 2.0.11 with libwebsockets 4.1, checked):
//   - "mqtt" or "mqttv3.1" offered: accepted, and echoed back.
//   - only other subprotocols offered: refused (Mosquitto drops the
//     connection; midge answers 400).
//   - none offered: accepted as MQTT without a Sec-WebSocket-Protocol in
//     the answer. Mosquitto completes the upgrade and then ignores every
//     MQTT byte (the client hangs until it times out); serving it is more
//     useful and harms no one.
//
// Origin: Mosquitto 2.0 does not check it, so any origin is accepted unless
// websockets_origin (2.1) lists the allowed ones; requests without an
// Origin header (non-browser clients) are always allowed.
type wsServer struct {
	srv   *http.Server
	opts  websocket.AcceptOptions
	files *staticFiles // nil without http_dir

	conns    chan net.Conn
	done     chan struct{}
	serveErr chan error
	once     sync.Once
}

// rawConnKey carries the accepted socket (or *tls.Conn) into the handler,
// so returned conns report the real peer address and TLS state.
type rawConnKey struct{}

func newWSServer(l *config.Listener, ln net.Listener) (*wsServer, error) {
	ws := &wsServer{
		conns:    make(chan net.Conn),
		done:     make(chan struct{}),
		serveErr: make(chan error, 1),
		opts: websocket.AcceptOptions{
			Subprotocols: mqttSubprotocols(),
			// coder/websocket refuses cross-origin requests by default,
			// which would lock browsers out; Mosquitto 2.0 checks nothing.
			InsecureSkipVerify: len(l.WebsocketsOrigins) == 0,
			OriginPatterns:     l.WebsocketsOrigins,
		},
	}
	if l.HTTPDir != "" {
		files, err := openStaticFiles(l.HTTPDir)
		if err != nil {
			return nil, err
		}
		ws.files = files
	}
	ws.srv = &http.Server{
		Handler:           ws,
		ReadHeaderTimeout: wsHandshakeTimeout,
		IdleTimeout:       wsHandshakeTimeout,
		MaxHeaderBytes:    wsMaxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, rawConnKey{}, c)
		},
		// net/http would log every failed TLS handshake (scanners, wrong
		// CA) to stderr; the broker logs what it sees on its own conns.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { ws.serveErr <- ws.srv.Serve(ln) }()
	return ws, nil
}

func (ws *wsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		if ws.files == nil {
			http.Error(w, "this is an MQTT over WebSockets endpoint", http.StatusNotFound)
			return
		}
		ws.files.serve(w, r)
		return
	}
	if offered := offeredSubprotocols(r); len(offered) > 0 && !offersMQTT(offered) {
		http.Error(w, "unsupported WebSocket subprotocol: use mqtt", http.StatusBadRequest)
		return
	}
	raw, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	if raw == nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	c, err := websocket.Accept(w, r, &ws.opts)
	if err != nil {
		return // Accept has answered the client
	}
	// net/http set deadlines for reading the request; the broker sets its
	// own from now on.
	raw.SetDeadline(time.Time{})
	// Not r.Context(): it ends when this handler returns. The conn lives
	// until the broker closes it, as an accepted TCP conn does, so it does
	// not end with the listener either.
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	conn := newWSConn(nc, raw, r.TLS)
	select {
	case ws.conns <- conn:
		// Returning ends net/http's goroutine for this connection (it has
		// been hijacked); the broker's reader is the only goroutine left.
	case <-ws.done:
		conn.Close()
	}
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

func offeredSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func offersMQTT(offered []string) bool {
	for _, p := range offered {
		for _, m := range mqttSubprotocols() {
			if strings.EqualFold(p, m) {
				return true
			}
		}
	}
	return false
}

func (ws *wsServer) accept() (net.Conn, error) {
	select {
	case c := <-ws.conns:
		return c, nil
	case <-ws.done:
		return nil, net.ErrClosed
	case err := <-ws.serveErr:
		// Serve failed on its own (the socket broke): report it, and keep
		// reporting it.
		ws.serveErr <- err
		return nil, err
	}
}

// close stops accepting. Upgraded conns stay open, as TCP conns do when a
// listener closes; the broker closes them.
func (ws *wsServer) close() error {
	var err error
	ws.once.Do(func() {
		close(ws.done)
		err = ws.srv.Close()
		if e := <-ws.serveErr; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		ws.serveErr <- http.ErrServerClosed
		if ws.files != nil {
			ws.files.close()
		}
	})
	return err
}

// wsConn is an upgraded WebSocket carrying MQTT as binary messages. Reads
// stream across message boundaries, so a packet may span messages and a
// message may hold several packets; each Write is sent as one message.
type wsConn struct {
	net.Conn          // websocket.NetConn
	raw      net.Conn // the socket (or *tls.Conn) underneath
}

// wssConn is a wsConn that came over TLS.
type wssConn struct {
	wsConn
	state tls.ConnectionState
}

// ConnectionState returns the TLS state of the wss:// connection, so
// certificate identities work as they do for MQTT over TLS.
func (c *wssConn) ConnectionState() tls.ConnectionState { return c.state }

func newWSConn(nc, raw net.Conn, state *tls.ConnectionState) net.Conn {
	base := wsConn{Conn: nc, raw: raw}
	if state != nil {
		return &wssConn{wsConn: base, state: *state}
	}
	return &base
}

func (c *wsConn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }
func (c *wsConn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }

// Close sends a WebSocket close frame and closes the socket, waiting at
// most wsCloseTimeout for the peer's answer.
func (c *wsConn) Close() error {
	c.raw.SetDeadline(time.Now().Add(wsCloseTimeout))
	err := c.Conn.Close()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return err
}
