package broker

import (
	"fmt"
	"net"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// Access is what a client wants to do with a topic.
type Access int

// Access kinds checked by an Authorizer.
const (
	AccessRead      Access = 1 // receive a message on a topic
	AccessWrite     Access = 2 // publish to a topic
	AccessSubscribe Access = 4 // subscribe to a filter
	// AccessUnsubscribe: remove a subscription. Mosquitto's ACL files
	// always allow it; the dynamic security rules may not.
	AccessUnsubscribe Access = 8
)

// ClientInfo describes a connected (or connecting) client to an Authorizer.
type ClientInfo struct {
	ClientID        string
	Username        string
	Password        []byte
	RemoteAddr      net.Addr
	Listener        *Listener
	ProtocolVersion byte
	HasUsername     bool
	HasPassword     bool
	// FromCertificate is set when Username is the identity of the
	// client's TLS certificate (use_identity_as_username or
	// use_subject_as_username); such clients are not authenticated again.
	FromCertificate bool
	// AuthMethod and AuthData are an MQTT 5 client's enhanced
	// authentication (CONNECT, or an AUTH asking to re-authenticate),
	// offered to the Authorizer only when it implements AuthMethods and
	// supports the method.
	AuthMethod string
	AuthData   []byte

	// Set by Authenticate, on the ClientInfo it is given:
	//
	// Expires, if not zero, is when the client's credentials (a token)
	// stop being valid; the broker then disconnects it (v5 reason 0xA0
	// Maximum connect time) unless it has re-authenticated. Grant is
	// whatever the Authorizer wants back in Authorize for this client
	// (the rights a token carries); the broker only keeps it. Authenticate
	// may also replace Username (a token's subject) and set HasUsername.
	Expires time.Time
	Grant   any
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

// AuthMethods is implemented by an Authorizer that accepts MQTT 5
// enhanced authentication. The broker supports single-step methods: the
// client's CONNECT (or its AUTH with reason 0x19 Re-authenticate) carries
// everything, and Authenticate accepts or refuses it; continuing an
// exchange (0x18) is never asked for.
type AuthMethods interface {
	// SupportsAuthMethod reports whether clients of the listener may
	// authenticate with the method. A CONNECT naming another one is
	// refused with 0x8C Bad authentication method.
	SupportsAuthMethod(l *Listener, method string) bool
}

// AllowAll accepts every client that the listener's anonymous rule lets
// in, and allows everything.
type AllowAll struct{}

// Authenticate implements Authorizer.
func (AllowAll) Authenticate(*ClientInfo) byte { return 0 }

// Authorize implements Authorizer.
func (AllowAll) Authorize(*ClientInfo, string, Access) bool { return true }

// authHolder lets the Authorizer be swapped while clients are connected.
type authHolder struct{ a Authorizer }

func (s *Server) authorizer() Authorizer { return s.auth.Load().a }

// authorize asks the Authorizer whether info may access the topic; the
// clients of a trusted listener may do anything.
func (s *Server) authorize(info *ClientInfo, topic string, access Access) bool {
	if info != nil && info.Listener != nil && info.Listener.Trusted {
		return true
	}
	return s.authorizer().Authorize(info, topic, access)
}

// SetAuthorizer replaces the Authorizer, e.g. after the password or ACL
// file was reloaded. Every later check uses a; call Reauthenticate to
// apply it to the clients already connected as well.
func (s *Server) SetAuthorizer(a Authorizer) {
	if a == nil {
		a = AllowAll{}
	}
	s.auth.Store(&authHolder{a})
}

// Reauthenticate checks every connected client against the current
// Authorizer again, as Mosquitto does after a reload, and disconnects
// those it now refuses (v5 reason 0x87 Not authorized). Clients whose
// username came from their certificate are not re-checked: they never
// went through Authenticate. Access checks need no such pass: every
// publish and delivery is checked with the current Authorizer. It returns
// how many clients were disconnected.
func (s *Server) Reauthenticate() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	a := s.authorizer()
	n := 0
	for _, c := range conns {
		info := c.authInfo.Load()
		if info == nil || info.FromCertificate || (info.Listener != nil && info.Listener.Trusted) || authenticateCopy(a, info) == 0 {
			continue
		}
		s.log.Notice(fmt.Sprintf("Client %s has been disconnected: not authorised after reload.", info.ClientID))
		n++
		s.wg.Go(func() { c.kick(packet.NotAuthorized) })
	}
	return n
}

// authenticateCopy asks a whether info is still accepted, on a copy:
// Authenticate may write to the ClientInfo it is given, and info is read
// by other goroutines.
func authenticateCopy(a Authorizer, info *ClientInfo) byte {
	cp := *info
	return a.Authenticate(&cp)
}

// supportsAuthMethod reports whether a accepts enhanced authentication
// with method on listener l.
func supportsAuthMethod(a Authorizer, l *Listener, method string) bool {
	m, ok := a.(AuthMethods)
	return ok && m.SupportsAuthMethod(l, method)
}
