package httpauth

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/config"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// service is a test authentication service: users and their passwords,
// superusers, and per-user topics with the access allowed.
type service struct {
	*httptest.Server
	requests atomic.Int32
	last     atomic.Value // map[string]any of the last request
	mode     string       // status, text or json
	delay    atomic.Int64 // time.Duration of each answer's wait
}

func newService(t *testing.T, mode string) *service {
	s := &service{mode: mode}
	users := map[string]string{"alice": "apw", "bob": "bpw"}
	acl := map[string]map[string]int{"alice": {"a/x": 3, "a/sub": 4}, "bob": {"b/x": 2}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		time.Sleep(time.Duration(s.delay.Load()))
		p := map[string]any{}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			json.NewDecoder(r.Body).Decode(&p)
		} else {
			r.ParseForm()
			for k := range r.PostForm {
				p[k] = r.PostForm.Get(k)
			}
		}
		s.last.Store(p)
		user, _ := p["username"].(string)
		var ok bool
		switch r.URL.Path {
		case "/user":
			pw, known := users[user]
			if !known {
				http.NotFound(w, r)
				return
			}
			ok = pw == p["password"]
		case "/su":
			ok = user == "root"
		case "/acl":
			acc := 0
			switch v := p["acc"].(type) {
			case float64:
				acc = int(v)
			case string:
				acc = map[string]int{"1": 1, "2": 2, "4": 4}[v]
			}
			topic, _ := p["topic"].(string)
			ok = acl[user][topic]&acc != 0
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		switch s.mode {
		case "text":
			if ok {
				io.WriteString(w, "ok\n")
			} else {
				io.WriteString(w, "no")
			}
		case "json":
			json.NewEncoder(w).Encode(map[string]any{"ok": ok, "error": ""})
		default:
			if !ok {
				w.WriteHeader(http.StatusForbidden)
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, cfg config.HTTPAuth) (*Client, *auth.Tally) {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5
	}
	if cfg.Params == "" {
		cfg.Params = "json"
	}
	tally := &auth.Tally{}
	c, err := New(cfg, tally, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return c, tally
}

func TestModes(t *testing.T) {
	for _, mode := range []string{"status", "text", "json"} {
		for _, params := range []string{"json", "form"} {
			t.Run(mode+"/"+params, func(t *testing.T) {
				s := newService(t, mode)
				c, tally := newClient(t, config.HTTPAuth{UserURL: s.URL + "/user", ACLURL: s.URL + "/acl", SuperuserURL: s.URL + "/su", Params: params, Response: mode})
				for _, tc := range []struct {
					user, pw string
					want     auth.Result
				}{
					{"alice", "apw", auth.Allow},
					{"alice", "bad", auth.Deny},
					{"mallory", "x", auth.Defer}, // 404: not the service's user
				} {
					if got := c.Authenticate("c1", tc.user, tc.pw); got != tc.want {
						t.Errorf("Authenticate(%s, %s) = %v, want %v", tc.user, tc.pw, got, tc.want)
					}
				}
				last := s.last.Load().(map[string]any)
				if last["clientid"] != "c1" || last["username"] != "mallory" || last["password"] != "x" {
					t.Errorf("user request %v", last)
				}
				for _, tc := range []struct {
					user, topic string
					acc         auth.Access
					want        auth.Result
				}{
					{"alice", "a/x", auth.Read, auth.Allow},
					{"alice", "a/x", auth.Write, auth.Allow},
					{"alice", "a/sub", auth.Subscribe, auth.Allow},
					{"alice", "a/sub", auth.Write, auth.Deny},
					{"bob", "b/x", auth.Read, auth.Deny},
					{"bob", "b/x", auth.Write, auth.Allow},
					{"root", "anything", auth.Write, auth.Allow},
					{"bob", "b/x", auth.Unsubscribe, auth.Defer},
				} {
					if got := c.Authorize("c1", tc.user, tc.topic, tc.acc); got != tc.want {
						t.Errorf("Authorize(%s, %s, %v) = %v, want %v", tc.user, tc.topic, tc.acc, got, tc.want)
					}
				}
				if tally.Errors.Load() != 0 || tally.Allowed.Load() == 0 || tally.Denied.Load() == 0 || tally.Deferred.Load() == 0 {
					t.Errorf("tally %+v", tally)
				}
			})
		}
	}
}

// TestFailClosed: an unreachable, slow or broken service refuses every
// request, and each failure is counted; failures are not cached.
func TestFailClosed(t *testing.T) {
	s := newService(t, "json")
	slow := newService(t, "status")
	slow.delay.Store(int64(2 * time.Second))
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	for _, tc := range []struct {
		name string
		cfg  config.HTTPAuth
	}{
		{"connection refused", config.HTTPAuth{UserURL: deadURL + "/user", ACLURL: deadURL + "/acl", CacheSeconds: 30}},
		{"5xx", config.HTTPAuth{UserURL: s.URL + "/broken", ACLURL: s.URL + "/broken", CacheSeconds: 30}},
		{"timeout", config.HTTPAuth{UserURL: slow.URL + "/user", ACLURL: slow.URL + "/acl", Timeout: 1}},
		{"json mode, body not json", config.HTTPAuth{UserURL: slow.URL + "/user", ACLURL: slow.URL + "/acl", Response: "json"}},
		{"superuser check broken", config.HTTPAuth{UserURL: s.URL + "/broken", SuperuserURL: s.URL + "/broken"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "json mode, body not json" {
				slow.delay.Store(0)
				defer slow.delay.Store(int64(2 * time.Second))
			}
			c, tally := newClient(t, tc.cfg)
			for i := range 2 {
				if got := c.Authenticate("c", "alice", "apw"); got != auth.Deny {
					t.Errorf("Authenticate #%d = %v", i, got)
				}
				if got := c.Authorize("c", "alice", "a/x", auth.Read); got != auth.Deny {
					t.Errorf("Authorize #%d = %v", i, got)
				}
			}
			if n := tally.Errors.Load(); n != 4 {
				t.Errorf("%d errors counted, want 4 (failures are not cached)", n)
			}
			if tally.Allowed.Load() != 0 {
				t.Errorf("allowed %d", tally.Allowed.Load())
			}
		})
	}
}

func TestCache(t *testing.T) {
	s := newService(t, "status")
	c, tally := newClient(t, config.HTTPAuth{UserURL: s.URL + "/user", ACLURL: s.URL + "/acl", CacheSeconds: 30})
	for range 3 {
		c.Authenticate("c", "alice", "apw")
		c.Authenticate("c", "alice", "bad")
		c.Authorize("c", "alice", "a/x", auth.Read)
	}
	if n := s.requests.Load(); n != 3 {
		t.Errorf("%d requests for 3 distinct questions asked 3 times", n)
	}
	if tally.CacheHits.Load() != 6 {
		t.Errorf("cache hits %d", tally.CacheHits.Load())
	}
	// A cached yes for one password is no yes for another.
	if c.Authenticate("c", "alice", "bad") != auth.Deny || c.Authenticate("c", "alice", "apw") != auth.Allow {
		t.Error("cache mixed passwords up")
	}
	// Entries expire.
	cc := newCache(time.Second)
	now := time.Now()
	cc.put("k", auth.Allow, now)
	if _, ok := cc.get("k", now.Add(2*time.Second)); ok {
		t.Error("expired entry returned")
	}
}

func TestBadCAFile(t *testing.T) {
	if _, err := New(config.HTTPAuth{UserURL: "https://x/", CAFile: "/nonexistent/ca.pem"}, nil, quiet); err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Errorf("got %v", err)
	}
}
