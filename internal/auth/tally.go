package auth

import "sync/atomic"

// Tally counts the answers of one authentication backend (tokens, an
// HTTP service) for the broker's metrics. It outlives the backend: a
// reload builds new backends that count on the same Tally.
type Tally struct {
	Allowed, Denied, Deferred atomic.Uint64
	// Errors are checks that could not be made (a service unreachable or
	// answering nonsense, keys that could not be fetched); each one was
	// answered as a refusal.
	Errors atomic.Uint64
	// CacheHits are checks answered from a cache without asking.
	CacheHits atomic.Uint64
}

// Count records one answer.
func (t *Tally) Count(r Result) {
	switch r {
	case Allow:
		t.Allowed.Add(1)
	case Deny:
		t.Denied.Add(1)
	default:
		t.Deferred.Add(1)
	}
}
