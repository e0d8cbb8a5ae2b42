package auth

import (
	"fmt"
	"strings"

	"github.com/midge-mqtt/midge/internal/topic"
)

// Grants are topic rights given as lists of filters, as a token's claim
// carries them: what a client may publish to, and what it may subscribe
// to and so receive. Nothing else is allowed; unsubscribing always is.
type Grants struct {
	publish, subscribe []string
}

// NewGrants checks that every entry is a valid topic filter.
func NewGrants(publish, subscribe []string) (*Grants, error) {
	for _, l := range [][]string{publish, subscribe} {
		for _, f := range l {
			if err := topic.ValidateFilter(f); err != nil {
				return nil, fmt.Errorf("%q: %v", f, err)
			}
		}
	}
	return &Grants{publish: publish, subscribe: subscribe}, nil
}

// Check reports whether the grants allow access to topic (a filter for
// Subscribe and Unsubscribe).
func (g *Grants) Check(name string, access Access) bool {
	switch access {
	case Write:
		return anyMatches(g.publish, name)
	case Read:
		return anyMatches(g.subscribe, name)
	case Subscribe:
		for _, f := range g.subscribe {
			if FilterCovers(f, name) {
				return true
			}
		}
		return false
	}
	return true
}

func anyMatches(filters []string, name string) bool {
	for _, f := range filters {
		if matchFilter(f, name) {
			return true
		}
	}
	return false
}

// FilterCovers is Mosquitto's dynamic security sub_acl_check, used for
// its subscribePattern ACLs and for a token's subscribe claims: whether every topic the
// filter sub can match is also matched by the filter acl. "+" in acl
// covers "+" or any single level in sub; a trailing "#" in acl covers any
// number of further levels, and a "#" in sub needs one in acl.
func FilterCovers(acl, sub string) bool {
	if acl == "#" {
		return true
	}
	acl, aclHash := cutHash(acl)
	sub, subHash := cutHash(sub)
	if subHash && !aclHash {
		return false
	}
	aclLevels, subLevels := strings.Count(acl, "/")+1, strings.Count(sub, "/")+1
	if aclLevels > subLevels || (subLevels > aclLevels && !aclHash) {
		return false
	}
	for range aclLevels {
		var a, b string
		a, acl, _ = strings.Cut(acl, "/")
		b, sub, _ = strings.Cut(sub, "/")
		if a != "+" && a != b {
			return false
		}
	}
	return true
}

// cutHash removes a final multi-level wildcard: "#" becomes "" and
// "a/#" becomes "a".
func cutHash(s string) (string, bool) {
	switch {
	case s == "#":
		return "", true
	case len(s) > 1 && strings.HasSuffix(s, "/#"):
		return s[:len(s)-2], true
	}
	return s, false
}
