package clientflags

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// ClientID returns the identifier to connect with: -i, or -I followed by
// the process id, or "" to let the broker assign one.
func (c *Config) ClientID() string {
	if c.IDPrefix != "" {
		return c.IDPrefix + strconv.Itoa(os.Getpid())
	}
	return c.ID
}

// Options translates the configuration into client options. Errors carry
// Mosquitto's text for the same failure.
func (c *Config) Options() (client.Options, error) {
	o := client.Options{
		ProtocolVersion: c.ProtocolVersion,
		ClientID:        c.ClientID(),
		KeepSession:     !c.CleanSession,
		KeepAlive:       time.Duration(c.KeepAlive) * time.Second,
		MaxInflight:     c.MaxInflight,
		Properties:      ToProperties(c.ConnectProps),
	}
	if c.MsgCount > 0 && c.MsgCount < 20 && c.ProtocolVersion == V5 {
		// Like mosquitto_sub: a Receive Maximum of -C stops the broker
		// sending more than we will print before we disconnect.
		o.Properties.ReceiveMaximum = uint16(c.MsgCount)
		o.Properties.Set(client.PropReceiveMaximum)
	}
	if c.Username != nil {
		o.Username = *c.Username
	}
	if c.Password != nil {
		o.Password = []byte(*c.Password)
	}
	if c.WillTopic != "" {
		w := &client.Will{Topic: c.WillTopic, QoS: byte(c.WillQoS), Retain: c.WillRetain, Properties: ToProperties(c.WillProps)}
		if c.WillPayload != nil {
			w.Payload = []byte(*c.WillPayload)
		}
		o.Will = w
	}
	if c.PSK != "" {
		return o, &UsageError{Msg: "Error: Problem setting TLS-PSK options.\n", Quietable: true}
	}
	if c.TLSEngine != "" {
		return o, &UsageError{Msg: fmt.Sprintf("Error: Problem setting TLS engine, is %s a valid engine?\n", c.TLSEngine), Quietable: true}
	}
	if c.KeyForm != "" && c.KeyForm != "pem" {
		return o, &UsageError{Msg: "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n", Quietable: true}
	}

	port := c.EffectivePort()
	useTLS := c.UsesTLS() && port != 0
	if useTLS {
		cfg, err := c.tlsConfig()
		if err != nil {
			return o, err
		}
		o.TLSConfig = cfg
	}
	switch {
	case port == 0:
		o.Address = "unix://" + c.Host
	case c.UseWebSockets && useTLS:
		o.Address = "wss://" + net.JoinHostPort(c.Host, strconv.Itoa(port)) + "/mqtt"
	case c.UseWebSockets:
		o.Address = "ws://" + net.JoinHostPort(c.Host, strconv.Itoa(port)) + "/mqtt"
	default:
		o.Address = net.JoinHostPort(c.Host, strconv.Itoa(port))
	}
	if (c.BindAddress != "" || c.Proxy != "") && port != 0 && !c.UseWebSockets {
		o.Dialer = c.dialer(o.Address, o.TLSConfig)
	}
	return o, nil
}

// dialer is used for -A (bind address) and --proxy, which the client's own
// address dialling does not cover.
func (c *Config) dialer(addr string, tlsCfg *tls.Config) func(ctx context.Context) (net.Conn, error) {
	bind, proxy := c.BindAddress, c.ParsedProxy()
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{}
		if bind != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(bind)}
		}
		var (
			nc  net.Conn
			err error
		)
		if proxy != nil {
			nc, err = dialSOCKS5(ctx, &d, proxy, addr)
		} else {
			nc, err = d.DialContext(ctx, "tcp", addr)
		}
		if err != nil || tlsCfg == nil {
			return nc, err
		}
		tc := tls.Client(nc, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("clientflags: TLS handshake: %w", err)
		}
		return tc, nil
	}
}

// TLSConfig is the TLS configuration for a connection to c.Host with c's
// TLS settings, verifying the server as libmosquitto does (the bridges
// use it too).
func (c *Config) TLSConfig() (*tls.Config, error) { return c.tlsConfig() }

func (c *Config) tlsConfig() (*tls.Config, error) {
	fileNotFound := &UsageError{Msg: "Error: Problem setting TLS options: File not found.\n", Quietable: true}
	cfg := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	switch c.TLSVersion {
	case "":
	case "tlsv1.3":
		cfg.MinVersion = tls.VersionTLS13
	case "tlsv1.2":
	case "tlsv1.1":
		cfg.MinVersion = tls.VersionTLS11
	default:
		return nil, &UsageError{Msg: "Error: Problem setting TLS options, check the options are valid.\n", Quietable: true}
	}
	if c.TLSALPN != "" {
		cfg.NextProtos = []string{c.TLSALPN}
	}
	var roots, links *x509.CertPool // nil: the system's roots
	if c.CAFile != "" || c.CAPath != "" {
		ts, err := c.loadTrustStore()
		if err != nil {
			return nil, fileNotFound
		}
		roots, links = ts.anchors, ts.links
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fileNotFound
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	// Always verified by serverVerifier, which follows OpenSSL's rules for
	// the CA files (see trustStore) and libmosquitto's for the host name
	// (see checkHostname), with the system's roots too (port 8883 or
	// --tls-use-os-certs without a CA file), and skips only the host name
	// check with --insecure, as libmosquitto does.
	host := cfg.ServerName
	if c.Insecure {
		host = ""
	}
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = serverVerifier(roots, links, host)
	return cfg, nil
}

// ConnectFailure returns what the tool prints when Connect fails and its
// exit status: the CONNACK code for a refusal, 1 otherwise.
func (c *Config) ConnectFailure(err error) (msg string, code int) {
	var ce *client.ConnectError
	if errors.As(err, &ce) {
		code = int(ce.ReasonCode)
		switch {
		case c.Tool == RR && ce.ReasonCode == client.UnsupportedProtocolVersion:
			msg = "Connection error: " + client.ReasonString(ce.ReasonCode) + ". mosquitto_rr only supports connecting to an MQTT v5 broker\n"
		case c.Tool == RR:
			// mosquitto_rr always uses the MQTT 5 wording, even for 3.x codes.
			msg = "Connection error: " + client.ReasonString(ce.ReasonCode) + "\n"
		case c.ProtocolVersion == V5 && ce.ReasonCode == client.UnsupportedProtocolVersion:
			msg = "Connection error: " + client.ReasonString(ce.ReasonCode) + ". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n"
		case c.ProtocolVersion == V5:
			msg = "Connection error: " + client.ReasonString(ce.ReasonCode) + "\n"
		default:
			msg = "Connection error: " + client.ConnackString(ce.ReasonCode) + "\n"
		}
		if c.Tool == Pub {
			// mosquitto_pub's loop then ends with the library's own error.
			if c.ProtocolVersion == V5 {
				msg += "Error: A network protocol error occurred when communicating with the broker.\n"
			} else {
				msg += "Error: The connection was refused.\n"
			}
		}
		return msg, code
	}
	if c.UsesTLS() {
		if msg, code, ok := tlsFailure(err); ok {
			return msg, code
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "Unable to connect (Lookup error.).\n", 1
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "Error: " + errnoText(errno) + "\n", 1
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Error: " + errnoText(syscall.ETIMEDOUT) + "\n", 1
	}
	return "Error: " + err.Error() + "\n", 1
}

// errnoText is strerror(3): Go's texts are lower case ("connection refused").
func errnoText(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// tlsFailure words a failed TLS connection as libmosquitto's tools do:
// a server certificate we refuse is MOSQ_ERR_TLS (exit 8, "A TLS error
// occurred."); a broker that refuses our certificate ends the connection
// during or right after the handshake, which the tools report as
// MOSQ_ERR_CONN_LOST (exit 7, "The connection was lost.").
func tlsFailure(err error) (msg string, code int, ok bool) {
	var verr *tls.CertificateVerificationError
	var herr x509.HostnameError
	var uerr x509.UnknownAuthorityError
	var cerr x509.CertificateInvalidError
	if errors.As(err, &verr) || errors.As(err, &herr) || errors.As(err, &uerr) || errors.As(err, &cerr) {
		return "Error: A TLS error occurred.\n", 8, true
	}
	// crypto/tls reports an alert from the peer as a *net.OpError with
	// Op "remote error".
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "Error: The connection was lost.\n", 7, true
	}
	return "", 0, false
}
