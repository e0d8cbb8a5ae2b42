package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/midge-mqtt/midge/internal/config"
)

// Listener is an open mosquitto.conf listener. Accept returns conns ready
// for MQTT: plain sockets, *tls.Conn (handshake on first Read), or
// WebSocket conns. It is safe for concurrent use.
type Listener struct {
	sock     net.Listener // the bound socket(s)
	tls      *TLSHolder   // nil without certfile/keyfile
	ws       *wsServer    // nil unless protocol websockets
	warnings []string
}

// Listen opens l: binds its socket(s), loads its TLS files and, for
// protocol websockets, starts serving HTTP on it. ctx bounds only the
// opening (name resolution, bind); the listener lives until Close.
//
// Errors name the file for certificate, key, CA, CRL and http_dir problems.
// Options Go cannot honour but that are safe to ignore come back from
// Warnings; those that would weaken security (TLS-PSK, engines) are errors.
func Listen(ctx context.Context, l *config.Listener) (*Listener, error) {
	return listenWith(ctx, l, nil)
}

// listenWith is Listen with a hook that may rewrite the TCP addresses
// before binding (tests bind port 0, which the config reserves for unix
// sockets).
func listenWith(ctx context.Context, l *config.Listener, rewrite func([]bindAddr) []bindAddr) (*Listener, error) {
	if err := checkListener(l); err != nil {
		return nil, err
	}
	ln := &Listener{}
	if l.TLS.Enabled() {
		h, warnings, err := NewTLSHolder(&l.TLS)
		if err != nil {
			return nil, where(l, err)
		}
		ln.tls, ln.warnings = h, warnings
	} else if w := tlsWithoutCert(&l.TLS); w != "" {
		ln.warnings = append(ln.warnings, w)
	}
	sock, err := openSocket(ctx, l, rewrite)
	if err != nil {
		return nil, where(l, err)
	}
	ln.sock = sock
	if l.Protocol == "websockets" {
		inner := sock
		if ln.tls != nil {
			// net/http completes the handshake in its own goroutine per
			// connection, bounded by wsHandshakeTimeout.
			inner = tls.NewListener(sock, ln.tls.Config())
		}
		ws, err := newWSServer(l, inner)
		if err != nil {
			sock.Close()
			return nil, where(l, err)
		}
		ln.ws = ws
	}
	return ln, nil
}

// checkListener refuses listener options this package cannot provide.
func checkListener(l *config.Listener) error {
	switch {
	case l.TLS.PSKHint != "":
		return where(l, ErrPSKUnsupported)
	case (l.TLS.CertFile == "") != (l.TLS.KeyFile == ""):
		// Mosquitto 2.0 then listens unencrypted; never fall back silently.
		return where(l, errors.New("certfile and keyfile must both be given to enable TLS"))
	case l.EnableProxyProtocol != 0:
		return where(l, errors.New("enable_proxy_protocol is not supported yet"))
	case l.Protocol != "mqtt" && l.Protocol != "websockets" && l.Protocol != "":
		return where(l, fmt.Errorf("unknown protocol %q", l.Protocol))
	case l.Protocol != "websockets" && l.HTTPDir != "":
		return where(l, errors.New("http_dir needs protocol websockets"))
	}
	return nil
}

// tlsWithoutCert warns about TLS options on a listener that is not a TLS
// listener (Mosquitto needs both certfile and keyfile).
func tlsWithoutCert(t *config.TLS) string {
	if t.CAFile != "" || t.CAPath != "" || t.RequireCertificate || t.CRLFile != "" || t.Ciphers != "" {
		return "TLS options without certfile and keyfile have no effect; this listener is NOT encrypted"
	}
	return ""
}

// where prefixes err with the listener's position in the config file.
func where(l *config.Listener, err error) error {
	if l.File == "" {
		return err
	}
	return fmt.Errorf("%s:%d: %w", l.File, l.Line, err)
}

// Accept waits for the next connection.
func (ln *Listener) Accept() (net.Conn, error) {
	if ln.ws != nil {
		return ln.ws.accept()
	}
	c, err := ln.sock.Accept()
	if err != nil {
		return nil, err
	}
	if ln.tls != nil {
		// The handshake runs on the first Read, in the caller's goroutine
		// for this conn, not here: Accept stays free for other clients.
		return tls.Server(c, ln.tls.Config()), nil
	}
	return c, nil
}

// Close stops accepting. Conns already returned stay open.
func (ln *Listener) Close() error {
	if ln.ws != nil {
		return ln.ws.close() // closes sock too
	}
	return ln.sock.Close()
}

// Addr returns the (first) bound address.
func (ln *Listener) Addr() net.Addr { return ln.sock.Addr() }

// Warnings lists options that were accepted but have no effect in Go (for
// example dhparamfile, ciphers_tls1.3); the broker logs them at start.
func (ln *Listener) Warnings() []string { return ln.warnings }

// TLS reports whether the listener encrypts (mqtts or wss).
func (ln *Listener) TLS() bool { return ln.tls != nil }

// ReloadTLS re-reads the certificate, key, CA and CRL files (SIGHUP). New
// handshakes use them; open connections are untouched. On error the old
// files stay in use. It does nothing on a listener without TLS.
func (ln *Listener) ReloadTLS() error {
	if ln.tls == nil {
		return nil
	}
	return ln.tls.Reload()
}

// Describe returns the log line for opening l, in Mosquitto's words:
// "Opening ipv4 listen socket on port 1883.", "Opening websockets listen
// socket on port 8080.", "Opening unix listen socket on path /run/m.sock.".
// Without a socket_domain or an IP address the family is left out (one
// dual-stack socket serves both).
func Describe(l *config.Listener) string {
	if l.Port == 0 && l.UnixSocket != "" {
		return fmt.Sprintf("Opening unix listen socket on path %s.", l.UnixSocket)
	}
	if l.Protocol == "websockets" {
		return fmt.Sprintf("Opening websockets listen socket on port %d.", l.Port)
	}
	family := ""
	switch l.SocketDomain {
	case "ipv4":
		family = "ipv4 "
	case "ipv6":
		family = "ipv6 "
	}
	if ip, err := netip.ParseAddr(l.BindAddress); err == nil && l.BindInterface == "" {
		if ip.Unmap().Is4() {
			family = "ipv4 "
		} else {
			family = "ipv6 "
		}
	}
	return fmt.Sprintf("Opening %slisten socket on port %d.", family, l.Port)
}
