package dynsec

import "strings"

// validUTF8 reports whether s passes mosquitto_validate_utf8, which is
// stricter than UTF-8 itself: besides malformed, overlong and surrogate
// sequences it refuses NUL, the C0 and C1 control characters and the
// Unicode non-characters (U+FDD0..U+FDEF and U+xxFFFE/U+xxFFFF), and
// strings longer than 65536 bytes. The plugin gives "... not valid UTF-8"
// for every name it refuses.
func validUTF8(s string) bool {
	if len(s) > 65536 {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		var n int
		var cp rune
		switch {
		case c == 0:
			return false
		case c <= 0x7f:
			n, cp = 1, rune(c)
		case c&0xe0 == 0xc0:
			if c == 0xc0 || c == 0xc1 {
				return false
			}
			n, cp = 2, rune(c&0x1f)
		case c&0xf0 == 0xe0:
			n, cp = 3, rune(c&0x0f)
		case c&0xf8 == 0xf0:
			if c > 0xf4 {
				return false
			}
			n, cp = 4, rune(c&0x07)
		default:
			return false // a continuation byte where a character starts
		}
		if i+n > len(s) {
			return false
		}
		for j := 1; j < n; j++ {
			b := s[i+j]
			if b&0xc0 != 0x80 {
				return false
			}
			cp = cp<<6 | rune(b&0x3f)
		}
		switch {
		case cp >= 0xd800 && cp <= 0xdfff:
			return false
		case n == 3 && cp < 0x800, n == 4 && (cp < 0x10000 || cp > 0x10ffff):
			return false // overlong or out of range
		case cp >= 0xfdd0 && cp <= 0xfdef, cp&0xfffe == 0xfffe:
			return false // non-characters
		case cp <= 0x1f, cp >= 0x7f && cp <= 0x9f:
			return false // control characters
		}
		i += n
	}
	return true
}

// maxTopicLevels is the broker's TOPIC_HIERARCHY_LIMIT, which
// mosquitto_sub_topic_check applies when called from a plugin.
const maxTopicLevels = 200

// validFilter is mosquitto_sub_topic_check as the broker runs it: '+'
// and '#' only as whole levels, '#' only last, at most 65535 bytes and 200
// separators. The empty string passes.
func validFilter(s string) bool {
	if len(s) > 65535 || strings.Count(s, "/") > maxTopicLevels {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '+':
			if (i > 0 && s[i-1] != '/') || (i+1 < len(s) && s[i+1] != '/') {
				return false
			}
		case '#':
			if (i > 0 && s[i-1] != '/') || i+1 < len(s) {
				return false
			}
		}
	}
	return true
}

// topicMatches is mosquitto_topic_matches_sub: whether topic, the name of
// a message, matches the filter sub. A filter or topic starting with '$'
// matches only one that also does, so "#" does not give $SYS. Invalid
// input (an empty string, wildcards in the topic, '+' or '#' not a whole
// level of the filter) matches nothing; the checks are made in
// Mosquitto's order, so a filter that is invalid only after the point
// where it stops matching still matches what comes before, as in
// Mosquitto, for filters loaded from a file without validation.
func topicMatches(sub, topic string) bool {
	if sub == "" || topic == "" {
		return false
	}
	if (sub[0] == '$') != (topic[0] == '$') {
		return false
	}
	at := func(s string, i int) byte { // C's view: NUL past the end
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	s, t := 0, 0
	for s < len(sub) {
		tc := at(topic, t)
		if tc == '+' || tc == '#' {
			return false
		}
		sc := sub[s]
		if sc != tc || tc == 0 {
			switch sc {
			case '+':
				if (s > 0 && sub[s-1] != '/') || (at(sub, s+1) != 0 && at(sub, s+1) != '/') {
					return false
				}
				s++
				for t < len(topic) && topic[t] != '/' {
					if topic[t] == '+' || topic[t] == '#' {
						return false
					}
					t++
				}
				if t == len(topic) && s == len(sub) {
					return true
				}
			case '#':
				if (s > 0 && sub[s-1] != '/') || s+1 < len(sub) {
					return false
				}
				return !strings.ContainsAny(topic[t:], "+#")
			default:
				// "foo/+/#" matches "foo/bar": the topic ended where the
				// filter has "/#" after a '+'.
				return tc == 0 && s > 0 && sub[s-1] == '+' && sc == '/' && at(sub, s+1) == '#'
			}
			continue
		}
		// Both have the same byte here.
		if t+1 == len(topic) && at(sub, s+1) == '/' && at(sub, s+2) == '#' && s+3 == len(sub) {
			return true // "foo" matches "foo/#"
		}
		s++
		t++
		switch {
		case s == len(sub) && t == len(topic):
			return true
		case t == len(topic) && at(sub, s) == '+' && s+1 == len(sub):
			return s == 0 || sub[s-1] == '/' // "foo/" matches "foo/+"
		}
	}
	return false
}
