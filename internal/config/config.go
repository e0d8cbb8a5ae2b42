package config

import (
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultPort is the port of the default and local-only listeners.
const DefaultPort = 1883

// MaxPayload is the largest payload MQTT can carry; message_size_limit 0 means this.
const MaxPayload = 268435455

// Config is a parsed, validated mosquitto.conf.
type Config struct {
	File string // path given to Load ("" for defaults or a reader)
	// Sources are the files and directories the configuration was read
	// from: the main file, each include_dir and each file in it.
	Sources []string

	// LocalOnly is Mosquitto 2.0's local-only mode: no `listener`, `port` or
	// `bind_address` line anywhere, so the broker listens on loopback only
	// and anonymous clients are allowed unless the file says otherwise.
	LocalOnly bool

	// Listeners in file order; the default listener (port, bind_address and
	// listener options written before the first `listener`) comes first when
	// it exists. In local-only mode these are the loopback listeners.
	Listeners []*Listener

	// Bridges are the `connection` blocks in file order.
	Bridges []*Bridge

	// Admin is the admin listener (off unless admin_listener is set).
	Admin Admin
	// Cluster joins other midge nodes (off unless cluster_name is set).
	Cluster Cluster

	PerListenerSettings bool
	Security            Security // global security (used when PerListenerSettings is false)

	// Limits and behaviour, with Mosquitto's defaults.
	MaxKeepalive               int           // 0 = off
	SysInterval                int           // seconds between $SYS updates; 0 disables $SYS
	MaxInflightMessages        int           // 20; 0 = unlimited
	MaxInflightBytes           int           // 0 = unlimited
	MaxQueuedMessages          int           // 1000; 0 = unlimited
	MaxQueuedBytes             int           // 0 = unlimited
	MessageSizeLimit           int           // 0 = MaxPayload
	MaxPacketSize              int           // 0 = no limit; when set, at least 20
	RetainAvailable            bool          // true
	PersistentClientExpiration time.Duration // 0 = never
	QueueQoS0Messages          bool
	UpgradeOutgoingQoS         bool
	SetTCPNoDelay              bool // true, unlike Mosquitto: midge batches its own writes
	CheckRetainSource          bool // true
	ConnectionMessages         bool // true
	AllowDuplicateMessages     bool // deprecated; false as in Mosquitto 2.0's code
	ClientIDPrefixes           string
	MemoryLimit                int64 // bytes; 0 = none
	GlobalMaxClients           int   // -1 = unlimited (2.1)
	GlobalMaxConnections       int   // -1 = unlimited (2.1)
	EnableControlAPI           bool  // 2.1

	// Persistence.
	Persistence         bool
	PersistenceFile     string // "mosquitto.db"
	PersistenceLocation string // "" = current directory
	AutosaveInterval    int    // 1800 seconds (or changes, with AutosaveOnChanges)
	AutosaveOnChanges   bool
	// PersistenceSync is persistence_sync: 0 for "always" (every change
	// fsync'd before it is acknowledged), else the fsync interval in
	// milliseconds of "interval N".
	PersistenceSync int

	// Process.
	PidFile string
	User    string // "mosquitto"

	// Logging.
	LogDest            []string // any of stdout, stderr, syslog, topic, file, dlt; empty = none. Default [stderr].
	LogFile            string   // path for the "file" destination
	LogTypes           []string // default error, warning, notice, information; "all" is expanded
	LogTimestamp       bool     // true
	LogTimestampFormat string   // strftime format; "" = seconds since the epoch
	LogFacility        int      // syslog localN; -1 = daemon (the default)

	// Websockets (libwebsockets tuning in Mosquitto).
	WebsocketsLogLevel    int
	WebsocketsHeadersSize int // 0 = library default

	// Warnings lists, as "file:line: ...", options that were accepted but
	// are not acted on yet, and settings that have no effect.
	Warnings []string

	// template holds the default-listener settings used to build the
	// loopback listeners, kept so ApplyPorts can rebuild them.
	template *Listener
}

// Security holds the options that follow per_listener_settings.
type Security struct {
	AllowAnonymous          *bool  // nil = not set; see Config.AnonymousAllowed
	AllowZeroLengthClientID bool   // true
	AutoIDPrefix            string // "auto-"
	PasswordFile            string
	ACLFile                 string
	PSKFile                 string
	Plugins                 []Plugin // only the dynamic security plugin is supported (built in)
	JWT                     JWT
	HTTPAuth                HTTPAuth
}

// Plugin is a `plugin`/`auth_plugin` (or 2.1 `global_plugin`/`plugin_load`) line with its options.
type Plugin struct {
	Path             string
	Name             string // the id given to plugin_load (2.1); "" otherwise
	Options          []PluginOption
	DenySpecialChars bool // auth_plugin_deny_special_chars, true by default
	File             string
	Line             int
}

// PluginOption is one plugin_opt_KEY (alias auth_opt_KEY) line.
type PluginOption struct {
	Key, Value string
}

func defaultSecurity() Security {
	return Security{AllowZeroLengthClientID: true, AutoIDPrefix: "auto-", JWT: defaultJWT(), HTTPAuth: defaultHTTPAuth()}
}

// newConfig returns a Config holding every Mosquitto default, without listeners.
func newConfig() *Config {
	return &Config{
		LocalOnly:            true,
		Security:             defaultSecurity(),
		SysInterval:          10,
		MaxInflightMessages:  20,
		MaxQueuedMessages:    1000,
		RetainAvailable:      true,
		CheckRetainSource:    true,
		ConnectionMessages:   true,
		SetTCPNoDelay:        true, // Mosquitto: false; see docs/configuration.md
		GlobalMaxClients:     -1,
		GlobalMaxConnections: -1,
		PersistenceFile:      "mosquitto.db",
		AutosaveInterval:     1800,
		User:                 "mosquitto",
		LogDest:              []string{"stderr"},
		LogTypes:             []string{"error", "warning", "notice", "information"},
		LogTimestamp:         true,
		LogFacility:          -1,
	}
}

// Default is the configuration of a broker started without a config file:
// local-only mode, listening on 127.0.0.1:1883 and [::1]:1883, with every
// default.
func Default() *Config {
	c := newConfig()
	c.template = newListener()
	c.Listeners = loopbackListeners(c.template, []int{DefaultPort})
	return c
}

// Load reads and validates the configuration file at path, including the
// files its include_dir lines name. The first problem is returned as an
// *Error naming file and line.
func Load(path string) (*Config, error) {
	f, err := openConfigFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := Parse(path, f)
	if err != nil {
		return nil, err
	}
	cfg.Sources = append([]string{path}, cfg.Sources...)
	return cfg, nil
}

// openConfigFile opens a configuration file, refusing a directory the way
// Mosquitto does rather than failing later with a read error.
func openConfigFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "unable to open config file", Err: err}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{File: path, Msg: "unable to open config file", Err: err}
	}
	if st.IsDir() {
		f.Close()
		return nil, &Error{File: path, Msg: "config file is a directory"}
	}
	return f, nil
}

// Parse reads a configuration from r; name is used in error messages and as
// Config.File. include_dir paths that are relative resolve against the
// process's current directory, as Mosquitto resolves them.
func Parse(name string, r io.Reader) (*Config, error) {
	p := newParser(name)
	if err := p.parseFile(name, r, 0); err != nil {
		return nil, err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// ApplyPorts applies the command line's -p ports. In local-only mode the
// loopback listeners are replaced by one 127.0.0.1/::1 pair per port (the
// ports are expected to be validated already, 1..65535). When the
// configuration defines listeners the ports are ignored, as Mosquitto 2.0
// ignores them, and a warning says so.
func (c *Config) ApplyPorts(ports []int) {
	if len(ports) == 0 {
		return
	}
	if !c.LocalOnly {
		c.Warnings = append(c.Warnings, fmt.Sprintf("-p %v ignored: the configuration defines its own listeners", ports))
		return
	}
	t := c.template
	if t == nil {
		t = newListener()
	}
	c.Listeners = loopbackListeners(t, ports)
}

// SecurityFor returns the security settings that govern clients of l: the
// listener's own when per_listener_settings is true, the global ones otherwise.
func (c *Config) SecurityFor(l *Listener) *Security {
	if c.PerListenerSettings && l != nil {
		return &l.Security
	}
	return &c.Security
}

// AnonymousAllowed is the effective allow_anonymous for clients of l: the
// value set in the file, else true in local-only mode, else false.
//
// Mosquitto 2.0 forces anonymous access on in local-only mode even when the
// file says `allow_anonymous false`; midge honours the explicit setting,
// because the file's author asked for less access, never more.
func (c *Config) AnonymousAllowed(l *Listener) bool {
	if v := c.SecurityFor(l).AllowAnonymous; v != nil {
		return *v
	}
	// Mosquitto 2.0 leaves allow_anonymous of the default listener (the
	// `port` one) unset with per_listener_settings true, which then lets
	// anonymous clients in; finish warns about it.
	return c.LocalOnly || c.anonymousDefault(l)
}

// anonymousDefault reports whether l is the default listener with
// per_listener_settings true and no allow_anonymous of its own.
func (c *Config) anonymousDefault(l *Listener) bool {
	return c.PerListenerSettings && l != nil && l == c.template && l.Security.AllowAnonymous == nil
}
