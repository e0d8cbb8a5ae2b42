// Package httpauth asks an HTTP service whether a client may connect and
// what it may do, as mosquitto-go-auth's HTTP backend does: a POST of the
// credentials to a user URL, of the topic and access to an ACL URL, and
// optionally of the username to a superuser URL, with the answers cached
// for a while. Every failure to get an answer (a timeout, a refused
// connection, a 5xx, a body that makes no sense) refuses the request and
// is counted: an unreachable service never lets anyone in.
package httpauth

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/config"
)

// Client asks the service. It is safe for concurrent use.
type Client struct {
	cfg   config.HTTPAuth
	hc    *http.Client
	cache *cache
	tally *auth.Tally
	log   *slog.Logger
	// lastLog is when a failure was last logged (Unix nanoseconds): at
	// most one line per errorLogEvery, the tally counts them all.
	lastLog atomic.Int64
}

const (
	errorLogEvery = 10 * time.Second
	maxBody       = 64 << 10
)

// New builds a client for cfg; tally counts its answers.
func New(cfg config.HTTPAuth, tally *auth.Tally, log *slog.Logger) (*Client, error) {
	if tally == nil {
		tally = &auth.Tally{}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("unable to open http_auth_cafile %s: %w", cfg.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http_auth_cafile %s: no PEM certificate in it", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &Client{
		cfg:   cfg,
		hc:    &http.Client{Transport: tr, Timeout: time.Duration(cfg.Timeout) * time.Second},
		tally: tally,
		log:   log,
	}
	if cfg.CacheSeconds > 0 {
		c.cache = newCache(time.Duration(cfg.CacheSeconds) * time.Second)
	}
	return c, nil
}

// Authenticates reports whether there is a user URL to ask.
func (c *Client) Authenticates() bool { return c.cfg.UserURL != "" }

// Authorizes reports whether there is an ACL or superuser URL to ask.
func (c *Client) Authorizes() bool { return c.cfg.ACLURL != "" || c.cfg.SuperuserURL != "" }

// Authenticate asks the user URL whether the credentials are good. It
// defers when there is no user URL or the service answers 404 (it does not
// know the user).
func (c *Client) Authenticate(clientID, username, password string) auth.Result {
	if c.cfg.UserURL == "" {
		return auth.Defer
	}
	r, _ := c.ask(c.cfg.UserURL, []field{{"username", username}, {"password", password}, {"clientid", clientID}})
	return r
}

// Authorize asks whether the client may access topic: the superuser URL
// first (a yes allows everything), then the ACL URL. acc is Mosquitto's
// MOSQ_ACL_* value (1 read, 2 write, 4 subscribe). Unsubscribing is not
// asked about: it defers.
func (c *Client) Authorize(clientID, username, topic string, access auth.Access) auth.Result {
	if access == auth.Unsubscribe {
		return auth.Defer
	}
	if c.cfg.SuperuserURL != "" {
		r, err := c.ask(c.cfg.SuperuserURL, []field{{"username", username}, {"clientid", clientID}})
		switch {
		case err != nil:
			return auth.Deny
		case r == auth.Allow:
			return auth.Allow
		}
	}
	if c.cfg.ACLURL == "" {
		return auth.Defer // not a superuser: nothing more to ask
	}
	r, _ := c.ask(c.cfg.ACLURL, []field{{"username", username}, {"clientid", clientID}, {"topic", topic}, {"acc", strconv.Itoa(int(access))}})
	return r
}

type field struct{ name, value string }

// ask posts the fields to url and reads the answer, from the cache when
// it holds one. On a failure it returns Deny and the error.
func (c *Client) ask(u string, fields []field) (auth.Result, error) {
	var key string
	if c.cache != nil {
		key = cacheKey(u, fields)
		if r, ok := c.cache.get(key, time.Now()); ok {
			c.tally.CacheHits.Add(1)
			c.tally.Count(r)
			return r, nil
		}
	}
	r, err := c.post(u, fields)
	if err != nil {
		c.tally.Errors.Add(1)
		c.logError(u, err)
		return auth.Deny, err
	}
	c.tally.Count(r)
	if c.cache != nil {
		c.cache.put(key, r, time.Now())
	}
	return r, nil
}

func (c *Client) post(u string, fields []field) (auth.Result, error) {
	var body []byte
	var ctype string
	if c.cfg.Params == "form" {
		v := url.Values{}
		for _, f := range fields {
			v.Set(f.name, f.value)
		}
		body, ctype = []byte(v.Encode()), "application/x-www-form-urlencoded"
	} else {
		m := make(map[string]any, len(fields))
		for _, f := range fields {
			if f.name == "acc" {
				n, _ := strconv.Atoi(f.value)
				m[f.name] = n // a number in JSON, as mosquitto-go-auth sends it
			} else {
				m[f.name] = f.value
			}
		}
		body, _ = json.Marshal(m)
		ctype = "application/json"
	}
	// c.hc's Timeout bounds the whole request, the body included.
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return auth.Deny, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := c.hc.Do(req)
	if err != nil {
		return auth.Deny, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return auth.Deny, err
	}
	return c.answer(resp.StatusCode, b)
}

// answer reads a response. In every mode 404 is "not mine" (defer), any
// other 4xx a refusal, and anything but 2xx and 4xx an error. A 2xx is a
// yes in status mode; in text mode the body must be "ok" (anything else is
// a no); in json mode the body is {"ok": true|false, "error": "..."}.
func (c *Client) answer(status int, body []byte) (auth.Result, error) {
	switch {
	case status == http.StatusNotFound:
		return auth.Defer, nil
	case status >= 400 && status < 500:
		return auth.Deny, nil
	case status < 200 || status > 299:
		return auth.Deny, fmt.Errorf("HTTP status %d", status)
	}
	switch c.cfg.Response {
	case "text":
		if strings.TrimSpace(string(body)) == "ok" {
			return auth.Allow, nil
		}
		return auth.Deny, nil
	case "json":
		var r struct {
			OK *bool `json:"ok"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.OK == nil {
			return auth.Deny, errors.New(`the answer is not JSON with a boolean "ok"`)
		}
		if *r.OK {
			return auth.Allow, nil
		}
		return auth.Deny, nil
	}
	return auth.Allow, nil
}

func (c *Client) logError(u string, err error) {
	now := time.Now().UnixNano()
	last := c.lastLog.Load()
	if now-last < int64(errorLogEvery) || !c.lastLog.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn(fmt.Sprintf("Warning: HTTP authentication service %s failed: %v; refusing (%d failures so far).", u, err, c.tally.Errors.Load()))
}

func cacheKey(u string, fields []field) string {
	h := sha256.New()
	h.Write([]byte(u))
	for _, f := range fields {
		h.Write([]byte{0})
		h.Write([]byte(f.value))
	}
	return string(h.Sum(nil))
}

// cache holds answers for a while. It is bounded: when full, expired
// entries go, and if none has expired the whole cache is emptied.
type cache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cached
}

type cached struct {
	r     auth.Result
	until time.Time
}

const maxCached = 100000

func newCache(ttl time.Duration) *cache { return &cache{ttl: ttl, m: map[string]cached{}} }

func (c *cache) get(key string, now time.Time) (auth.Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.After(e.until) {
		return auth.Defer, false
	}
	return e.r, true
}

func (c *cache) put(key string, r auth.Result, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCached {
		for k, e := range c.m {
			if now.After(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCached {
			clear(c.m)
		}
	}
	c.m[key] = cached{r, now.Add(c.ttl)}
}
