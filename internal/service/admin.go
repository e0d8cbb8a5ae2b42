package service

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/admin"
	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/bridge"
	"github.com/midge-mqtt/midge/internal/cluster"
	"github.com/midge-mqtt/midge/internal/config"
)

// minTokenLen is the shortest bearer token admin_token_file may hold.
const minTokenLen = 16

// adminPrep is what the admin listener needs from the files and the
// network, read and opened before the process gives up its privileges.
type adminPrep struct {
	creds admin.Credentials
	tls   *tls.Config
	ln    net.Listener
}

// prepareAdmin reads the admin listener's files and binds its socket (nil,
// nil when cfg has no admin listener).
func prepareAdmin(cfg *config.Config) (*adminPrep, error) {
	a := &cfg.Admin
	if a.Listen == "" {
		return nil, nil
	}
	creds, err := adminCredentials(a)
	if err != nil {
		return nil, err
	}
	p := &adminPrep{creds: creds}
	if a.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("admin listener %s: %w", a.Listen, err)
		}
		p.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if p.ln, err = net.Listen("tcp", a.Listen); err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return p, nil
}

// startAdmin starts the admin listener prepared by prepareAdmin (nil, nil
// for none). live returns the configuration in effect; reload asks the
// signal loop for a reload, as SIGHUP does.
func startAdmin(p *adminPrep, cfg *config.Config, live func() *config.Config, srv *broker.Server, lns []opened, bridges *bridge.Manager, node *cluster.Node, t *tallies, log *slog.Logger, reload func() error) (*admin.Server, error) {
	if p == nil {
		return nil, nil
	}
	var clusterState func() cluster.State
	if node != nil {
		clusterState = node.State
	}
	authFigures := func() []admin.AuthFigures {
		fig := func(name string, t *auth.Tally) admin.AuthFigures {
			return admin.AuthFigures{Backend: name, Allowed: t.Allowed.Load(), Denied: t.Denied.Load(), Deferred: t.Deferred.Load(), Errors: t.Errors.Load(), Cached: t.CacheHits.Load()}
		}
		return []admin.AuthFigures{fig("jwt", &t.jwt), fig("http", &t.http)}
	}
	s, err := admin.Listen(srv, admin.Config{
		Addr:        cfg.Admin.Listen,
		Listener:    p.ln,
		TLS:         p.tls,
		Credentials: p.creds,
		Version:     broker.Version,
		Listeners:   func() []admin.Listener { return adminListeners(lns) },
		Settings:    func() any { return redacted(live()) },
		Reload:      reload,
		Bridges:     bridges.Figures,
		Cluster:     clusterState,
		Auth:        authFigures,
		Log:         log,
	})
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if p.tls != nil {
		scheme = "https"
	}
	notice(log, fmt.Sprintf("Admin listener on %s://%s (metrics, API and dashboard).", scheme, s.Addr()))
	return s, nil
}

// adminCredentials reads the admin password and token files.
func adminCredentials(a *config.Admin) (admin.Credentials, error) {
	c := admin.Credentials{Anonymous: a.AllowAnonymous}
	if a.PasswordFile != "" {
		p, err := auth.LoadPasswords(a.PasswordFile)
		if err != nil {
			return c, fmt.Errorf("admin listener: admin_password_file: %w", err)
		}
		c.Passwords = p
	}
	if a.TokenFile != "" {
		toks, err := loadTokens(a.TokenFile)
		if err != nil {
			return c, fmt.Errorf("admin listener: admin_token_file: %w", err)
		}
		c.Tokens = toks
	}
	return c, nil
}

// loadTokens reads a token file: one bearer token per line; blank lines
// and lines starting with '#' are skipped.
func loadTokens(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(t) < minTokenLen || strings.ContainsAny(t, " \t") {
			return nil, fmt.Errorf("%s:%d: a token must be at least %d characters without blanks", path, n, minTokenLen)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// reloadAdmin applies a reloaded configuration's admin credentials; the
// address and TLS files take effect at the next start.
func reloadAdmin(s *admin.Server, old, next *config.Config, log *slog.Logger) {
	if s == nil {
		return
	}
	if next.Admin.Listen != old.Admin.Listen || next.Admin.CertFile != old.Admin.CertFile || next.Admin.KeyFile != old.Admin.KeyFile {
		log.Warn("Warning: admin_listener, admin_certfile and admin_keyfile changes take effect at the next start.")
	}
	creds, err := adminCredentials(&next.Admin)
	if err == nil {
		err = s.SetCredentials(creds)
	}
	if err != nil {
		log.Error(fmt.Sprintf("Error: %s; keeping the previous admin credentials.", upperFirst(err.Error())))
	}
}

func adminListeners(lns []opened) []admin.Listener {
	out := make([]admin.Listener, 0, len(lns))
	for _, o := range lns {
		l := o.cfg
		out = append(out, admin.Listener{
			Address: l.BindAddress, Port: l.Port, Protocol: l.Protocol,
			TLS: l.TLS.Enabled(), Socket: l.UnixSocket,
		})
	}
	return out
}

// redacted is the configuration as JSON values, with every secret (a
// bridge's passwords, PSKs, key passwords, plugin options that look like
// secrets) replaced by "<redacted>". File names stay.
func redacted(cfg *config.Config) any {
	b, err := json.Marshal(cfg)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return map[string]string{"error": err.Error()}
	}
	return redact(v)
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if secretKey(k) {
				if s, ok := e.(string); ok && s == "" {
					continue
				}
				t[k] = "<redacted>"
				continue
			}
			t[k] = redact(e)
		}
	case []any:
		for i, e := range t {
			t[i] = redact(e)
		}
	}
	return v
}

func secretKey(k string) bool {
	l := strings.ToLower(k)
	if strings.HasSuffix(l, "file") || strings.HasSuffix(l, "hint") || strings.HasSuffix(l, "path") {
		return false
	}
	for _, s := range []string{"password", "psk", "kpass", "secret", "token", "passwd"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
