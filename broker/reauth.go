package broker

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// expiryMu guards conn.expiry, which the reader arms and re-arms while the
// close path, on any goroutine, stops it. One lock for all connections:
// it is taken only when a client with expiring credentials connects,
// re-authenticates or closes.
var expiryMu sync.Mutex

// armCredentialExpiry (re)starts the timer that disconnects the client
// when the credentials in info expire.
func (c *conn) armCredentialExpiry(info *ClientInfo) {
	expiryMu.Lock()
	defer expiryMu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if info.Expires.IsZero() {
		return
	}
	c.expiry = time.AfterFunc(time.Until(info.Expires), func() {
		if c.authInfo.Load() != info {
			return // re-authenticated meanwhile
		}
		c.srv.log.Notice(fmt.Sprintf("Client %s has been disconnected: its credentials expired.", info.ClientID))
		c.srv.wg.Go(func() { c.kick(packet.MaximumConnectTime) })
	})
}

func (c *conn) stopCredentialExpiry() {
	expiryMu.Lock()
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	expiryMu.Unlock()
}

// handleAuth handles an AUTH from a connected client. midge's methods are
// single-step, so the only AUTH a client may send is a request to
// re-authenticate (0x19) with the method of its CONNECT [MQTT-4.12.1-1]:
// the Authorizer checks the new data; on success the client gets an AUTH
// 0x00 and its new rights and expiry apply at once, otherwise it is
// disconnected with 0x87.
func (c *conn) handleAuth(p *packet.Auth) error {
	info := c.info
	switch {
	case info == nil || info.AuthMethod == "":
		// The client did not authenticate with a method, so it cannot
		// have started an exchange [MQTT-4.12.0-1].
		return &packet.Error{Reason: packet.ProtocolError, Msg: "AUTH without authentication method"}
	case p.ReasonCode != packet.ReAuthenticate:
		// Nothing was asked of the client, so it has nothing to continue.
		return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("AUTH with reason 0x%02X outside an exchange", byte(p.ReasonCode))}
	case p.Properties.AuthMethod != info.AuthMethod:
		return &packet.Error{Reason: packet.ProtocolError, Msg: "re-authentication with another method"}
	}
	s := c.srv
	next := *info
	next.AuthData = bytes.Clone(p.Properties.AuthData)
	next.Expires, next.Grant = time.Time{}, nil
	if s.authorizer().Authenticate(&next) != 0 {
		// Whatever the Authorizer's reason, DISCONNECT says 0x87: the
		// CONNACK-only codes (0x86 bad username or password, 0x8A banned)
		// are not allowed in a DISCONNECT.
		s.log.Notice(fmt.Sprintf("Client %s has been disconnected: re-authentication failed.", info.ClientID))
		c.kick(packet.NotAuthorized)
		return nil
	}
	c.info = &next
	c.authInfo.Store(&next)
	if sess := c.sess; sess != nil {
		sess.mu.Lock()
		if sess.conn == c {
			sess.info = &next
		}
		sess.mu.Unlock()
	}
	c.armCredentialExpiry(&next)
	if s.log.debugEnabled() {
		s.log.Debug("Client " + info.ClientID + " re-authenticated")
	}
	ack := &packet.Auth{ReasonCode: packet.Success}
	ack.Properties.AuthMethod = next.AuthMethod
	ack.Properties.Set(packet.PropAuthMethod)
	c.send(ack)
	return nil
}
