package config

import (
	"slices"
	"strings"
)

// Listener is one network (or unix socket) endpoint and its options.
type Listener struct {
	Port          int    // 0 for a unix socket
	BindAddress   string // "" = all interfaces
	UnixSocket    string // path, when Port is 0
	BindInterface string // SO_BINDTODEVICE; takes priority over BindAddress
	SocketDomain  string // "", "ipv4" or "ipv6"
	Protocol      string // "mqtt" or "websockets"

	MaxConnections        int // -1 = unlimited
	MaxQoS                int // 2
	MaxTopicAlias         int // 10: inbound aliases a v5 client may create
	MaxTopicAliasBroker   int // 2.1: outbound aliases; 0 = none
	MountPoint            string
	UseUsernameAsClientID bool
	HTTPDir               string

	// 2.1 additions.
	AcceptProtocolVersions    []int    // nil = all; else a subset of 3, 4, 5
	WebsocketsOrigins         []string // allowed Origin headers; nil = any
	EnableProxyProtocol       int      // 0 = off, 1 or 2 = PROXY protocol version
	ProxyProtocolV2RequireTLS bool
	PluginUse                 []string // plugin_load ids used on this listener

	TLS      TLS
	Security Security // per-listener security, meaningful when PerListenerSettings

	File string // where the listener was declared; "" for implicit listeners
	Line int
}

// TLS holds a listener's certificate and PSK options.
type TLS struct {
	CAFile             string
	CAPath             string
	CertFile           string
	KeyFile            string
	Ciphers            string // TLS <= 1.2 (and PSK) cipher list
	Ciphers13          string // ciphers_tls1.3
	TLSVersion         string // minimum: "", "tlsv1.1", "tlsv1.2" or "tlsv1.3"; "" = TLS 1.2
	RequireCertificate bool
	CRLFile            string
	DHParamFile        string

	UseIdentityAsUsername bool
	UseSubjectAsUsername  bool

	PSKHint string // enables TLS-PSK on the listener

	TLSEngine          string
	TLSEngineKpassSHA1 string // hex SHA-1 of the engine key password
	TLSKeyform         string // "pem" (default) or "engine"

	DisableClientCertDateChecks bool // 2.1
}

// Enabled reports whether certificate TLS is configured (certfile and keyfile
// both set), which is Mosquitto's condition for a TLS listener.
func (t *TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

func newListener() *Listener {
	return &Listener{
		Protocol:       "mqtt",
		MaxConnections: -1,
		MaxQoS:         2,
		MaxTopicAlias:  10,
		TLS:            TLS{TLSKeyform: "pem"},
		Security:       defaultSecurity(),
	}
}

// clone returns a deep copy, so listeners built from one template never
// share slices.
func (l *Listener) clone() *Listener {
	c := *l
	c.AcceptProtocolVersions = slices.Clone(l.AcceptProtocolVersions)
	c.WebsocketsOrigins = slices.Clone(l.WebsocketsOrigins)
	c.PluginUse = slices.Clone(l.PluginUse)
	c.Security = l.Security.clone()
	return &c
}

func (s Security) clone() Security {
	c := s
	if s.AllowAnonymous != nil {
		v := *s.AllowAnonymous
		c.AllowAnonymous = &v
	}
	c.JWT = s.JWT.clone()
	c.Plugins = make([]Plugin, len(s.Plugins))
	for i, p := range s.Plugins {
		p.Options = slices.Clone(p.Options)
		c.Plugins[i] = p
	}
	if s.Plugins == nil {
		c.Plugins = nil
	}
	return c
}

// loopbackListeners builds local-only mode's listeners: 127.0.0.1 and ::1 on
// each port, carrying the default-listener options from t.
//
// Mosquitto 2.0 instead opens the default listener on every interface when a
// listener option (max_qos, socket_domain, ...) appears in a file with no
// `listener`, `port` or `bind_address`, while still allowing anonymous
// clients. midge keeps such a file local-only and applies the options to the
// loopback listeners. A socket_domain restricts which of the pair is created.
func loopbackListeners(t *Listener, ports []int) []*Listener {
	var out []*Listener
	for _, port := range ports {
		for _, addr := range []struct{ host, domain string }{{"127.0.0.1", "ipv4"}, {"::1", "ipv6"}} {
			if t.SocketDomain != "" && t.SocketDomain != addr.domain {
				continue
			}
			l := t.clone()
			l.Port = port
			l.BindAddress = addr.host
			l.UnixSocket = ""
			l.File, l.Line = "", 0
			out = append(out, l)
		}
	}
	return out
}

// createsDefaultListener reports whether options written before the first
// `listener` bring the default listener into existence. These are the
// conditions Mosquitto 2.0 checks: any listener setting that differs from its
// default, or (with per_listener_settings) a password file, PSK file, plugin
// or allow_zero_length_clientid false on it. port and bind_address are
// tracked by the parser. max_topic_alias, acl_file, allow_anonymous and
// auto_id_prefix are not among them; the parser warns when they are lost.
func (l *Listener) createsDefaultListener() bool {
	d := newListener()
	t := &l.TLS
	return l.BindInterface != "" ||
		t.CAFile != "" || t.CAPath != "" || t.CertFile != "" || t.KeyFile != "" ||
		t.TLSEngine != "" || t.TLSKeyform != d.TLS.TLSKeyform || t.TLSEngineKpassSHA1 != "" ||
		t.Ciphers != "" || t.Ciphers13 != "" || t.DHParamFile != "" || t.PSKHint != "" ||
		t.RequireCertificate || t.CRLFile != "" || t.UseIdentityAsUsername || t.UseSubjectAsUsername ||
		l.UseUsernameAsClientID || l.MaxConnections != d.MaxConnections || l.MaxQoS != d.MaxQoS ||
		l.MountPoint != "" || l.Protocol != d.Protocol || l.SocketDomain != "" ||
		l.Security.PasswordFile != "" || l.Security.PSKFile != "" || len(l.Security.Plugins) > 0 ||
		!l.Security.AllowZeroLengthClientID
}

// --- handlers for listener options ---

// applyListener handles `listener port [address|socket-path]`.
func applyListener(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	port, ok := parseInt(w)
	if !ok {
		return c.errorf("invalid port value (%s): not an integer", w)
	}
	if port < 0 || port > 65535 {
		return c.errorf("invalid port value (%d): must be between 1 and 65535, or 0 with a unix socket path", port)
	}
	addr, hasAddr := c.optionalWord()
	if port == 0 && !hasAddr {
		return c.errorf("a listener with port 0 must provide a unix socket path")
	}
	l := newListener()
	l.Port = port
	if port == 0 {
		l.UnixSocket = addr
	} else {
		l.BindAddress = addr
	}
	l.File, l.Line = c.file, c.line
	c.p.localOnly = false
	c.p.cfg.Listeners = append(c.p.cfg.Listeners, l)
	c.fs.listener = l
	return nil
}

// applyPort handles the deprecated `port n`, which always sets the default
// listener's port; repeating it keeps the last value, as Mosquitto does.
func applyPort(c *call) error {
	port, err := c.intIn(1, 65535)
	if err != nil {
		return err
	}
	c.p.localOnly = false
	c.p.defaultAddressed = true
	c.p.touchDefault(c)
	c.p.def.Port = port
	return nil
}

// applyBindAddress handles the deprecated `bind_address host`, which always
// applies to the default listener wherever it appears. Mosquitto resolves the
// name at this point; midge leaves that to the listener, which reports a
// failure when it starts.
func applyBindAddress(c *call) error {
	c.p.localOnly = false
	c.p.defaultAddressed = true
	c.p.touchDefault(c)
	return c.setString(&c.p.def.BindAddress)
}

func applySocketDomain(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	if w != "ipv4" && w != "ipv6" {
		return c.errorf("invalid socket_domain value %q: want ipv4 or ipv6", w)
	}
	c.listener().SocketDomain = w
	return nil
}

func applyProtocol(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	if w != "mqtt" && w != "websockets" {
		return c.errorf("invalid protocol value (%s): want mqtt or websockets", w)
	}
	c.listener().Protocol = w
	return nil
}

// applyMaxConnections follows Mosquitto: any negative number means unlimited.
func applyMaxConnections(c *call) error {
	n, err := c.integer()
	if err != nil {
		return err
	}
	if n < 0 {
		n = -1
	}
	c.listener().MaxConnections = n
	return nil
}

func applyMountPoint(c *call) error {
	if c.fs.listener == c.p.def {
		return c.errorf("mount_point needs a listener: define one with `listener` first")
	}
	l := c.listener()
	if err := c.setString(&l.MountPoint); err != nil {
		return err
	}
	if strings.ContainsAny(l.MountPoint, "+#") {
		return c.errorf("invalid mount_point %q: it must not contain a wildcard", l.MountPoint)
	}
	return nil
}

// applyAcceptProtocolVersions handles the 2.1 option: a list of 3, 4 and 5
// separated by commas, spaces or tabs. Mosquitto ignores unknown entries;
// midge refuses them so a typo cannot lock every client out.
func applyAcceptProtocolVersions(c *call) error {
	if c.fs.listener == c.p.def {
		return c.errorf("accept_protocol_versions needs a listener: define one with `listener` first")
	}
	v := c.args.rest()
	if v == "" {
		return c.missing()
	}
	var versions []int
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch f {
		case "3", "4", "5":
			n := int(f[0] - '0')
			if !slices.Contains(versions, n) {
				versions = append(versions, n)
			}
		default:
			return c.errorf("invalid accept_protocol_versions entry %q: want 3, 4 or 5", f)
		}
	}
	if len(versions) == 0 {
		return c.missing()
	}
	slices.Sort(versions)
	c.listener().AcceptProtocolVersions = versions
	return nil
}

func applyEnableProxyProtocol(c *call) error {
	n, err := c.intIn(1, 2)
	if err != nil {
		return err
	}
	c.listener().EnableProxyProtocol = n
	return nil
}

func applyWebsocketsOrigin(c *call) error {
	v, err := c.str()
	if err != nil {
		return err
	}
	l := c.listener()
	l.WebsocketsOrigins = append(l.WebsocketsOrigins, v)
	return nil
}

func applyPluginUse(c *call) error {
	v, err := c.str()
	if err != nil {
		return err
	}
	l := c.listener()
	l.PluginUse = append(l.PluginUse, v)
	return nil
}

func applyTLSVersion(c *call) error {
	l := c.listener()
	if err := c.setString(&l.TLS.TLSVersion); err != nil {
		return err
	}
	if !validTLSVersion(l.TLS.TLSVersion) {
		return c.errorf("invalid tls_version %q: want tlsv1.1, tlsv1.2 or tlsv1.3", l.TLS.TLSVersion)
	}
	return nil
}

func validTLSVersion(v string) bool {
	return v == "tlsv1.1" || v == "tlsv1.2" || v == "tlsv1.3"
}

func applyTLSKeyform(c *call) error {
	l := c.listener()
	v, err := c.str()
	if err != nil {
		return err
	}
	if v != "pem" && v != "engine" {
		return c.errorf("invalid tls_keyform %q: want pem or engine", v)
	}
	l.TLS.TLSKeyform = v
	return nil
}

func applyTLSEngineKpass(c *call) error {
	l := c.listener()
	if err := c.setString(&l.TLS.TLSEngineKpassSHA1); err != nil {
		return err
	}
	if !isHexSHA1(l.TLS.TLSEngineKpassSHA1) {
		return c.errorf("invalid tls_engine_kpass_sha1: want 40 hexadecimal digits")
	}
	return nil
}

func isHexSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return true
}

// applyCertOption sets one of the certificate options, refusing it on a
// listener that already uses PSK (Mosquitto's rule for cafile and certfile).
func applyCertOption(field func(*TLS) *string) func(*call) error {
	return func(c *call) error {
		l := c.listener()
		if l.TLS.PSKHint != "" {
			return c.errorf("cannot use both certificate and psk encryption in a single listener")
		}
		return c.setString(field(&l.TLS))
	}
}
