package config

import (
	"slices"
	"strings"
)

// Handler constructors for the common shapes of option: a typed value
// stored in a field of the global config, the current listener, its TLS
// settings, the current security settings or the current bridge. The field
// is chosen by an accessor so that the table stays declarative.

func globalBool(field func(*Config) *bool) func(*call) error {
	return func(c *call) error {
		v, err := c.boolean()
		if err != nil {
			return err
		}
		*field(c.p.cfg) = v
		return nil
	}
}

func globalString(field func(*Config) *string) func(*call) error {
	return func(c *call) error { return c.setString(field(c.p.cfg)) }
}

func globalInt(field func(*Config) *int) func(*call) error {
	return func(c *call) error {
		n, err := c.integer()
		if err != nil {
			return err
		}
		*field(c.p.cfg) = n
		return nil
	}
}

func globalIntIn(field func(*Config) *int, lo, hi int) func(*call) error {
	return func(c *call) error {
		n, err := c.intIn(lo, hi)
		if err != nil {
			return err
		}
		*field(c.p.cfg) = n
		return nil
	}
}

// globalIntFloor0 stores a count where Mosquitto turns a negative value into 0.
func globalIntFloor0(field func(*Config) *int) func(*call) error {
	return func(c *call) error {
		n, err := c.integer()
		if err != nil {
			return err
		}
		*field(c.p.cfg) = max(n, 0)
		return nil
	}
}

func listenerBool(field func(*Listener) *bool) func(*call) error {
	return func(c *call) error {
		v, err := c.boolean()
		if err != nil {
			return err
		}
		*field(c.listener()) = v
		return nil
	}
}

func listenerString(field func(*Listener) *string) func(*call) error {
	return func(c *call) error { return c.setString(field(c.listener())) }
}

func listenerIntIn(field func(*Listener) *int, lo, hi int) func(*call) error {
	return func(c *call) error {
		n, err := c.intIn(lo, hi)
		if err != nil {
			return err
		}
		*field(c.listener()) = n
		return nil
	}
}

func tlsString(field func(*TLS) *string) func(*call) error {
	return func(c *call) error { return c.setString(field(&c.listener().TLS)) }
}

func tlsBool(field func(*TLS) *bool) func(*call) error {
	return func(c *call) error {
		v, err := c.boolean()
		if err != nil {
			return err
		}
		*field(&c.listener().TLS) = v
		return nil
	}
}

func securityString(field func(*Security) *string) func(*call) error {
	return func(c *call) error { return c.setString(field(c.security())) }
}

func securityBool(field func(*Security) *bool) func(*call) error {
	return func(c *call) error {
		v, err := c.boolean()
		if err != nil {
			return err
		}
		*field(c.security()) = v
		return nil
	}
}

func bridgeBool(field func(*Bridge) *bool) func(*call) error {
	return func(c *call) error {
		b, err := c.bridge()
		if err != nil {
			return err
		}
		v, err := c.boolean()
		if err != nil {
			return err
		}
		*field(b) = v
		return nil
	}
}

func bridgeString(field func(*Bridge) *string) func(*call) error {
	return func(c *call) error {
		b, err := c.bridge()
		if err != nil {
			return err
		}
		return c.setString(field(b))
	}
}

// bridgeIntMin stores a number, raising values below lo to lo as Mosquitto does.
func bridgeIntMin(field func(*Bridge) *int, lo int) func(*call) error {
	return func(c *call) error {
		b, err := c.bridge()
		if err != nil {
			return err
		}
		n, err := c.integer()
		if err != nil {
			return err
		}
		*field(b) = max(n, lo)
		return nil
	}
}

func bridgeIntIn(field func(*Bridge) *int, lo, hi int) func(*call) error {
	return func(c *call) error {
		b, err := c.bridge()
		if err != nil {
			return err
		}
		n, err := c.intIn(lo, hi)
		if err != nil {
			return err
		}
		*field(b) = n
		return nil
	}
}

// --- options with their own rules ---

// applyPerListenerSettings: it must come before any security option, since
// those have already been stored globally; once true it stays true.
func applyPerListenerSettings(c *call) error {
	v, err := c.boolean()
	if err != nil {
		return err
	}
	if c.p.cfg.PerListenerSettings {
		return nil
	}
	if v && c.p.securitySeen {
		return c.errorf("per_listener_settings must be set before any other security settings")
	}
	c.p.cfg.PerListenerSettings = v
	return nil
}

func applyAllowAnonymous(c *call) error {
	v, err := c.boolean()
	if err != nil {
		return err
	}
	c.security().AllowAnonymous = &v
	return nil
}

// applyPlugin handles `plugin path` and its older name `auth_plugin`.
func applyPlugin(c *call) error {
	return addPlugin(c, c.security(), "")
}

// applyGlobalPlugin (2.1) always loads into the global settings.
func applyGlobalPlugin(c *call) error {
	c.p.securitySeen = true
	return addPlugin(c, &c.p.cfg.Security, "")
}

// applyPluginLoad (2.1) handles `plugin_load id path`: a named global plugin
// that listeners pick with plugin_use.
func applyPluginLoad(c *call) error {
	c.p.securitySeen = true
	id, err := c.word()
	if err != nil {
		return err
	}
	return addPlugin(c, &c.p.cfg.Security, id)
}

func addPlugin(c *call, sec *Security, name string) error {
	path, err := c.str()
	if err != nil {
		return err
	}
	sec.Plugins = append(sec.Plugins, Plugin{Path: path, Name: name, DenySpecialChars: true, File: c.file, Line: c.line})
	c.fs.pluginSec, c.fs.pluginIdx = sec, len(sec.Plugins)-1
	return nil
}

// currentPlugin is the plugin of the latest plugin line in this file.
func (c *call) currentPlugin() (*Plugin, error) {
	if c.fs.pluginSec == nil {
		return nil, c.errorf("%s must follow a plugin line in the same file", c.name)
	}
	return &c.fs.pluginSec.Plugins[c.fs.pluginIdx], nil
}

// applyPluginOption handles plugin_opt_KEY and auth_opt_KEY. The value is
// the rest of the line and is passed to the plugin as it is.
func applyPluginOption(c *call) error {
	pl, err := c.currentPlugin()
	if err != nil {
		return err
	}
	key := strings.TrimPrefix(strings.TrimPrefix(c.name, "plugin_opt_"), "auth_opt_")
	if key == "" {
		return c.errorf("invalid %s option: it needs a key after the prefix", c.name)
	}
	v := c.args.rest()
	if v == "" {
		return c.missing()
	}
	pl.Options = append(pl.Options, PluginOption{Key: key, Value: v})
	return nil
}

func applyDenySpecialChars(c *call) error {
	pl, err := c.currentPlugin()
	if err != nil {
		return err
	}
	v, err := c.boolean()
	if err != nil {
		return err
	}
	pl.DenySpecialChars = v
	return nil
}

func applyDisableCertDateChecks(c *call) error {
	if c.fs.listener == c.p.def {
		return c.errorf("disable_client_cert_date_checks needs a listener: define one with `listener` first")
	}
	return tlsBool(func(t *TLS) *bool { return &t.DisableClientCertDateChecks })(c)
}

// applyMaxInflightMessages follows Mosquitto: negative or 65535 mean
// unlimited (0), anything above 65535 is an error.
func applyMaxInflightMessages(c *call) error {
	n, err := c.integer()
	if err != nil {
		return err
	}
	switch {
	case n > 65535:
		return c.errorf("max_inflight_messages must be <= 65535")
	case n < 0 || n == 65535:
		n = 0
	}
	c.p.cfg.MaxInflightMessages = n
	return nil
}

// applyMaxPacketSize: unset means no limit, but an explicit value below 20,
// 0 included, is an error, as in Mosquitto.
func applyMaxPacketSize(c *call) error {
	n, err := c.integer()
	if err != nil {
		return err
	}
	if n < 20 {
		return c.errorf("invalid max_packet_size value (%d): must be at least 20", n)
	}
	c.p.cfg.MaxPacketSize = n
	return nil
}

func applyPersistentClientExpiration(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	d, err := parseExpiration(w)
	if err != nil {
		return c.errorf("invalid persistent_client_expiration: %v", err)
	}
	c.p.cfg.PersistentClientExpiration = d
	return nil
}

// applyPersistenceSync handles midge's `persistence_sync always` and
// `persistence_sync interval MS`.
func applyPersistenceSync(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	switch w {
	case "always":
		c.p.cfg.PersistenceSync = 0
	case "interval":
		n, err := c.intIn(1, 60000)
		if err != nil {
			return err
		}
		c.p.cfg.PersistenceSync = n
	default:
		return c.errorf("invalid persistence_sync value (%s): want always, or interval and milliseconds", w)
	}
	if rest := c.args.rest(); rest != "" {
		return c.errorf("persistence_sync: unexpected %q", rest)
	}
	return nil
}

// applyRetryInterval accepts the removed option with any arguments; it has
// had no effect since Mosquitto 1.5.
func applyRetryInterval(c *call) error {
	c.args.rest()
	return nil
}

func applyMemoryLimit(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	n, ok := parseInt64(w)
	if !ok || n < 0 {
		return c.errorf("invalid memory_limit value (%s): want a number of bytes", w)
	}
	c.p.cfg.MemoryLimit = n
	return nil
}

// isLogDestName reports whether w is a log_dest value other than "none" and "file".
func isLogDestName(w string) bool {
	switch w {
	case "stdout", "stderr", "syslog", "topic", "dlt":
		return true
	}
	return false
}

// isBuiltinLogDest reports whether the broker already writes to the
// destination of a log_dest line.
func isBuiltinLogDest(v string) bool {
	switch firstWord(v) {
	case "stdout", "stderr", "file", "none", "syslog", "topic":
		return true
	}
	return false
}

// applyLogDest: the first log_dest line replaces the default (stderr), later
// lines add destinations, and "none" clears them. Only one file is allowed.
func applyLogDest(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	cfg := c.p.cfg
	if !c.p.logDestSet {
		c.p.logDestSet = true
		cfg.LogDest = nil
	}
	switch {
	case w == "none":
		cfg.LogDest = nil
		return nil
	case w == "file":
		if c.p.seen[&cfg.LogFile] {
			return c.errorf(`duplicate "log_dest file" value`)
		}
		v := c.args.rest()
		if v == "" {
			return c.errorf(`empty "log_dest file" value in configuration`)
		}
		c.p.seen[&cfg.LogFile] = true
		cfg.LogFile = v
	case !isLogDestName(w):
		return c.errorf("invalid log_dest value (%s): want stdout, stderr, syslog, topic, file, dlt or none", w)
	}
	if !slices.Contains(cfg.LogDest, w) {
		cfg.LogDest = append(cfg.LogDest, w)
	}
	return nil
}

// allLogTypes returns the log_type values that name one type.
func allLogTypes() []string {
	return []string{"debug", "error", "warning", "notice", "information", "subscribe", "unsubscribe", "websockets", "internal"}
}

// applyLogType: like log_dest, the first line replaces the default; "all"
// selects every type and "none" clears them.
func applyLogType(c *call) error {
	w, err := c.word()
	if err != nil {
		return err
	}
	cfg := c.p.cfg
	if !c.p.logTypeSet {
		c.p.logTypeSet = true
		cfg.LogTypes = nil
	}
	switch {
	case w == "none":
		cfg.LogTypes = nil
	case w == "all":
		cfg.LogTypes = allLogTypes()
	case slices.Contains(allLogTypes(), w):
		if !slices.Contains(cfg.LogTypes, w) {
			cfg.LogTypes = append(cfg.LogTypes, w)
		}
	default:
		return c.errorf("invalid log_type value (%s)", w)
	}
	return nil
}

func applyLogFacility(c *call) error {
	n, err := c.intIn(0, 7)
	if err != nil {
		return err
	}
	c.p.cfg.LogFacility = n
	return nil
}
