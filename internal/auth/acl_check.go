package auth

import "strings"

// Check reports whether a client may have access to topic, with the rules
// of mosquitto_acl_check_default (src/security_default.c, Mosquitto 2.0):
//
//  1. Subscribe and Unsubscribe are always allowed: Mosquitto 2.0's ACL file
//     does not check filters (a FIXME in its source). A forbidden "#"
//     subscription is granted and only the messages that pass the Read check
//     are delivered. Verified with mosquitto 2.0.11 in the interop test.
//  2. The client's own list is consulted: the "user" section of its
//     username, or the anonymous section (the topic lines before the first
//     user line) when it gave no username. A matching deny rule refuses; a
//     matching rule with the access bit allows; otherwise go on.
//  3. If the file has any pattern and the username or client id contains '+'
//     or '#', access is refused (CVE-2017-7650), even for patterns without
//     %c or %u.
//  4. Patterns apply to every client, anonymous ones included, with %c
//     replaced by the client id and %u by the username; patterns with %u are
//     skipped for clients without a username. Deny patterns first, as in 2.
//  5. Everything else is refused.
//
// A filter matches a topic starting with '$' only if it starts with '$'
// itself, so "topic read #" does not give $SYS. An empty username counts
// as no username: mosquitto 2.0.11 gives a client that sent username ""
// the anonymous section and skips its %u patterns.
//
// Check does not apply the built-in rules for $SYS and $share (see
// CheckReserved), and bridges, which Mosquitto exempts from every ACL, must
// not be checked at all. Check allocates nothing unless a pattern expands
// to more than 256 bytes.
func (a *ACL) Check(clientID, username string, hasUsername bool, topic string, access Access) bool {
	if access == Subscribe || access == Unsubscribe {
		return true
	}
	hasUsername = hasUsername && username != ""
	list := a.anon
	if hasUsername {
		list = a.users[username]
	}
	if list != nil {
		if allowed, decided := list.check(topic, access); decided {
			return allowed
		}
	}
	if !a.hasPatterns || dangerous(clientID, username, hasUsername) {
		return false
	}
	var buf [256]byte
	for i := range a.patDeny {
		p := &a.patDeny[i]
		if p.hasUser && !hasUsername {
			continue
		}
		if matchFilter(expand(buf[:0], p.filter, clientID, username, hasUsername), topic) {
			return false
		}
	}
	for i := range a.patAllow {
		p := &a.patAllow[i]
		if p.access&access == 0 || (p.hasUser && !hasUsername) {
			continue
		}
		if matchFilter(expand(buf[:0], p.filter, clientID, username, hasUsername), topic) {
			return true
		}
	}
	return false
}

// check applies one user's list: decided is false when no rule settles it.
func (l *ruleList) check(topic string, access Access) (allowed, decided bool) {
	for _, f := range l.deny {
		if matchFilter(f, topic) {
			return false, true
		}
	}
	for i := range l.allow {
		r := &l.allow[i]
		if r.access&access != 0 && matchFilter(r.filter, topic) {
			return true, true
		}
	}
	return false, false
}

// dangerous is Mosquitto's guard against a client choosing a username or
// client id that is itself a wildcard and so widens every pattern.
func dangerous(clientID, username string, hasUsername bool) bool {
	return (hasUsername && strings.ContainsAny(username, "+#")) || strings.ContainsAny(clientID, "+#")
}

// expand appends filter with %c and %u substituted, scanning left to right
// as Mosquitto does ("%%c" is '%' then the client id). %u is left as is
// without a username, though such patterns are skipped before expansion.
func expand(dst []byte, filter, clientID, username string, hasUsername bool) []byte {
	for i := 0; i < len(filter); i++ {
		if filter[i] == '%' && i+1 < len(filter) {
			switch {
			case filter[i+1] == 'c':
				dst = append(dst, clientID...)
				i++
				continue
			case filter[i+1] == 'u' && hasUsername:
				dst = append(dst, username...)
				i++
				continue
			}
		}
		dst = append(dst, filter[i])
	}
	return dst
}

// ClientACL is an ACL bound to one connection: the client's own list and
// its patterns expanded once, so that Check never allocates. Mosquitto
// also binds the list at CONNECT (acl__find_acls); after a reload, bind
// again.
type ClientACL struct {
	list      *ruleList
	patterns  bool // the file has patterns: they and the CVE guard apply
	dangerous bool
	patDeny   []string
	patAllow  []rule
}

// For binds the ACL to a client.
func (a *ACL) For(clientID, username string, hasUsername bool) *ClientACL {
	hasUsername = hasUsername && username != ""
	c := &ClientACL{list: a.anon, patterns: a.hasPatterns, dangerous: dangerous(clientID, username, hasUsername)}
	if hasUsername {
		c.list = a.users[username]
	}
	if c.dangerous {
		return c
	}
	for _, p := range a.patDeny {
		if !p.hasUser || hasUsername {
			c.patDeny = append(c.patDeny, string(expand(nil, p.filter, clientID, username, hasUsername)))
		}
	}
	for _, p := range a.patAllow {
		if !p.hasUser || hasUsername {
			c.patAllow = append(c.patAllow, rule{string(expand(nil, p.filter, clientID, username, hasUsername)), p.access})
		}
	}
	return c
}

// Check is ACL.Check for the bound client.
func (c *ClientACL) Check(topic string, access Access) bool {
	if access == Subscribe || access == Unsubscribe {
		return true
	}
	if c.list != nil {
		if allowed, decided := c.list.check(topic, access); decided {
			return allowed
		}
	}
	if !c.patterns || c.dangerous {
		return false
	}
	patterns := ruleList{deny: c.patDeny, allow: c.patAllow}
	allowed, _ := patterns.check(topic, access)
	return allowed
}

// CheckReserved applies Mosquitto's built-in rules for '$' topics
// (acl__check_dollar in src/security.c), which come before the ACL file and
// any plugin and apply even without them: nobody may publish to $SYS
// except to $SYS/broker/connection/+/state (bridge status), and $share/...
// is only a filter, never a topic to publish to or read from. Everything
// else is left to the ACL. Like Mosquitto it compares prefixes without a
// separator, so "$SYSTEM" counts as $SYS.
func CheckReserved(topic string, access Access) bool {
	switch {
	case strings.HasPrefix(topic, "$SYS"):
		return access != Write || matchFilter("$SYS/broker/connection/+/state", topic)
	case strings.HasPrefix(topic, "$share"):
		return access == Subscribe || access == Unsubscribe
	}
	return true
}

// matchFilter is mosquitto_topic_matches_sub for a valid filter: MQTT
// matching, except that a '$' at the start of either side must be matched
// by one on the other ("$SYS/#" matches "$SYS/x", "#" and "+/x" do not, and
// neither does "$a" match "a"). Empty strings and topics containing
// wildcards match nothing.
func matchFilter[F ~string | ~[]byte](f F, t string) bool {
	if len(f) == 0 || len(t) == 0 || (f[0] == '$') != (t[0] == '$') || strings.ContainsAny(t, "+#") {
		return false
	}
	i, j := 0, 0 // at the start of a level in both (a level may be empty)
	for {
		switch {
		case i < len(f) && f[i] == '#':
			return true // validated: '#' is the whole last level
		case i < len(f) && f[i] == '+':
			i++
			for j < len(t) && t[j] != '/' {
				j++
			}
		default:
			for i < len(f) && f[i] != '/' {
				if j == len(t) || t[j] != f[i] {
					return false
				}
				i++
				j++
			}
			if j < len(t) && t[j] != '/' {
				return false
			}
		}
		switch {
		case i == len(f) && j == len(t):
			return true
		case j == len(t):
			// "a/#" also matches "a": only "/#" may remain.
			return len(f)-i == 2 && f[i+1] == '#'
		case i == len(f):
			return false
		}
		i++ // both at '/'; the next level may be empty in either
		j++
	}
}
