// Package topic holds everything the broker knows about MQTT topics: the
// validation of topic names and filters, wildcard matching, the subscription
// tree that routes every PUBLISH to its subscribers (including $share
// groups), and the store of retained messages indexed for wildcard lookups.
//
// Topic levels are separated by '/'. Empty levels are real levels: "a//b"
// has three levels and "/a" starts with an empty one.
//
// The tree and the retained store are read far more often than they are
// written, and they are read on every core at once. Readers therefore take
// no lock: every node publishes an immutable snapshot of its contents through
// an atomic pointer, and writers, serialised by a mutex, replace snapshots.
//
// The package imports only the standard library.
package topic

import (
	"errors"
	"strings"
)

// MaxLen is the longest topic name or filter in bytes: an MQTT UTF-8 string
// carries a two-byte length [MQTT-4.7.3-3].
const MaxLen = 65535

// MaxLevels is the most topic level separators a name or filter may hold:
// Mosquitto's limit, which keeps the subscription tree and its walks
// shallow. A name or filter with more is refused as a client error.
const MaxLevels = 200

// sharePrefix starts every shared subscription filter [MQTT-4.8.2-1].
const sharePrefix = "$share/"

// Validation errors. UTF-8 well-formedness and U+0000 are the codec's job.
var (
	ErrEmpty          = errors.New("topic: empty topic name or filter")
	ErrTooLong        = errors.New("topic: longer than 65535 bytes")
	ErrWildcardInName = errors.New("topic: wildcard character in topic name")
	ErrMultiLevel     = errors.New("topic: '#' is not alone in the last level")
	ErrSingleLevel    = errors.New("topic: '+' does not occupy a whole level")
	ErrShareName      = errors.New("topic: invalid $share group name")
	ErrShareFilter    = errors.New("topic: $share group without a topic filter")
	ErrTooManyLevels  = errors.New("topic: more than 200 level separators")
)

// ValidateName checks the topic name of a PUBLISH: non-empty, no wildcard
// characters and at most MaxLen bytes. It never allocates, because it runs
// for every PUBLISH.
func ValidateName(name string) error {
	switch {
	case name == "":
		return ErrEmpty // [MQTT-4.7.3-1]
	case len(name) > MaxLen:
		return ErrTooLong // [MQTT-4.7.3-3]
	case strings.IndexByte(name, '+') >= 0 || strings.IndexByte(name, '#') >= 0:
		// Two vectorised scans: ContainsAny goes byte by byte.
		return ErrWildcardInName // [MQTT-3.3.2-2] [MQTT-4.7.0-1]
	case strings.Count(name, "/") > MaxLevels:
		return ErrTooManyLevels
	}
	return nil
}

// ValidateFilter checks a subscription filter: non-empty, at most MaxLen
// bytes, '#' only as the whole last level, '+' only as a whole level. A
// filter starting with "$share/" must be "$share/<group>/<filter>" with a
// non-empty group free of '+', '#' and '/', followed by a valid non-empty
// filter.
func ValidateFilter(filter string) error {
	if len(filter) > MaxLen {
		return ErrTooLong // [MQTT-4.7.3-3]
	}
	if group, inner, ok := SplitShared(filter); ok {
		if group == "" || strings.ContainsAny(group, "+#") {
			return ErrShareName // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
		}
		if inner == "" {
			return ErrShareFilter // [MQTT-4.8.2-2]
		}
		filter = inner
	}
	if filter == "" {
		return ErrEmpty // [MQTT-4.7.3-1]
	}
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			// [MQTT-4.7.1-2] on its own or after a separator, and last.
			if (i > 0 && filter[i-1] != '/') || i != len(filter)-1 {
				return ErrMultiLevel
			}
		case '+':
			// [MQTT-4.7.1-3] a whole level: bounded by separators or the ends.
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return ErrSingleLevel
			}
		}
	}
	if strings.Count(filter, "/") > MaxLevels {
		return ErrTooManyLevels
	}
	return nil
}

// SplitShared returns the group name and inner filter of a shared
// subscription "$share/<group>/<filter>". ok is false for filters that do
// not start with "$share/". A malformed shared filter such as "$share/g"
// still reports ok, with an empty inner filter, so that ValidateFilter can
// reject it rather than treat it as an ordinary filter.
func SplitShared(filter string) (group, inner string, ok bool) {
	rest, ok := strings.CutPrefix(filter, sharePrefix)
	if !ok {
		return "", "", false
	}
	group, inner, _ = strings.Cut(rest, "/")
	return group, inner, true
}

// HasWildcard reports whether a filter contains '+' or '#'.
func HasWildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}

// Match reports whether the topic name matches the filter. The filter is
// taken literally: "$share/" has no special meaning here. Neither argument
// is validated; for invalid input the result is unspecified but safe.
func Match(filter, name string) bool {
	// [MQTT-4.7.2-1] filters starting with a wildcard do not match names
	// starting with '$', so "#" never delivers $SYS traffic.
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true // the level it stands in and every level below
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore && !nmore:
			return true
		case !nmore:
			// The name ended but the filter goes on: only a trailing "#"
			// still matches, because it also matches its parent level
			// ("sport/#" matches "sport").
			return frest == "#"
		case !fmore:
			return false
		}
		filter, name = frest, nrest
	}
}
