package dynsec

import (
	"github.com/midge-mqtt/midge/internal/auth"

	"slices"
	"strings"
)

// A view is the model compiled for the questions asked on every CONNECT,
// PUBLISH, delivery and SUBSCRIBE: immutable, shared by every goroutine,
// and replaced as a whole after each control request.
type view struct {
	defaults  [numDefaults]bool
	clients   map[string]*viewClient
	anonymous []*viewRole // the anonymous group's roles; nil without one
}

type viewClient struct {
	clientID optString
	password *password // shared with the model, which never changes one in place
	disabled bool
	// roles are the client's own roles, then those of each of its groups,
	// group by group, each in priority order: the order in which the
	// plugin looks for a matching ACL. A role reached twice is kept at its
	// first place only, since the second look could not find anything new.
	roles []*viewRole
}

type viewRole struct {
	publishSend    []acl
	publishReceive []acl
	subscribe      literalsAndPatterns
	unsubscribe    literalsAndPatterns
}

// literalsAndPatterns holds the (un)subscribeLiteral ACLs of a role, looked
// up by filter, and its (un)subscribePattern ACLs, tried in order. The
// plugin tries a role's literal ACL before its patterns, whatever their
// priorities.
type literalsAndPatterns struct {
	literal  map[string]bool // filter -> allow
	patterns []acl
}

func (l *literalsAndPatterns) check(filter string) (allow, found bool) {
	if allow, ok := l.literal[filter]; ok {
		return allow, true
	}
	for i := range l.patterns {
		if auth.FilterCovers(l.patterns[i].topic, filter) {
			return l.patterns[i].allow, true
		}
	}
	return false, false
}

func checkTopic(list []acl, topic string) (allow, found bool) {
	for i := range list {
		if topicMatches(list[i].topic, topic) {
			return list[i].allow, true
		}
	}
	return false, false
}

func literals(list []acl) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	seq := make(map[string]uint64, len(list))
	for _, a := range list {
		// Of equal filters (possible through createRole and modifyRole),
		// the one added last is found first, as in the plugin's hash.
		if s, ok := seq[a.topic]; !ok || a.seq > s {
			m[a.topic], seq[a.topic] = a.allow, a.seq
		}
	}
	return m
}

func compile(m *model) *view {
	roles := make(map[*role]*viewRole, len(m.roles))
	for _, r := range m.roles {
		roles[r] = &viewRole{
			// Copies: the model edits its lists in place.
			publishSend:    slices.Clone(r.acls[aclPublishSend]),
			publishReceive: slices.Clone(r.acls[aclPublishReceive]),
			subscribe:      literalsAndPatterns{literals(r.acls[aclSubscribeLiteral]), slices.Clone(r.acls[aclSubscribePattern])},
			unsubscribe:    literalsAndPatterns{literals(r.acls[aclUnsubscribeLiteral]), slices.Clone(r.acls[aclUnsubscribePattern])},
		}
	}
	v := &view{defaults: m.defaults, clients: make(map[string]*viewClient, len(m.clients))}
	for _, c := range m.clients {
		vc := &viewClient{clientID: c.clientID, password: c.password, disabled: c.disabled}
		seen := make(map[*role]bool)
		add := func(list []roleRef) {
			for _, r := range list {
				if !seen[r.role] {
					seen[r.role] = true
					vc.roles = append(vc.roles, roles[r.role])
				}
			}
		}
		add(c.roles)
		for _, g := range c.groups {
			add(g.group.roles)
		}
		v.clients[c.username] = vc
	}
	if m.anonymous != nil {
		v.anonymous = make([]*viewRole, 0, len(m.anonymous.roles))
		for _, r := range m.anonymous.roles {
			v.anonymous = append(v.anonymous, roles[r.role])
		}
	}
	return v
}

// authorize is the plugin's ACL check (dynsec__acl_check_callback).
func (v *view) authorize(username string, hasUsername bool, topic string, access Access) Result {
	var def int
	switch access {
	case Read:
		def = defaultReceive
	case Write:
		def = defaultSend
	case Subscribe:
		def = defaultSubscribe
	case Unsubscribe:
		def = defaultUnsubscribe
	default:
		return Defer
	}
	var roles []*viewRole
	if hasUsername {
		c := v.clients[username]
		if c == nil {
			return Defer // not ours: the password file's users may be
		}
		roles = c.roles
	} else {
		roles = v.anonymous
	}
	for _, r := range roles {
		var allow, found bool
		switch access {
		case Read:
			allow, found = checkTopic(r.publishReceive, topic)
		case Write:
			allow, found = checkTopic(r.publishSend, topic)
		case Subscribe:
			allow, found = r.subscribe.check(topic)
		case Unsubscribe:
			allow, found = r.unsubscribe.check(topic)
		}
		if found {
			if allow {
				return Allow
			}
			return Deny
		}
	}
	// Nothing matched. A default of false is no opinion (the check falls
	// through, and a check that nobody answers is refused); a default of
	// true never opens a $CONTROL topic, which must be granted explicitly.
	if !v.defaults[def] || strings.HasPrefix(topic, "$CONTROL") {
		return Defer
	}
	return Allow
}

// authenticate is the plugin's basic auth check
// (dynsec_auth__basic_auth_callback).
func (v *view) authenticate(clientID, username string, password []byte) Result {
	c := v.clients[username]
	if c == nil {
		return Defer
	}
	if c.disabled {
		return Deny
	}
	if c.clientID.ok && c.clientID.s != clientID {
		return Deny
	}
	if c.password == nil {
		return Defer // created without a password: not ours to accept
	}
	if c.password.matches(password) {
		return Allow
	}
	return Deny
}
