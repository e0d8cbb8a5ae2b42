package broker

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// refuse answers a CONNECT with a failure CONNACK and closes. reason is
// the v5 code; 3.x clients get the matching 3.x return code.
func (c *conn) refuse(reason packet.ReasonCode, why string) error {
	code := reason
	if c.version != packet.V5 {
		code = v3ConnackCode(reason)
	}
	ack := &packet.Connack{ReasonCode: code}
	if c.version == packet.V5 {
		// Mosquitto announces a Maximum QoS below 2 even when refusing.
		c.setMaximumQoS(ack)
	}
	c.send(ack)
	c.srv.stats.refused[reason].Add(1)
	c.srv.log.Notice(fmt.Sprintf("Client %s from %s refused: %s.", c.displayID(), c.remote(), why))
	c.kickReason.Store(0x100)
	c.close(true)
	return errClosedByBroker
}

// setMaximumQoS announces the listener's max_qos in a v5 CONNACK when it
// is below 2 [MQTT-3.2.2-9].
func (c *conn) setMaximumQoS(ack *packet.Connack) {
	if c.l.MaxQoS < 2 {
		ack.Properties.MaximumQoS = c.l.MaxQoS
		ack.Properties.Set(packet.PropMaximumQoS)
	}
}

// refuseV5 refuses a CONNECT with a CONNACK to a 5.0 client; a 3.x client
// is disconnected without one.
func (c *conn) refuseV5(reason packet.ReasonCode, why string) error {
	if c.version == packet.V5 {
		return c.refuse(reason, why)
	}
	return &packet.Error{Reason: packet.ProtocolError, Msg: why}
}

func v3ConnackCode(r packet.ReasonCode) packet.ReasonCode {
	switch r {
	case packet.UnsupportedProtocolVersion:
		return packet.V3UnacceptableProtocolVersion
	case packet.ClientIdentifierNotValid:
		return packet.V3IdentifierRejected
	case packet.BadUsernameOrPassword:
		return packet.V3BadUsernameOrPassword
	case packet.NotAuthorized, packet.Banned, packet.BadAuthenticationMethod, packet.PacketTooLarge:
		return packet.V3NotAuthorized
	default:
		return packet.V3ServerUnavailable
	}
}

// handleConnect validates a CONNECT, attaches the session and answers.
func (c *conn) handleConnect(p *packet.Connect) error {
	s := c.srv
	if c.barrier != nil {
		c.barrier()
		c.barrier = nil
	}
	c.version = p.ProtocolVersion
	c.flags.set(flagV5, c.version == packet.V5)
	c.bridge = p.Bridge && c.version != packet.V5
	c.clientID = p.ClientID
	props := &p.Properties

	authMethod := ""
	if p.Properties.Has(packet.PropAuthMethod) {
		authMethod = props.AuthMethod
		if !supportsAuthMethod(s.authorizer(), c.l, authMethod) {
			return c.refuse(packet.BadAuthenticationMethod, "unsupported authentication method")
		}
	}

	// Client identifier rules.
	assigned := false
	if c.clientID == "" {
		switch {
		case c.version == packet.V31:
			return c.refuse(packet.ClientIdentifierNotValid, "empty client id")
		case c.version == packet.V311 && !p.CleanStart:
			// [MQTT-3.1.3-8]
			return c.refuse(packet.ClientIdentifierNotValid, "empty client id with clean session off")
		case !c.l.AllowZeroLengthClientID:
			// 3.1.1: identifier rejected; 5.0: Unspecified error, the
			// code Mosquitto sends.
			reason := packet.ClientIdentifierNotValid
			if c.version == packet.V5 {
				reason = packet.UnspecifiedError
			}
			return c.refuse(reason, "empty client id not allowed")
		}
		c.clientID = c.l.AutoIDPrefix + newUUID()
		assigned = true
	}
	// With use_identity_as_username (or use_subject_as_username) the
	// certificate names the user; what CONNECT says is ignored.
	username, hasUsername, password, hasPassword := p.Username, p.UsernameFlag, p.Password, p.PasswordFlag
	fromCert := false
	if c.l.CertUsername != nil {
		name, ok := c.l.CertUsername(c.nc)
		if !ok {
			// Mosquitto answers a missing certificate or common name as
			// a bad username (3.x code 4, v5 0x86).
			return c.refuse(packet.BadUsernameOrPassword, "no usable client certificate")
		}
		username, hasUsername, password, hasPassword, fromCert = name, true, nil, false, true
	}
	if c.l.UseUsernameAsClientID {
		if !hasUsername {
			return c.refuse(packet.NotAuthorized, "no username for use_username_as_clientid")
		}
		c.clientID = username
	}

	// Keep alive.
	keepAlive := p.KeepAlive
	serverKeepAlive := false
	if max := s.opts.MaxKeepalive; max > 0 && (keepAlive > max || keepAlive == 0) {
		if c.version != packet.V5 {
			return c.refuse(packet.ClientIdentifierNotValid, fmt.Sprintf("keepalive %d exceeds max_keepalive %d", keepAlive, max))
		}
		keepAlive = max
		serverKeepAlive = true
	}
	c.keepAlive = time.Duration(keepAlive) * time.Second

	// Will. As Mosquitto: an invalid will topic closes the connection
	// without an answer; a will QoS or retain the broker does not offer is
	// refused in a CONNACK only to 5.0 clients; a will payload over
	// message_size_limit is refused (0x95, or not authorised in 3.x).
	if w := p.Will; w != nil {
		if err := topic.ValidateName(w.Topic); err != nil {
			return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("invalid will topic: %v", err)}
		}
		if w.Retain && !s.opts.RetainAvailable {
			return c.refuseV5(packet.RetainNotSupported, "retained will, and retain is not available")
		}
		if w.QoS > c.l.MaxQoS {
			return c.refuseV5(packet.QoSNotSupported, "will QoS above maximum")
		}
		if limit := s.opts.MessageSizeLimit; limit > 0 && len(w.Payload) > limit {
			return c.refuse(packet.PacketTooLarge, "will payload over message_size_limit")
		}
	}

	// Authentication.
	info := &ClientInfo{
		ClientID:        c.clientID,
		Username:        username,
		HasUsername:     hasUsername,
		Password:        password,
		HasPassword:     hasPassword,
		ProtocolVersion: c.version,
		RemoteAddr:      ownAddr(c.nc.RemoteAddr()),
		Listener:        c.l,
		FromCertificate: fromCert,
		AuthMethod:      authMethod,
		AuthData:        props.AuthData,
	}
	if !fromCert && !c.l.Trusted {
		if !hasUsername && authMethod == "" && !c.l.AllowAnonymous {
			return c.refuse(packet.NotAuthorized, "not authorised")
		}
		h := s.auth.Load()
		if rc := h.a.Authenticate(info); rc != 0 {
			return c.refuse(packet.ReasonCode(rc), "not authorised")
		}
		defer c.recheckAuth(h)
	}
	// A copy of the credentials stays (the originals alias the whole
	// CONNECT body) so that Reauthenticate can check them against a
	// reloaded password file, as Mosquitto does.
	info.Password = bytes.Clone(info.Password)
	info.AuthData = bytes.Clone(info.AuthData)
	c.info = info
	c.authInfo.Store(info)
	c.armCredentialExpiry(info)

	if w := p.Will; w != nil {
		wm := newMessage(&packet.Publish{Topic: c.mount(w.Topic), Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, Properties: w.Properties}, c.clientID, time.Now())
		if wm.props != nil {
			wm.props.Clear(packet.PropWillDelay) // its own copy
			wm.setProps(wm.props)
		}
		wm.source = info
		c.will.Store(&willMsg{msg: wm, delay: w.Properties.WillDelay})
	}

	// Session expiry: v5 from the property, 3.x "never" unless clean.
	expiry := uint32(0)
	if c.version == packet.V5 {
		expiry = props.SessionExpiry
	} else if !p.CleanStart {
		expiry = neverExpires
	}
	c.connectExpiry = expiry

	// Limits the client announced.
	window := s.opts.MaxInflightMessages
	if window <= 0 || window > 65535 {
		window = 65535 // no more packet ids than that
	}
	if c.version == packet.V5 {
		if props.Has(packet.PropReceiveMaximum) {
			window = min(window, int(props.ReceiveMaximum))
		}
		c.maxPacketOut = props.MaximumPacketSize
		c.aliasMaxOut = min(props.TopicAliasMaximum, uint16(max(0, min(s.opts.MaxTopicAliasBroker, 65535))))
	}
	c.window = int32(window)

	connack := &packet.Connack{}
	if c.version == packet.V5 {
		cp := &connack.Properties
		if serverKeepAlive {
			cp.ServerKeepAlive = keepAlive
			cp.Set(packet.PropServerKeepAlive)
		}
		if c.l.MaxTopicAlias > 0 {
			cp.TopicAliasMaximum = c.l.MaxTopicAlias
			cp.Set(packet.PropTopicAliasMaximum)
		}
		if assigned {
			cp.AssignedClientID = c.clientID
			cp.Set(packet.PropAssignedClientID)
		}
		if authMethod != "" {
			// The CONNACK names the method the client authenticated with.
			cp.AuthMethod = authMethod
			cp.Set(packet.PropAuthMethod)
		}
		if !s.opts.RetainAvailable {
			cp.RetainAvailable = 0
			cp.Set(packet.PropRetainAvailable)
		}
		if s.opts.MaxPacketSize > 0 {
			cp.MaximumPacketSize = uint32(s.opts.MaxPacketSize)
			cp.Set(packet.PropMaximumPacketSize)
		}
		if m := s.opts.MaxInflightMessages; m > 0 {
			// 0, no limit, is the protocol's default of 65535: not sent.
			cp.ReceiveMaximum = uint16(min(m, 65535))
			cp.Set(packet.PropReceiveMaximum)
		}
		c.setMaximumQoS(connack)
		// Request Response Information is answered with nothing, as
		// Mosquitto does: the server may omit it (MQTT 5.0 3.1.2.11.7).
	}
	if rl := s.opts.Relay; rl != nil {
		// The session of this client id on another server ends there,
		// and comes here if the client resumes it.
		st, err := rl.Claim(c.clientID, !p.CleanStart)
		if err != nil {
			return c.refuse(packet.ServerUnavailable, err.Error())
		}
		if st != nil && !p.CleanStart {
			s.adopt(c.clientID, st)
		}
	}
	// The connection being taken over handles what it received first, as
	// it would have in Mosquitto (order.go).
	s.settleOld(c.clientID)
	if c.maxPacketOut > 0 && packet.Size(connack, c.version) > int(c.maxPacketOut) {
		// The client could not take even the CONNACK: Mosquitto closes
		// the connection without one.
		return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("maximum packet size %d is too small for CONNACK", c.maxPacketOut)}
	}
	c.attach(p.CleanStart, expiry, connack)
	return nil
}

// attach binds the connection to its session (new, resumed or taken
// over), sends CONNACK and resends what the session owes the client.
func (c *conn) attach(cleanStart bool, expiry uint32, connack *packet.Connack) {
	s := c.srv
	var (
		old     *conn
		oldWill *willMsg
		dropped *session
		orphans []delivery
	)
	s.mu.Lock()
	sess := s.sessions[c.clientID]
	resumed := false
	if sess != nil {
		sess.mu.Lock()
		old = sess.conn
		if old != nil {
			// Taken under s.mu, as detach takes it: exactly one of the
			// two decides what becomes of the old connection's will.
			oldWill = old.will.Swap(nil)
		}
		sess.conn = nil
		sess.online.Store(false)
		sess.relieve()
		// A new connection for the client id before the will delay has
		// passed deletes the will, whether or not the session goes on
		// (MQTT 5.0 section 3.1.2.5).
		s.dropStoredWill(sess, sess.stopTimers())
		// The session goes on only if it was to outlive its connection
		// and the client does not ask for a clean start, as in
		// Mosquitto: taking over a session whose expiry interval is 0
		// starts a new one.
		if cleanStart || sess.ended || sess.expiry == 0 {
			// [MQTT-3.1.2-4] discard the existing session.
			if !sess.ended {
				sess.ended = true
				s.dropStoredSession(sess)
				dropped = sess
			}
			sess.mu.Unlock()
			delete(s.sessions, c.clientID)
			sess = nil
		} else {
			resumed = true
			sess.mu.Unlock()
		}
	}
	if sess == nil {
		sess = newSession(c.clientID)
		s.sessions[c.clientID] = sess
	}
	if dropped != nil {
		orphans = s.removeSubscriptions(dropped)
	}
	total := int64(len(s.sessions))
	sess.mu.Lock()
	sess.conn = c
	sess.online.Store(true)
	sess.version = c.version
	sess.expiry = expiry
	sess.info = c.info
	sess.connectedAt = time.Now().UnixNano()
	sess.generation++
	s.storeSession(sess)
	c.sess = sess
	c.connected = true
	c.aliasOut = nil
	connack.SessionPresent = resumed && c.version != packet.V31 // [MQTT-3.2.2-2]
	s.mu.Unlock()

	// The CONNACK goes first: the session lock keeps publishers from
	// queueing anything to this connection before it.
	c.send(connack)
	s.stats.connected.Add(1)
	s.stats.connections.Add(1)
	for {
		m := s.stats.maxClients.Load()
		if total <= m || s.stats.maxClients.CompareAndSwap(m, total) {
			break
		}
	}
	if resumed {
		c.resend(sess)
	}
	sess.mu.Unlock()

	if old != nil {
		// Session takeover [MQTT-3.1.4-3]: the old connection goes. Its
		// will is published if the session ended with it; a will with a
		// delay, or of a session that goes on, is deleted by the new
		// connection, as Mosquitto does.
		if oldWill != nil && !resumed && oldWill.delay == 0 {
			s.publishWill(oldWill.msg, old.info)
		}
		s.log.Error(fmt.Sprintf("Client %s already connected, closing old connection.", c.clientID))
		s.wg.Go(func() { old.kick(packet.SessionTakenOver) })
	}
	s.redeliverShared(orphans)
	s.holdWill(c)
	if s.opts.ConnectionMessages {
		user := ""
		if c.info != nil && c.info.HasUsername {
			user = fmt.Sprintf(", u'%s'", c.info.Username)
		}
		kind := "client"
		if c.bridge {
			kind = "bridge"
		}
		s.log.Notice(fmt.Sprintf("New %s connected from %s as %s (p%d, c%d, k%d%s).",
			kind, c.remote(), c.clientID, logProtocol(c.version), b2i(cleanStart), int(c.keepAlive/time.Second), user))
	}
}

func logProtocol(v byte) int {
	switch v {
	case packet.V31:
		return 1
	case packet.V311:
		return 2
	}
	return 5
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// detach runs when a connected client's connection has ended.
func (s *Server) detach(c *conn) {
	sess := c.sess
	now := time.Now()
	var publishNow *willMsg
	defer s.dropHeldWill(c) // once this server has done what it does with the will

	s.mu.Lock()
	// Under s.mu: a takeover in attach takes the will under the same
	// lock, and a will it has taken is its to publish or delete.
	w := c.will.Swap(nil)
	sess.mu.Lock()
	if sess.conn != c {
		// Taken over, or ended: the new owner handled the session.
		sess.mu.Unlock()
		s.mu.Unlock()
		if w != nil {
			s.publishWill(w.msg, c.info)
		}
		return
	}
	sess.conn = nil
	sess.online.Store(false)
	sess.relieve()
	sess.disconnectedAt = now
	if s.effectiveExpiry(sess) == 0 {
		sess.ended = true
		s.dropStoredSession(sess)
		delayed := w != nil && w.delay > 0
		if delayed {
			// The session has ended, but its will waits out its delay as
			// in Mosquitto, and a new connection for the client id before
			// then deletes it (MQTT 5.0 section 3.1.2.5): the ended
			// session stays in s.sessions, holding the will, until then.
			s.delayWill(sess, w, c.info, now, false)
		} else {
			delete(s.sessions, sess.id)
		}
		sess.mu.Unlock()
		orphans := s.removeSubscriptions(sess)
		s.mu.Unlock()
		s.redeliverShared(orphans)
		if w != nil && !delayed {
			s.publishWill(w.msg, c.info)
		}
		return
	}
	if w != nil {
		if w.delay == 0 {
			publishNow = w
		} else {
			s.delayWill(sess, w, c.info, now, s.journal != nil)
		}
	}
	s.armExpiry(sess)
	s.storeSession(sess) // with the time it was disconnected
	sess.mu.Unlock()
	s.mu.Unlock()
	if publishNow != nil {
		s.publishWill(publishNow.msg, c.info)
	}
}

// delayWill makes w the session's pending will, published once its delay
// has passed [MQTT-3.1.3-9] unless a new connection deletes it first.
// Called with Server.mu and sess.mu held.
func (s *Server) delayWill(sess *session, w *willMsg, info *ClientInfo, now time.Time, store bool) {
	delay := time.Duration(w.delay) * time.Second
	pw := &pendingWill{msg: w.msg, info: info}
	pw.timer = time.AfterFunc(delay, func() { s.fireWill(sess, pw) })
	sess.pendingWill = pw
	if store {
		s.storeWill(sess, pw, now.Add(delay))
	}
}

// fireWill publishes a delayed will if it is still pending. An ended
// session that was kept only for its will goes with it.
func (s *Server) fireWill(sess *session, pw *pendingWill) {
	sess.mu.Lock()
	if sess.pendingWill != pw {
		sess.mu.Unlock()
		return
	}
	sess.pendingWill = nil
	s.dropStoredWill(sess, pw)
	ended := sess.ended
	sess.mu.Unlock()
	if ended {
		s.mu.Lock()
		if s.sessions[sess.id] == sess {
			delete(s.sessions, sess.id)
		}
		s.mu.Unlock()
	}
	s.publishWill(pw.msg, pw.info)
}

// expire ends a disconnected session whose expiry interval has passed.
func (s *Server) expire(sess *session, gen uint32) {
	s.mu.Lock()
	sess.mu.Lock()
	if sess.generation != gen || sess.conn != nil || sess.ended {
		sess.mu.Unlock()
		s.mu.Unlock()
		return
	}
	sess.ended = true
	pw := sess.stopTimers()
	s.dropStoredSession(sess)
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	sess.mu.Unlock()
	orphans := s.removeSubscriptions(sess)
	s.mu.Unlock()
	s.redeliverShared(orphans)
	s.stats.expired.Add(1)
	s.log.Notice(fmt.Sprintf("Expiring client %s due to timeout.", sess.id))
	if pw != nil {
		// The session ended before the will delay: send it now.
		s.publishWill(pw.msg, pw.info)
	}
}

// removeSubscriptions takes an ended session out of the subscription tree
// and drops its messages. It returns those that shared groups gave it and
// the client has not acknowledged, for the caller to hand to
// redeliverShared once it has released Server.mu.
func (s *Server) removeSubscriptions(sess *session) []delivery {
	sess.mu.Lock()
	filters := make([]string, 0, len(sess.subs))
	for f := range sess.subs {
		filters = append(filters, f)
	}
	clear(sess.subs)
	orphans := sess.sharedUnacked()
	sess.clearMessages()
	sess.mu.Unlock()
	for _, f := range filters {
		if s.indexUnsubscribe(sess, f) {
			s.relayUnsubscribed(f)
		}
	}
	return orphans
}

// redeliverShared gives the messages that shared groups had given to a
// session which ended before acknowledging them to other members of the
// groups: the publisher was told they were delivered. "If the Client's
// Session terminates before the Client reconnects, the Server SHOULD send
// the Application Message to another Client that is subscribed to the same
// Shared Subscription" (MQTT 5.0, 4.8.2); $share groups of 3.1.1 clients
// are treated the same. It runs without Server.mu: deliveries call the
// Authorizer, which is never called with Server.mu held.
func (s *Server) redeliverShared(orphans []delivery) {
	now := time.Now()
	for _, d := range orphans {
		if !d.msg.expired(now) { // [MQTT-3.3.2-5]
			s.deliverShared(d.group, d.msg)
		}
	}
}

// publishWill sends a will message, checking the client's right to
// publish it as Mosquitto does.
func (s *Server) publishWill(m *message, info *ClientInfo) {
	if isReservedForBroker(m.topic) {
		return // a will may no more write $SYS than a PUBLISH may
	}
	if info != nil && !s.authorize(info, m.topic, AccessWrite) {
		return
	}
	if _, err := s.publish(m, nil); err != nil {
		s.log.Error(fmt.Sprintf("Error: %v; will message dropped.", err))
	}
}

// effectiveExpiry is the session's expiry interval in seconds, with
// persistent_client_expiration applied to 3.x sessions that never expire
// by themselves. Called with sess.mu held.
func (s *Server) effectiveExpiry(sess *session) uint32 {
	e := sess.expiry
	if e == neverExpires && sess.version != packet.V5 && s.opts.PersistentClientExpiration > 0 {
		e = uint32(min(s.opts.PersistentClientExpiration/time.Second, neverExpires-1))
	}
	return e
}

// armExpiry starts the timer that ends a disconnected session once its
// expiry interval has passed since it was disconnected. Called with
// sess.mu held.
func (s *Server) armExpiry(sess *session) {
	e := s.effectiveExpiry(sess)
	if e == neverExpires {
		return
	}
	left := time.Duration(e)*time.Second - time.Since(sess.disconnectedAt)
	gen := sess.generation
	sess.expiryTimer = time.AfterFunc(max(0, left), func() { s.expire(sess, gen) })
}

// newUUID returns a random RFC 4122 version 4 UUID in upper case, the
// form Mosquitto uses for assigned client ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// recheckAuth closes the connection if the Authorizer was replaced (a
// reload) while CONNECT was being authenticated with the old one and the
// new one refuses the client: Reauthenticate, which runs after the
// replacement, may have missed a connection not yet recorded.
func (c *conn) recheckAuth(h *authHolder) {
	s := c.srv
	if s.auth.Load() == h {
		return
	}
	if info := c.authInfo.Load(); info != nil && authenticateCopy(s.authorizer(), info) != 0 {
		s.log.Notice(fmt.Sprintf("Client %s has been disconnected: not authorised after reload.", info.ClientID))
		s.wg.Go(func() { c.kick(packet.NotAuthorized) })
	}
}
