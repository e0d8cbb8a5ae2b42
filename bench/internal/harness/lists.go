package harness

import (
	"slices"
	"strings"

	"github.com/midge-mqtt/midge/internal/cli/bench"
)

// SplitList splits a comma-separated command-line list, trimming the
// items and dropping empty and repeated ones.
func SplitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// MaxRate is the message rate a broker (or bridge, or cluster) sustained
// in a run as fast as possible: what it took from the publishers, or
// what it delivered if that was less (QoS 0 messages it took and then
// dropped do not count).
func MaxRate(r *bench.Result) float64 {
	rate := r.SentRate
	if r.Sent > 0 && r.Expected > 0 {
		rate = min(rate, r.DeliveredRate*float64(r.Sent)/float64(r.Expected))
	}
	return rate
}
