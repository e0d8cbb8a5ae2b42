package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Defaults applied by Connect to zero fields of Options.
const (
	DefaultKeepAlive         = 60 * time.Second // Mosquitto's tools' default
	DefaultMaxInflight       = 20               // libmosquitto's max_inflight_messages
	DefaultReconnectDelay    = time.Second
	DefaultMaxReconnectDelay = 30 * time.Second
	DefaultConnectTimeout    = 30 * time.Second
)

// Options configure a client. Every CONNECT field is here; the zero value
// of a field means its default.
type Options struct {
	// Address is where to connect: "host:port" (TCP, or TLS if TLSConfig
	// is set), "tcp://", "mqtt://", "ssl://", "tls://", "mqtts://",
	// "ws://host:port/path", "wss://..." or "unix:///path/to/socket".
	// The default port is 1883, 8883 for TLS, 80 for ws and 443 for wss;
	// the default address "localhost:1883".
	Address string
	// TLSConfig is used for TLS and wss connections: root CAs, client
	// certificates, InsecureSkipVerify. With a plain "host:port", "tcp://"
	// or "ws://" address, a non-nil TLSConfig turns TLS on. ServerName
	// defaults to the address's host.
	TLSConfig *tls.Config
	// Dialer, when set, makes the connection instead of Address: any
	// net.Conn that carries MQTT bytes.
	Dialer func(ctx context.Context) (net.Conn, error)
	// ConnectTimeout bounds dialling and the CONNECT/CONNACK exchange of
	// automatic reconnections (Connect itself is bounded by its ctx).
	ConnectTimeout time.Duration

	// ProtocolVersion is MQTT31 (3), MQTT311 (4, the default, as for
	// Mosquitto's tools) or MQTT5 (5).
	ProtocolVersion byte
	// ClientID may be empty: the server then assigns one (3.1.1 requires
	// a clean session for that) and ClientID returns it for MQTT 5. MQTT
	// 3.1 cannot carry an empty identifier, so for it the client makes up
	// one, as libmosquitto does: "mosq-" and 16 random characters.
	ClientID string
	// KeepSession clears Clean Session (3.x) / Clean Start (5): the server
	// resumes the session it holds for ClientID, and the client keeps its
	// session state across lost connections. The default starts clean, as
	// libmosquitto does.
	KeepSession bool
	// KeepAlive is the keep alive period: the client sends PINGREQ when
	// it has sent nothing for this long and closes the connection if the
	// PINGRESP does not come within another period. It is sent rounded up
	// to whole seconds. Zero means DefaultKeepAlive, negative disables.
	// An MQTT 5 Server Keep Alive replaces it [MQTT-3.2.2-21].
	KeepAlive time.Duration
	// Username is sent when non-empty; Password when non-nil.
	Username string
	Password []byte
	// Will is the message the server publishes when the connection ends
	// without DISCONNECT (nil: none).
	Will *Will
	// Properties are the MQTT 5 CONNECT properties: Session Expiry
	// Interval, Receive Maximum, Maximum Packet Size, Topic Alias Maximum,
	// Request Response/Problem Information, User Properties, Authentication
	// Method and Data. The client enforces the limits it announces: a
	// server that exceeds them is disconnected with the reason code the
	// specification names.
	Properties Properties

	// MaxInflight is the client's own bound on outgoing QoS 1 and 2
	// messages awaiting acknowledgement (default DefaultMaxInflight); the
	// server's Receive Maximum lowers it. Publish waits for a free slot.
	MaxInflight int
	// TopicAliases lets the client replace topics by aliases on MQTT 5
	// connections, up to the server's Topic Alias Maximum: the first
	// PUBLISH on a topic carries topic and alias, later ones the alias.
	// MaxTopicAliases, if not 0, is the most it uses.
	TopicAliases    bool
	MaxTopicAliases uint16

	// AutoReconnect reconnects after a lost connection, waiting
	// ReconnectDelay, then doubling up to MaxReconnectDelay between
	// failed attempts. Without it a lost connection ends the client.
	AutoReconnect     bool
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration

	// OnMessage receives incoming messages, one at a time in arrival
	// order, on a goroutine of the client. The QoS 1 and 2
	// acknowledgement is sent when it returns. It may call any method of
	// the client. Nil acknowledges and drops messages.
	OnMessage func(*Client, *Message)
	// ManualAck leaves the acknowledgement of each QoS 1 and 2 message to
	// the application: OnMessage's return does not send it; Client.Ack
	// does, at any time, from any goroutine. Acknowledgements still go out
	// in the order the messages arrived [MQTT-4.6.0-2], so one not
	// acknowledged holds back those after it; a message not acknowledged
	// before its connection is lost is sent again by the server.
	ManualAck bool
	// OnSuback, when set, also receives every SUBACK, on the same
	// goroutine as OnMessage and in arrival order with the messages: a
	// message delivered before OnSuback arrived before the SUBACK (as
	// libmosquitto's on_subscribe callback sees it). Subscribe still
	// returns the SUBACK too.
	OnSuback func(*Client, *Suback)
	// OnConnect is called after every successful connection, the first
	// included, on a goroutine of the client: the place to (re)subscribe
	// when the session is not resumed. ctx ends with that connection.
	OnConnect func(ctx context.Context, c *Client, ack *Connack)
	// OnConnectionLost is called, on a goroutine of the client, when a
	// connection ends and AutoReconnect is about to reconnect, with the
	// cause (a *DisconnectError if the server sent DISCONNECT).
	OnConnectionLost func(c *Client, err error)
	// Prelude, when set, is called on every new connection after the
	// CONNACK and before anything else is sent on it, the session's
	// resends included, on the goroutine that made the connection: what
	// it sends through the *Prelude goes first, as Mosquitto's bridges
	// send their state notification and subscriptions first. It must not
	// block.
	Prelude func(p *Prelude, ack *Connack)

	// Bridge makes the client a broker's bridge, as Mosquitto's: it
	// answers a PINGREQ from the server with PINGRESP instead of taking
	// it for a protocol error, answers a PUBREC or PUBREL for an unknown
	// packet identifier with success rather than 0x92 (MQTT 5), and
	// aborts the connection on a protocol error without sending
	// DISCONNECT first.
	Bridge bool
	// TryPrivate sets the bridge bit (0x80) of the MQTT 3.x protocol
	// level in CONNECT, as Mosquitto's try_private: a Mosquitto or midge
	// server then treats the connection as a bridge (no local echo,
	// retain flags as published). MQTT 5 has subscription options for
	// that instead.
	TryPrivate bool
	// AlwaysResume resends unacknowledged messages (with DUP set) and
	// PUBRELs on every reconnection, even when the server reports no
	// session present, as Mosquitto's bridges do: a message is then
	// delivered at least once across the loss of the server's session.
	AlwaysResume bool
	// ReconnectJitter, with AutoReconnect, replaces the doubling of the
	// delay between attempts by Mosquitto's bridge backoff: a random
	// delay between ReconnectDelay and three times the last one, capped
	// at MaxReconnectDelay ("decorrelated jitter").
	ReconnectJitter bool
}

// Will is the will message of a connection (MQTT 5.0 section 3.1.3.2).
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the MQTT 5 will properties: Will Delay Interval,
	// Payload Format Indicator, Message Expiry Interval, Content Type,
	// Response Topic, Correlation Data, User Properties.
	Properties Properties
}

// withDefaults returns a copy of o with defaults filled in, or an error
// naming the field the protocol cannot carry.
func (o Options) withDefaults() (Options, error) {
	if o.ProtocolVersion == 0 {
		o.ProtocolVersion = MQTT311
	}
	switch o.ProtocolVersion {
	case MQTT31, MQTT311, MQTT5:
	default:
		return o, fmt.Errorf("%w: protocol version %d", ErrInvalid, o.ProtocolVersion)
	}
	if o.ClientID == "" && o.ProtocolVersion == MQTT31 {
		o.ClientID = randomClientID()
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.KeepAlive > 65535*time.Second {
		return o, fmt.Errorf("%w: keep alive %v above 65535 s", ErrInvalid, o.KeepAlive)
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	o.MaxInflight = min(o.MaxInflight, 65535)
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = DefaultReconnectDelay
	}
	if o.MaxReconnectDelay <= 0 {
		o.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	o.MaxReconnectDelay = max(o.MaxReconnectDelay, o.ReconnectDelay)
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if w := o.Will; w != nil {
		if err := topic.ValidateName(w.Topic); err != nil {
			return o, fmt.Errorf("%w: will topic: %w", ErrInvalid, err)
		}
		if w.QoS > 2 {
			return o, fmt.Errorf("%w: will QoS %d", ErrInvalid, w.QoS)
		}
	}
	if o.ProtocolVersion == MQTT5 {
		p := &o.Properties
		// [MQTT-3.1.2-26] A Receive Maximum of 0 is a protocol error, as
		// is a Maximum Packet Size of 0 [MQTT-3.1.2-24].
		if p.Has(PropReceiveMaximum) && p.ReceiveMaximum == 0 {
			return o, fmt.Errorf("%w: receive maximum 0", ErrInvalid)
		}
		if p.Has(PropMaximumPacketSize) && p.MaximumPacketSize == 0 {
			return o, fmt.Errorf("%w: maximum packet size 0", ErrInvalid)
		}
	}
	return o, nil
}

// keepAliveSeconds is the keep alive sent in CONNECT: the period rounded
// up to whole seconds, 0 when disabled.
func (o *Options) keepAliveSeconds() uint16 {
	if o.KeepAlive < 0 {
		return 0
	}
	return uint16((o.KeepAlive + time.Second - 1) / time.Second)
}

// connectPacket builds the CONNECT for a connection. clientID is the id
// to use (the server-assigned one on reconnections).
func (o *Options) connectPacket(clientID string) *packet.Connect {
	p := &packet.Connect{
		ProtocolVersion: o.ProtocolVersion,
		CleanStart:      !o.KeepSession,
		KeepAlive:       o.keepAliveSeconds(),
		ClientID:        clientID,
		Username:        o.Username,
		UsernameFlag:    o.Username != "",
		Password:        o.Password,
		PasswordFlag:    o.Password != nil,
		Bridge:          o.TryPrivate && o.ProtocolVersion != MQTT5,
	}
	if o.ProtocolVersion == MQTT5 {
		p.Properties = o.Properties
	}
	if w := o.Will; w != nil {
		p.Will = &packet.Will{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
		if o.ProtocolVersion == MQTT5 {
			p.Will.Properties = w.Properties
		}
	}
	return p
}

// randomClientID returns "mosq-" and 16 random letters and digits.
func randomClientID() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte("mosq-0123456789abcdef")
	for i := 5; i < len(b); i++ {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}
