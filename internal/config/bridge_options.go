package config

import (
	"fmt"
	"math"
	"strings"
)

// Handlers for the options of a `connection` block.

// applyConnection starts a bridge block; bridge names must be unique.
func applyConnection(c *call) error {
	name, err := c.word()
	if err != nil {
		return err
	}
	for _, b := range c.p.cfg.Bridges {
		if b.Name == name {
			return c.errorf("duplicate bridge name %q", name)
		}
	}
	b := newBridge(name)
	b.File, b.Line = c.file, c.line
	c.p.cfg.Bridges = append(c.p.cfg.Bridges, b)
	c.fs.bridge = b
	return nil
}

// applyAddress handles `address`/`addresses host[:port] ...`, given once per bridge.
func applyAddress(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	if len(b.Addresses) > 0 {
		return c.errorf("invalid bridge configuration: addresses already given for bridge %q", b.Name)
	}
	for {
		w, ok := c.optionalWord()
		if !ok {
			break
		}
		a, err := parseBridgeAddress(w)
		if err != nil {
			return c.errorf("%s: %v", c.name, err)
		}
		b.Addresses = append(b.Addresses, a)
	}
	if len(b.Addresses) == 0 {
		return c.missing()
	}
	return nil
}

// parseBridgeAddress splits host[:port] at the last colon, which is why an
// IPv6 address needs its port (Mosquitto's documented rule).
func parseBridgeAddress(w string) (BridgeAddress, error) {
	i := strings.LastIndexByte(w, ':')
	if i < 0 {
		return BridgeAddress{Host: w, Port: DefaultPort}, nil
	}
	port, ok := parseInt(w[i+1:])
	if !ok || port < 1 || port > 65535 {
		return BridgeAddress{}, fmt.Errorf("invalid port value in %q", w)
	}
	host := w[:i]
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1] // also accept the usual [v6]:port form
	}
	if host == "" {
		return BridgeAddress{}, fmt.Errorf("missing host in %q", w)
	}
	return BridgeAddress{Host: host, Port: port}, nil
}

// applyTopic handles `topic pattern [in|out|both [qos [local-prefix remote-prefix]]]`.
// `""` stands for an empty pattern or prefix; a word starting with '#' after
// the pattern starts a comment.
func applyTopic(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	pattern, err := c.word()
	if err != nil {
		return err
	}
	t := BridgeTopic{Pattern: pattern, Direction: "out"}
	if pattern == `""` {
		t.Pattern = ""
	}
	if w, ok := c.optionalWord(); ok {
		switch strings.ToLower(w) {
		case "out", "in", "both":
			t.Direction = strings.ToLower(w)
		default:
			return c.errorf("invalid bridge topic direction %q: want in, out or both", w)
		}
		if w, ok := c.optionalWord(); ok {
			q, ok := parseInt(w)
			if !ok || q < 0 || q > 2 {
				return c.errorf("invalid bridge QoS level %q: want 0, 1 or 2", w)
			}
			t.QoS = q
			if w, ok := c.optionalWord(); ok && w != `""` {
				t.LocalPrefix = w
			}
			if w, ok := c.optionalWord(); ok && w != `""` {
				t.RemotePrefix = w
			}
		}
	}
	if strings.ContainsAny(t.LocalPrefix, "+#") {
		return c.errorf("invalid bridge topic local prefix %q: it must not contain a wildcard", t.LocalPrefix)
	}
	if strings.ContainsAny(t.RemotePrefix, "+#") {
		return c.errorf("invalid bridge topic remote prefix %q: it must not contain a wildcard", t.RemotePrefix)
	}
	if t.Pattern == "" && (t.LocalPrefix == "" || t.RemotePrefix == "") {
		return c.errorf(`invalid bridge remapping: an empty ("") topic needs both a local and a remote prefix`)
	}
	// Mosquitto accepts a malformed filter here and fails when subscribing;
	// refusing it now gives the file:line.
	if err := checkFilter(t.LocalTopic()); err != nil {
		return c.errorf("invalid bridge topic %q: %v", t.LocalTopic(), err)
	}
	if err := checkFilter(t.RemoteTopic()); err != nil {
		return c.errorf("invalid bridge topic %q: %v", t.RemoteTopic(), err)
	}
	if err := checkText(t.LocalTopic() + t.RemoteTopic()); err != nil {
		return c.errorf("invalid bridge topic: %v", err)
	}
	b.Topics = append(b.Topics, t)
	return nil
}

// checkFilter applies MQTT's wildcard rules to a subscription filter:
// '+' and '#' occupy a whole level and '#' only the last one.
func checkFilter(f string) error {
	levels := strings.Split(f, "/")
	for i, lv := range levels {
		if strings.Contains(lv, "#") && (lv != "#" || i != len(levels)-1) {
			return fmt.Errorf("'#' must be the whole last level")
		}
		if strings.Contains(lv, "+") && lv != "+" {
			return fmt.Errorf("'+' must be a whole level")
		}
	}
	return nil
}

func applyBridgeProtocolVersion(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	w, err := c.word()
	if err != nil {
		return err
	}
	switch w {
	case "mqttv31", "mqttv311", "mqttv50":
		b.ProtocolVersion = w
		return nil
	}
	return c.errorf("invalid bridge_protocol_version value (%s): want mqttv31, mqttv311 or mqttv50", w)
}

func applyStartType(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	w, err := c.word()
	if err != nil {
		return err
	}
	switch w {
	case "automatic", "lazy", "once":
		b.StartType = w
		return nil
	case "manual":
		return c.errorf("start_type manual is not supported")
	}
	return c.errorf("invalid start_type value (%s): want automatic, lazy or once", w)
}

func applyReloadType(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	w, err := c.word()
	if err != nil {
		return err
	}
	if w != "lazy" && w != "immediate" {
		return c.errorf("invalid bridge_reload_type value (%s): want lazy or immediate", w)
	}
	b.ReloadType = w
	return nil
}

// applyRestartTimeout: one number is a constant delay, two are the jitter
// backoff's base and cap. Values below 1 become 1, as in Mosquitto.
func applyRestartTimeout(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	first, err := c.integer()
	if err != nil {
		return err
	}
	first = max(first, 1)
	w, ok := c.optionalWord()
	if !ok {
		b.RestartTimeout = first
		return nil
	}
	capSecs, ok := parseInt(w)
	if !ok {
		return c.errorf("invalid restart_timeout cap (%s): not an integer", w)
	}
	if capSecs < first {
		return c.errorf("restart_timeout: backoff cap %d is lower than the base %d", capSecs, first)
	}
	b.RestartTimeout = 0
	b.BackoffBase, b.BackoffCap = first, capSecs
	return nil
}

func applyKeepaliveInterval(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	n, err := c.integer()
	if err != nil {
		return err
	}
	if n > math.MaxUint16 {
		return c.errorf("bridge keepalive_interval %d is too high (at most 65535)", n)
	}
	b.KeepaliveInterval = max(n, 5) // Mosquitto raises lower values to 5
	return nil
}

func applyTCPKeepalive(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	var v [3]int
	for i, what := range []string{"idle", "interval", "counter"} {
		n, err := c.integer()
		if err != nil {
			return err
		}
		if n <= 0 {
			return c.errorf("invalid bridge_tcp_keepalive %s value %d: must be positive", what, n)
		}
		v[i] = n
	}
	b.TCPKeepaliveIdle, b.TCPKeepaliveInterval, b.TCPKeepaliveCount = v[0], v[1], v[2]
	return nil
}

// bridgeCert sets a certificate option, which excludes PSK on the same bridge.
func bridgeCert(field func(*Bridge) *string) func(*call) error {
	return func(c *call) error {
		b, err := c.bridge()
		if err != nil {
			return err
		}
		if b.Identity != "" || b.PSK != "" {
			return c.errorf("cannot use both certificate and psk encryption in a single bridge")
		}
		return c.setString(field(b))
	}
}

// bridgePSK sets bridge_identity or bridge_psk, which exclude certificates.
func bridgePSK(field func(*Bridge) *string) func(*call) error {
	return func(c *call) error {
		b, err := c.bridge()
		if err != nil {
			return err
		}
		if b.CAFile != "" || b.CAPath != "" || b.CertFile != "" || b.KeyFile != "" {
			return c.errorf("cannot use both certificate and psk encryption in a single bridge")
		}
		return c.setString(field(b))
	}
}

func applyBridgeTLSVersion(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	if err := c.setString(&b.TLSVersion); err != nil {
		return err
	}
	if !validTLSVersion(b.TLSVersion) {
		return c.errorf("invalid bridge_tls_version %q: want tlsv1.1, tlsv1.2 or tlsv1.3", b.TLSVersion)
	}
	return nil
}

func applyLocalCleanSession(c *call) error {
	b, err := c.bridge()
	if err != nil {
		return err
	}
	v, err := c.boolean()
	if err != nil {
		return err
	}
	b.LocalCleanSession = &v
	return nil
}
