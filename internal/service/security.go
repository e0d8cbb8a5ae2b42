package service

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/auth/dynsec"
	"github.com/midge-mqtt/midge/internal/auth/httpauth"
	"github.com/midge-mqtt/midge/internal/auth/jwtauth"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/packet"
)

// rules are the security settings of one scope: the whole broker, or one
// listener with per_listener_settings.
type rules struct {
	anonymous bool
	passwords *auth.Passwords // nil: no password_file
	acl       *auth.ACL       // nil: no acl_file, every topic allowed
	// dynsec is the dynamic security plugin, asked before the files.
	dynsec *dynsec.Security
	// jwt verifies tokens (jwt_* options), asked after the plugin.
	jwt *jwtauth.Verifier
	// http is the HTTP authentication service (http_auth_*), asked after
	// tokens and before the files.
	http *httpauth.Client
	log  *slog.Logger
}

// tallies count the answers of the token and HTTP checks across reloads,
// for the metrics.
type tallies struct {
	jwt, http auth.Tally
}

// policy is the broker.Authorizer made of mosquitto.conf's security
// options. It is immutable: a reload builds a new one.
type policy struct {
	global rules
	// byListener holds each listener's rules with per_listener_settings.
	byListener map[*broker.Listener]*rules
}

// loadPolicy reads the password and ACL files cfg names. listeners maps
// each broker listener to its configuration, for per_listener_settings.
// Any unreadable or malformed file is an error naming it: the broker
// never runs with less security than configured.
func loadPolicy(cfg *config.Config, listeners map[*broker.Listener]*config.Listener, ds *dynsecs, t *tallies, log *slog.Logger) (*policy, error) {
	p := &policy{}
	var err error
	if cfg.PerListenerSettings {
		p.byListener = make(map[*broker.Listener]*rules, len(listeners))
		for bl, l := range listeners {
			r, err := loadRules(&l.Security, cfg.AnonymousAllowed(l), t, log)
			if err != nil {
				return nil, err
			}
			r.dynsec = ds.forListener(bl)
			p.byListener[bl] = r
		}
		return p, nil
	}
	r, err := loadRules(&cfg.Security, cfg.AnonymousAllowed(nil), t, log)
	if err != nil {
		return nil, err
	}
	r.dynsec = ds.forListener(nil)
	p.global = *r
	return p, nil
}

func loadRules(sec *config.Security, anonymous bool, t *tallies, log *slog.Logger) (*rules, error) {
	r := &rules{anonymous: anonymous, log: log}
	if sec.JWT.Enabled() {
		v, err := jwtauth.New(sec.JWT, nil, &t.jwt, log)
		if err != nil {
			return nil, err
		}
		r.jwt = v
	}
	if sec.HTTPAuth.Enabled() {
		c, err := httpauth.New(sec.HTTPAuth, &t.http, log)
		if err != nil {
			return nil, err
		}
		r.http = c
	}
	if sec.PasswordFile != "" {
		pw, err := auth.LoadPasswords(sec.PasswordFile)
		if err != nil {
			return nil, err
		}
		for _, w := range pw.Warnings() {
			log.Warn("Warning: " + w.Error())
		}
		r.passwords = pw
	}
	if sec.ACLFile != "" {
		acl, err := auth.LoadACL(sec.ACLFile)
		if err != nil {
			return nil, err
		}
		for _, w := range acl.Warnings() {
			log.Warn("Warning: " + w.Error())
		}
		r.acl = acl
	}
	return r, nil
}

func (p *policy) rulesFor(l *broker.Listener) *rules {
	if p.byListener != nil {
		if r := p.byListener[l]; r != nil {
			return r
		}
		// A listener we do not know (cannot happen when wired by Main):
		// refuse rather than guess.
		return &rules{}
	}
	return &p.global
}

// Authenticate implements broker.Authorizer with Mosquitto 2.0's rules:
// a client without a username (or with an empty one, which mosquitto
// 2.0.11 treats the same) needs allow_anonymous; a client with one
// needs a matching entry in the password file, and without a password
// file it gets in only where anonymous clients do. Every refusal is
// "not authorised" (3.x code 5, v5 0x87), as Mosquitto answers.
//
// Before the password file come, in this order, the checks that may
// answer yes, no or "not mine": the dynamic security plugin, as Mosquitto
// asks its plugins before the password file; a token (a password that is
// a JWT, or MQTT 5 enhanced authentication with method JWT or OAUTH2),
// when jwt_* options are set; the HTTP service's user URL. The first yes
// or no is final. When they all have no opinion, the password file
// decides; without one, a client with a username is refused (every check
// deferred), and one without needs allow_anonymous.
func (p *policy) Authenticate(c *broker.ClientInfo) byte {
	r := p.rulesFor(c.Listener)
	if c.AuthMethod != "" {
		// Enhanced authentication: the token alone decides.
		if r.jwt != nil && r.authenticateToken(c) == auth.Allow {
			return 0
		}
		return byte(packet.NotAuthorized)
	}
	deferred := false
	if r.dynsec != nil {
		switch r.dynsec.Authenticate(c.ClientID, c.Username, c.HasUsername, c.Password, c.HasPassword) {
		case dynsec.Allow:
			return 0
		case dynsec.Deny:
			return byte(packet.NotAuthorized)
		}
		deferred = true
	}
	if r.jwt != nil {
		switch r.authenticateToken(c) {
		case auth.Allow:
			return 0
		case auth.Deny:
			return byte(packet.NotAuthorized)
		}
	}
	if r.http != nil && r.http.Authenticates() && c.HasUsername {
		switch r.http.Authenticate(c.ClientID, c.Username, string(c.Password)) {
		case auth.Allow:
			return 0
		case auth.Deny:
			return byte(packet.NotAuthorized)
		}
		deferred = true
	}
	if deferred && c.HasUsername && c.Username != "" && r.passwords == nil {
		return byte(packet.NotAuthorized)
	}
	if !c.HasUsername || c.Username == "" {
		if r.anonymous {
			return 0
		}
		return byte(packet.NotAuthorized)
	}
	if r.passwords == nil {
		if r.anonymous {
			return 0
		}
		return byte(packet.NotAuthorized)
	}
	// A username without a password, or with an empty one, never matches
	// an entry (mosquitto 2.0.11 refuses both).
	if !c.HasPassword || r.passwords.Check(c.Username, string(c.Password)) != nil {
		return byte(packet.NotAuthorized)
	}
	return 0
}

// authenticateToken checks the client's token, if it has one: with
// enhanced authentication, the AUTH data; otherwise a password shaped
// like a JWT. A valid token names the user, and may carry its rights and
// expiry; an invalid one is refused. Clients without a token are not its
// business.
func (r *rules) authenticateToken(c *broker.ClientInfo) auth.Result {
	var token string
	switch {
	case c.AuthMethod != "":
		token = string(c.AuthData)
	case c.HasPassword && jwtauth.LooksLikeJWT(string(c.Password)):
		token = string(c.Password)
	default:
		return auth.Defer
	}
	id, err := r.jwt.Verify(token)
	if err != nil {
		notice(r.log, fmt.Sprintf("Client %s: token refused: %v.", c.ClientID, err))
		return auth.Deny
	}
	c.Username, c.HasUsername = id.Username, true
	c.Expires = id.Expires
	if id.Grants != nil {
		c.Grant = id.Grants
	}
	return auth.Allow
}

// SupportsAuthMethod implements broker.AuthMethods: where tokens are
// accepted, MQTT 5 clients may send theirs with the methods JWT and
// OAUTH2 (an OAuth 2.0 access token that is a JWT).
func (p *policy) SupportsAuthMethod(l *broker.Listener, method string) bool {
	return p.rulesFor(l).jwt != nil && (strings.EqualFold(method, "JWT") || strings.EqualFold(method, "OAUTH2"))
}

// Authorize implements broker.Authorizer: Mosquitto's built-in rules for
// $SYS and $share first, then the dynamic security plugin if there is one
// (its yes or no is final), then the rights of the client's token if
// jwt_acl_claim is set (final), then the HTTP service's superuser and ACL
// URLs (a yes or no is final), then the ACL file if there is one. With
// the plugin or the service and no ACL file, what they have no opinion on
// is refused.
func (p *policy) Authorize(c *broker.ClientInfo, topic string, access broker.Access) bool {
	if access != broker.AccessUnsubscribe && !auth.CheckReserved(topic, toAuthAccess(access)) {
		return false
	}
	if p.byListener != nil && p.byListener[c.Listener] == nil {
		// per_listener_settings, and a listener we do not know (a
		// restored session or retained message whose listener is gone):
		// refuse rather than guess.
		return false
	}
	r := p.rulesFor(c.Listener)
	deferred := false
	if r.dynsec != nil {
		switch r.dynsec.Authorize(c.ClientID, c.Username, c.HasUsername, topic, dynsec.Access(access)) {
		case dynsec.Allow:
			return true
		case dynsec.Deny:
			return false
		}
		deferred = true
	}
	if g, ok := c.Grant.(*auth.Grants); ok {
		return g.Check(topic, toAuthAccess(access))
	}
	if r.http != nil && r.http.Authorizes() && access != broker.AccessUnsubscribe {
		switch r.http.Authorize(c.ClientID, c.Username, topic, toAuthAccess(access)) {
		case auth.Allow:
			return true
		case auth.Deny:
			return false
		}
		deferred = true
	}
	if deferred && r.acl == nil {
		return false // every check deferred
	}
	switch {
	case access == broker.AccessUnsubscribe:
		return true // the ACL file has no unsubscribe rules
	case r.acl == nil:
		return true
	}
	return r.acl.Check(c.ClientID, c.Username, c.HasUsername, topic, toAuthAccess(access))
}

func toAuthAccess(a broker.Access) auth.Access {
	switch a {
	case broker.AccessRead:
		return auth.Read
	case broker.AccessWrite:
		return auth.Write
	case broker.AccessUnsubscribe:
		return auth.Unsubscribe
	default:
		return auth.Subscribe
	}
}
