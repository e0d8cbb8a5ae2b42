// Package admin is midge's admin listener: Prometheus metrics, health
// checks, a JSON API over the broker's introspection calls and an
// embedded web dashboard. It uses only the broker package's API.
package admin

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/bridge"
	"github.com/midge-mqtt/midge/internal/cluster"
)

// Listener describes a broker listener to the API and the dashboard,
// which needs to know where MQTT over WebSockets is served.
type Listener struct {
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"` // "mqtt" or "websockets"
	TLS      bool   `json:"tls"`
	// Socket is the path of a unix socket listener.
	Socket string `json:"socket,omitempty"`
}

// Credentials are who may use the admin listener. A request passes with
// HTTP Basic credentials found in Passwords, or with a bearer token that
// is one of Tokens. With neither (and Anonymous), the listener is open,
// which Config.check allows only on a loopback address.
type Credentials struct {
	Passwords *auth.Passwords
	Tokens    []string
	Anonymous bool
}

// Config configures the admin listener.
type Config struct {
	// Addr is HOST:PORT to listen on.
	Addr string
	// Listener, if set, is the socket already bound to Addr (opened
	// before the process gave up its privileges); Listen opens one
	// otherwise. TLS is added on top of it.
	Listener net.Listener
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
	// Credentials are checked on every request but the health checks.
	Credentials Credentials
	// Version is the broker's version, for the API and metrics.
	Version string
	// Listeners returns the broker's listeners.
	Listeners func() []Listener
	// Settings returns the effective configuration, secrets redacted.
	Settings func() any
	// Reload reloads the configuration, as SIGHUP does.
	Reload func() error
	// Bridges, if set, returns the running bridges' figures.
	Bridges func() []bridge.Figures
	// Cluster, if set, returns the cluster node's view of its cluster.
	Cluster func() cluster.State
	// Auth, if set, returns the authentication backends' counts.
	Auth func() []AuthFigures
	// Log receives the listener's own messages.
	Log *slog.Logger
}

// Server is a running admin listener.
type Server struct {
	b     *broker.Server
	cfg   Config
	creds atomic.Pointer[Credentials]
	ready atomic.Bool
	http  *http.Server
	ln    net.Listener
	start time.Time
}

// IsLoopback reports whether HOST:PORT names a loopback address only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkCredentials refuses an open admin listener that is not on loopback,
// or one with nothing to authenticate against.
func checkCredentials(addr string, c *Credentials) error {
	hasAuth := c.Passwords != nil && c.Passwords.Len() > 0 || len(c.Tokens) > 0
	switch {
	case c.Anonymous && !IsLoopback(addr):
		return fmt.Errorf("admin listener %s: admin_allow_anonymous is only allowed on a loopback address", addr)
	case !c.Anonymous && !hasAuth:
		return fmt.Errorf("admin listener %s: no admin_password_file users and no admin_token_file tokens; refusing to start without authentication (admin_allow_anonymous true is allowed on loopback only)", addr)
	}
	return nil
}

// Listen checks cfg and opens the admin listener; Serve then serves it.
func Listen(b *broker.Server, cfg Config) (*Server, error) {
	if err := checkCredentials(cfg.Addr, &cfg.Credentials); err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{b: b, cfg: cfg, ln: ln, start: time.Now()}
	creds := cfg.Credentials
	s.creds.Store(&creds)
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Close; it returns nil after Close.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listener, waiting up to five seconds for requests in
// progress.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// SetReady sets what /readyz answers: ready once every listener serves,
// not ready while the broker starts or shuts down.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// SetCredentials replaces the credentials (after a reload); it refuses
// credentials the listener could not start with.
func (s *Server) SetCredentials(c Credentials) error {
	if err := checkCredentials(s.cfg.Addr, &c); err != nil {
		return err
	}
	s.creds.Store(&c)
	return nil
}

// Handler returns the admin HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.authed(s.metricsHandler()))
	s.routeAPI(mux)
	mux.Handle("/", s.authed(dashboard()))
	return secureHeaders(mux)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// authed lets a request through with valid credentials and answers 401
// otherwise. Every failure looks the same to the client.
func (s *Server) authed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.creds.Load()
		if c.Anonymous || s.valid(c, r) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="midge", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "authentication required")
	})
}

func (s *Server) valid(c *Credentials, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		ok := false
		for _, t := range c.Tokens {
			// Compare with every token, in constant time each.
			if subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
				ok = true
			}
		}
		return ok
	}
	user, pass, ok := r.BasicAuth()
	if !ok || c.Passwords == nil {
		return false
	}
	return c.Passwords.Check(user, pass) == nil
}

// secureHeaders sets the headers every answer carries: nothing is framed
// or sniffed, and the dashboard runs only its own scripts.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		defer func() {
			// No admin call may take the broker down.
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, http.StatusInternalServerError, fmt.Sprint("internal error: ", v))
			}
		}()
		h.ServeHTTP(w, r)
	})
}
