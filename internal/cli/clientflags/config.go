// Package clientflags parses the command lines of midge pub, sub and rr
// exactly as mosquitto_pub, mosquitto_sub and mosquitto_rr 2.0 do: the same
// option names (each argv element matched whole, so "-rd" is unknown), the
// same per-tool availability, defaults, validation order and error texts,
// the ~/.config/mosquitto_{pub,sub,rr} options file, and the -D/--property
// command identifier value groups with libmosquitto's checks.
//
// A hand-written loop is used instead of a flag library because Mosquitto's
// behaviour depends on argument order (-D switches to MQTT 5, a later -V
// switches back; -i and -I conflict only when both are seen), -D takes three
// or four operands, and every missing operand has its own message.
package clientflags

import "time"

// Tool selects which of the three programs is parsing.
type Tool int

// The three client tools.
const (
	Pub Tool = iota
	Sub
	RR
)

// Name returns the Mosquitto program name, used in usage hints.
func (t Tool) Name() string {
	switch t {
	case Sub:
		return "mosquitto_sub"
	case RR:
		return "mosquitto_rr"
	}
	return "mosquitto_pub"
}

// MsgMode is where pub and rr take their message from.
type MsgMode int

// Message sources.
const (
	MsgNone      MsgMode = iota
	MsgCmd               // -m
	MsgFile              // -f
	MsgStdinFile         // -s
	MsgStdinLine         // -l
	MsgNull              // -n
)

// PortUndefined means no -p, -L or --unix: 1883, or 8883 with TLS.
const PortUndefined = -1

// SessionExpiryUnset means no -x was given.
const SessionExpiryUnset = -1

// Protocol versions as carried in CONNECT.
const (
	V31  byte = 3
	V311 byte = 4
	V5   byte = 5
)

// Config is everything the command line and options file say.
type Config struct {
	Tool Tool

	// Connection.
	Host            string
	Port            int // PortUndefined, 0 for a unix socket, else TCP
	BindAddress     string
	ProtocolVersion byte
	KeepAlive       int
	ID, IDPrefix    string
	CleanSession    bool
	SessionExpiry   int64 // seconds; SessionExpiryUnset, or 0..4294967295
	Username        *string
	Password        *string
	MaxInflight     int
	NoDelay         bool
	Debug           bool
	Quiet           bool
	UseWebSockets   bool // -L ws:// or wss:// (a midge extension)

	// Will.
	WillTopic   string
	WillPayload *string
	WillQoS     int
	WillRetain  bool

	// TLS.
	CAFile, CAPath, CertFile, KeyFile string
	Ciphers, TLSVersion, TLSALPN      string
	TLSEngine, TLSEngineKpassSHA1     string
	KeyForm                           string
	Insecure, TLSUseOSCerts           bool
	PSK, PSKIdentity                  string
	Proxy                             string

	// MQTT 5 properties from -D, per packet, in command line order.
	ConnectProps, PublishProps, SubscribeProps []Property
	UnsubscribeProps, DisconnectProps          []Property
	WillProps                                  []Property
	HaveTopicAlias                             bool

	// pub and rr.
	QoS         int
	Retain      bool
	Mode        MsgMode
	Message     []byte // -m text; -f/-s contents are loaded by the tool
	FileInput   string
	Topic       string
	RepeatCount int
	RepeatDelay time.Duration

	// sub and rr.
	Topics            []string // sub: every -t
	FilterOuts        []string
	UnsubTopics       []string
	MsgCount          int
	Timeout           int // -W seconds, 0 for none
	NoRetain          bool
	RetainedOnly      bool
	RemoveRetained    bool
	ExitAfterSub      bool
	RandomFilter      int // per ten thousand; 10000 prints everything
	RetainAsPublished bool
	RetainHandling    byte // 2 with -R: ask the broker not to send retained messages
	Format            string
	Verbose           bool
	EOL               bool
	Pretty            bool
	ResponseTopic     string
}

func newConfig(tool Tool) *Config {
	c := &Config{
		Tool:            tool,
		Port:            PortUndefined,
		MaxInflight:     20,
		KeepAlive:       60,
		CleanSession:    true,
		EOL:             true,
		RepeatCount:     1,
		RandomFilter:    10000,
		ProtocolVersion: V311,
		SessionExpiry:   SessionExpiryUnset,
	}
	if tool == RR {
		c.ProtocolVersion = V5
		c.MsgCount = 1
	}
	return c
}

// EffectivePort returns the port to dial: the explicit one, or 1883, or
// 8883 when TLS (or PSK) is configured.
func (c *Config) EffectivePort() int {
	if c.Port != PortUndefined {
		return c.Port
	}
	if c.CAFile != "" || c.CAPath != "" || c.PSK != "" {
		return 8883
	}
	return 1883
}

// UsesTLS reports whether the connection is made over TLS, following
// libmosquitto: a CA file or path, an mqtts:// URL, --tls-use-os-certs or
// port 8883 without a CA.
func (c *Config) UsesTLS() bool {
	return c.CAFile != "" || c.CAPath != "" || c.TLSUseOSCerts || c.EffectivePort() == 8883
}
