package broker

import "net"

// Access is what a client wants to do with a topic.
type Access int

// Access kinds checked by an Authorizer.
const (
	AccessRead      Access = 1 // receive a message on a topic
	AccessWrite     Access = 2 // publish to a topic
	AccessSubscribe Access = 4 // subscribe to a filter
)

// ClientInfo describes a connected (or connecting) client to an Authorizer.
type ClientInfo struct {
	ClientID        string
	Username        string
	HasUsername     bool
	Password        []byte
	HasPassword     bool
	ProtocolVersion byte
	RemoteAddr      net.Addr
	Listener        *Listener
}

// Authorizer decides who may connect and what they may do. Its methods are
// called concurrently from every connection and must not block for long.
type Authorizer interface {
	// Authenticate returns 0 to accept the client, or an MQTT 5 reason
	// code (0x86 bad username or password, 0x87 not authorised ...)
	// that is translated for 3.x clients.
	Authenticate(c *ClientInfo) byte
	// Authorize reports whether the client may access the topic.
	Authorize(c *ClientInfo, topic string, access Access) bool
}

// AllowAll accepts every client that the listener's anonymous rule lets
// in, and allows everything.
type AllowAll struct{}

// Authenticate implements Authorizer.
func (AllowAll) Authenticate(*ClientInfo) byte { return 0 }

// Authorize implements Authorizer.
func (AllowAll) Authorize(*ClientInfo, string, Access) bool { return true }
