package bridge

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/topic"
)

// remapOut is the remote topic of a message the local broker delivered to
// the bridge, as Mosquitto maps it: the first `out` topic whose local
// filter matches and that has a prefix swaps the local prefix for the
// remote one; a message matched by prefix-less topics goes unchanged. A
// message that no `out` topic matches (a subscription left from an
// earlier configuration in the local session) is not forwarded.
func (b *Bridge) remapOut(name string) (string, bool) {
	matched := false
	for _, t := range b.topics {
		if !t.out || !topic.Match(t.local, name) {
			continue
		}
		matched = true
		if t.localPrefix == "" && t.remotePrefix == "" {
			continue
		}
		return t.remotePrefix + strings.TrimPrefix(name, t.localPrefix), true
	}
	return name, matched
}

// remapIn is the local topic of a message from the remote broker: the
// first `in` topic whose remote filter matches and that has a prefix swaps
// the remote prefix for the local one; other messages keep their topic,
// as in Mosquitto.
func (b *Bridge) remapIn(name string) (string, bool) {
	for _, t := range b.topics {
		if !t.in || (t.localPrefix == "" && t.remotePrefix == "") || !topic.Match(t.remote, name) {
			continue
		}
		mapped := t.localPrefix + strings.TrimPrefix(name, t.remotePrefix)
		if topic.ValidateName(mapped) != nil {
			return "", false
		}
		return mapped, true
	}
	return name, true
}

// randDuration is a random duration in [0, n).
func randDuration(n time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(n))) }
