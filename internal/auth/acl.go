package auth

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Access is what a client wants to do with a topic. The values are
// Mosquitto's MOSQ_ACL_* bits.
type Access uint8

const (
	Read        Access = 1 << iota // receive a message: delivery, retained messages
	Write                          // publish, and the will when it is sent
	Subscribe                      // send a SUBSCRIBE for a filter
	Unsubscribe                    // send an UNSUBSCRIBE for a filter
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Subscribe:
		return "subscribe"
	case Unsubscribe:
		return "unsubscribe"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

// rule is one "topic" line; access 0 is "deny".
type rule struct {
	filter string
	access Access
}

// ruleList is the rules of one user, or of anonymous clients. Mosquitto
// puts "deny" rules at the front of a list and takes the first match, so
// any matching deny wins and the order of the other rules never matters:
// they are kept apart here.
type ruleList struct {
	deny  []string
	allow []rule
}

func (l *ruleList) add(filter string, access Access) {
	if access == 0 {
		l.deny = append(l.deny, filter)
	} else {
		l.allow = append(l.allow, rule{filter, access})
	}
}

// pattern is one "pattern" line: a filter with %c and %u placeholders.
type pattern struct {
	filter  string
	access  Access
	hasUser bool // contains %u: skipped for clients without a username
}

// ACL is a parsed ACL file (Mosquitto's acl_file). It is immutable and safe
// for concurrent use.
type ACL struct {
	anon        *ruleList // "topic" lines before the first "user" line
	users       map[string]*ruleList
	patDeny     []pattern
	patAllow    []pattern
	hasPatterns bool
	warnings    []error
}

// LoadACL reads and parses the ACL file at path.
func LoadACL(path string) (*ACL, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("unable to open acl file: %w", err)
	}
	defer f.Close()
	return ParseACL(f, path)
}

// ParseACL parses an ACL file; name is used in messages. Any bad line makes
// the whole file unusable, as it stops Mosquitto from starting: the error
// is a *ParseError naming the line.
//
// Lines are read as aclfile__parse in src/security_default.c reads them
// (each rule checked against mosquitto 2.0.11, which refuses to start on
// the lines refused here):
//   - trailing blanks (CR included) are removed; a line starting with '#'
//     in the first column is a comment, but " # x" and "\ttopic x" are
//     errors, because words are separated by spaces only, never tabs;
//   - "topic [read|write|readwrite|deny] FILTER" and "pattern ..." take the
//     rest of the line as the filter, trimmed, so it may contain spaces
//     once the access word is given; without the word access is readwrite,
//     which makes "topic read" a readwrite rule for the topic "read";
//   - "user NAME" takes the rest of the line, trimmed, as the username;
//   - keywords are case-sensitive; filters are checked only for the
//     placement of '+' and '#' ("$share/g" is accepted as a plain filter);
//   - a pattern with neither %c nor %u only gives a warning;
//   - unlike Mosquitto, a NUL byte is an error, because Mosquitto ignores
//     the rest of the file after it, deny rules included.
func ParseACL(r io.Reader, name string) (*ACL, error) {
	a := &ACL{users: make(map[string]*ruleList)}
	var cur *ruleList // the anonymous list until the first user line creates it
	err := eachLine(r, name, func(n int, line string) error {
		fail := func(format string, args ...any) error {
			return &ParseError{File: name, Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		if strings.IndexByte(line, 0) >= 0 {
			// Mosquitto 2.0 silently drops this line's tail and every
			// following line (fgets_extending), deny rules included.
			return fail("NUL byte in line")
		}
		line = trimRightSpace(line)
		if strings.HasPrefix(line, "#") {
			return nil
		}
		keyword, rest := token(line)
		switch keyword {
		case "":
			return nil
		case "topic", "pattern":
			word, after := token(rest)
			if word == "" {
				return fail("missing topic after %q", keyword)
			}
			filter, access := word, Read|Write
			if after != "" {
				filter = trimSpace(after)
				var ok bool
				if access, ok = parseAccess(word); !ok {
					return fail("invalid topic access type %q (want read, write, readwrite or deny)", word)
				}
			}
			if !validFilter(filter) {
				return fail("invalid ACL topic %q", filter)
			}
			if keyword == "pattern" {
				a.addPattern(filter, access, func(msg string) {
					a.warnings = append(a.warnings, fail("%s", msg))
				})
				return nil
			}
			if cur == nil { // a topic line before any user line
				a.anon = &ruleList{}
				cur = a.anon
			}
			cur.add(filter, access)
		case "user":
			if rest == "" {
				return fail("missing username after \"user\"")
			}
			user := trimSpace(rest)
			if cur = a.users[user]; cur == nil {
				cur = &ruleList{}
				a.users[user] = cur
			}
		default:
			return fail("invalid line: unknown keyword %q (want topic, pattern or user)", keyword)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (a *ACL) addPattern(filter string, access Access, warn func(string)) {
	p := pattern{filter: filter, access: access, hasUser: strings.Contains(filter, "%u")}
	if !p.hasUser && !strings.Contains(filter, "%c") {
		warn(fmt.Sprintf("ACL pattern %q does not contain %%c or %%u", filter))
	}
	a.hasPatterns = true
	if access == 0 {
		a.patDeny = append(a.patDeny, p)
	} else {
		a.patAllow = append(a.patAllow, p)
	}
}

// Warnings lists the accepted lines that are probably mistakes, each a
// *ParseError naming the line.
func (a *ACL) Warnings() []error { return a.warnings }

// token is one strtok(s, " ") step: it skips leading spaces and returns the
// word up to the next space and the text after that single space.
func token(s string) (word, rest string) {
	s = strings.TrimLeft(s, " ")
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func parseAccess(word string) (Access, bool) {
	switch word {
	case "read":
		return Read, true
	case "write":
		return Write, true
	case "readwrite":
		return Read | Write, true
	case "deny":
		return 0, true
	}
	return 0, false
}

// validFilter is mosquitto_sub_topic_check: '+' and '#' must fill a whole
// level and '#' must be the last one; at most 65535 bytes.
func validFilter(f string) bool {
	if f == "" || len(f) > maxField {
		return false
	}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '+':
			if (i > 0 && f[i-1] != '/') || (i+1 < len(f) && f[i+1] != '/') {
				return false
			}
		case '#':
			if (i > 0 && f[i-1] != '/') || i+1 != len(f) {
				return false
			}
		}
	}
	return true
}
