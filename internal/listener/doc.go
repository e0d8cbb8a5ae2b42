// Package listener opens the sockets a mosquitto.conf `listener` describes
// and hands the broker ready net.Conns: plain TCP (IPv4, IPv6, a host name
// or an interface), unix sockets, TLS and mutual TLS, and MQTT over
// WebSockets (ws:// and wss://), optionally serving static files from
// http_dir on the same port.
//
// The broker reads and writes every returned net.Conn the same way; what it
// may ask of one beyond net.Conn:
//   - a conn that went through TLS (mqtt over TLS or wss) implements
//     ConnectionState() tls.ConnectionState; CertUsername turns that into
//     the username for use_identity_as_username / use_subject_as_username.
//   - a TLS handshake has not happened when Accept returns: crypto/tls runs
//     it on the conn's first Read, in the broker's connection goroutine, so
//     one slow client never holds up Accept. Bounding that handshake with a
//     read deadline is the broker's job (it sets one for CONNECT anyway).
//     WebSocket upgrades (and the TLS handshake under them) are bounded here,
//     by the HTTP server's header timeout.
//
// Certificates, keys, CA files and CRLs are read when the listener opens and
// again on (*Listener).ReloadTLS; a reload that fails keeps the previous
// configuration, and connections already open are never touched.
//
// The package does not import the broker; per-listener limits such as
// max_connections are enforced there.
package listener
