package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// endpoint is a parsed Options.Address.
type endpoint struct {
	network string // "tcp", "unix" or "ws"
	tls     bool
	addr    string // host:port, socket path, or the WebSocket URL
	host    string // for TLS ServerName
}

// parseAddress interprets Options.Address; see its documentation.
func parseAddress(address string, tlsConfig *tls.Config) (endpoint, error) {
	if address == "" {
		address = "localhost"
	}
	scheme, rest, ok := strings.Cut(address, "://")
	if !ok {
		scheme, rest = "tcp", address
	}
	if scheme == "unix" {
		if rest == "" {
			return endpoint{}, fmt.Errorf("%w: empty unix socket path", ErrInvalid)
		}
		return endpoint{network: "unix", addr: rest}, nil
	}
	useTLS := tlsConfig != nil
	switch strings.ToLower(scheme) {
	case "tcp", "mqtt":
	case "ssl", "tls", "mqtts", "tcps":
		useTLS = true
	case "ws":
		return wsEndpoint("ws", rest, useTLS)
	case "wss":
		return wsEndpoint("wss", rest, true)
	default:
		return endpoint{}, fmt.Errorf("%w: unknown scheme %q in address %q", ErrInvalid, scheme, address)
	}
	rest = strings.TrimSuffix(rest, "/")
	port := "1883"
	if useTLS {
		port = "8883"
	}
	host := rest
	if h, p, err := net.SplitHostPort(rest); err == nil {
		host, port = h, p
	}
	return endpoint{network: "tcp", tls: useTLS, addr: net.JoinHostPort(host, port), host: host}, nil
}

func wsEndpoint(scheme, rest string, useTLS bool) (endpoint, error) {
	if useTLS {
		scheme = "wss"
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return endpoint{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return endpoint{network: "ws", tls: useTLS, addr: u.String(), host: u.Hostname()}, nil
}

// dial opens the network connection for o.
func dial(ctx context.Context, o *Options) (net.Conn, error) {
	if o.Dialer != nil {
		return o.Dialer(ctx)
	}
	ep, err := parseAddress(o.Address, o.TLSConfig)
	if err != nil {
		return nil, err
	}
	var cfg *tls.Config
	if ep.tls {
		cfg = tlsConfigFor(o.TLSConfig, ep.host)
	}
	switch ep.network {
	case "ws":
		return dialWebSocket(ctx, ep.addr, cfg)
	case "unix":
		var d net.Dialer
		return d.DialContext(ctx, "unix", ep.addr)
	}
	if cfg != nil {
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", ep.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", ep.addr)
}

// tlsConfigFor returns the caller's config (a default one if nil) with
// ServerName set to host when unset, without changing the caller's value.
func tlsConfigFor(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// dialWebSocket opens MQTT over WebSocket: subprotocol "mqtt" and binary
// frames (MQTT 5.0 section 6).
func dialWebSocket(ctx context.Context, rawURL string, cfg *tls.Config) (net.Conn, error) {
	opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
	var transport *http.Transport
	if cfg != nil {
		transport = &http.Transport{TLSClientConfig: cfg}
		opts.HTTPClient = &http.Client{Transport: transport}
	}
	ws, _, err := websocket.Dial(ctx, rawURL, opts)
	if transport != nil {
		// The upgraded connection is no longer the transport's; release
		// its idle state so nothing outlives the client.
		transport.CloseIdleConnections()
	}
	if err != nil {
		return nil, err
	}
	// The net.Conn lives until closed, not until the dial's ctx ends.
	return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
}
