package jwtauth

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/midge-mqtt/midge/internal/auth"
)

// minRefetch is the shortest time between two fetches of a key set,
// however many tokens name a key it does not have.
const minRefetch = 10 * time.Second

// maxKeySet bounds the size of a fetched key set document.
const maxKeySet = 1 << 20

// remoteSet is a JSON Web Key Set fetched from a URL. It is fetched again
// when older than its refresh interval, or when a token names a key id
// it does not hold (the provider rotated its keys), at most once per
// minRefetch. A failed fetch keeps the keys it had.
type remoteSet struct {
	url     string
	every   time.Duration
	client  *http.Client
	tally   *auth.Tally
	log     *slog.Logger
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

func newRemoteSet(url string, every time.Duration, client *http.Client, tally *auth.Tally, log *slog.Logger) *remoteSet {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &remoteSet{url: url, every: every, client: client, tally: tally, log: log}
}

// keysFor returns the keys to try for a token naming kid ("" for none),
// fetching the set again first if it is due or lacks kid.
func (r *remoteSet) keysFor(kid string, now time.Time) []jose.JSONWebKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	due := now.Sub(r.fetched) >= r.every
	if kid != "" && !hasKey(r.keys, kid) {
		due = true
	}
	if due && now.Sub(r.tried) >= min(minRefetch, r.every) {
		r.refreshLocked(now)
	}
	return r.keys
}

func (r *remoteSet) refresh(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshLocked(now)
}

func (r *remoteSet) refreshLocked(now time.Time) {
	r.tried = now
	keys, err := r.fetch()
	if err != nil {
		r.tally.Errors.Add(1)
		r.log.Warn(fmt.Sprintf("Warning: Unable to fetch the JWT key set %s: %v; keeping %d keys.", r.url, err, len(r.keys)))
		return
	}
	r.keys, r.fetched = keys, now
}

func (r *remoteSet) fetch() ([]jose.JSONWebKey, error) {
	resp, err := r.client.Get(r.url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySet+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeySet {
		return nil, fmt.Errorf("key set over %d bytes", maxKeySet)
	}
	return parseJWKS(b)
}

func hasKey(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}
