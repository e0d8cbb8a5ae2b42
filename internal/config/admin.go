package config

import (
	"net"
	"strconv"
)

// Admin is the admin listener's configuration (midge's own options; see
// docs/operations.md). Its options are global: per_listener_settings does
// not affect them.
type Admin struct {
	// Listen is HOST:PORT; "" leaves the admin listener off.
	Listen string
	// CertFile and KeyFile, both or neither, serve HTTPS.
	CertFile, KeyFile string
	// PasswordFile (mosquitto_passwd format) lists the users who may log
	// in with HTTP Basic authentication; TokenFile holds bearer tokens,
	// one per line.
	PasswordFile, TokenFile string
	// AllowAnonymous opens the listener without authentication; allowed
	// on a loopback address only.
	AllowAnonymous bool
	// File and Line locate the admin_listener line.
	File string
	Line int
}

func applyAdminListener(c *call) error {
	v, err := c.word()
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return c.errorf("admin_listener %q: want HOST:PORT, e.g. 127.0.0.1:9883", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return c.errorf("admin_listener %q: invalid port", v)
	}
	a := &c.p.cfg.Admin
	a.Listen, a.File, a.Line = v, c.file, c.line
	return nil
}

func adminString(field func(*Admin) *string) func(*call) error {
	return func(c *call) error { return c.setString(field(&c.p.cfg.Admin)) }
}

func applyAdminAllowAnonymous(c *call) error {
	v, err := c.boolean()
	if err != nil {
		return err
	}
	c.p.cfg.Admin.AllowAnonymous = v
	return nil
}

// checkAdmin runs the admin listener checks that need all its options.
func checkAdmin(c *Config) error {
	a := &c.Admin
	if a.Listen == "" {
		return nil
	}
	at := func(msg string) error {
		return &Error{File: a.File, Line: a.Line, Msg: "admin_listener " + a.Listen + ": " + msg}
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return at("admin_certfile and admin_keyfile must both be given to enable TLS")
	}
	if a.AllowAnonymous {
		host, _, _ := net.SplitHostPort(a.Listen)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return at("admin_allow_anonymous true is allowed only on a loopback address")
		}
		return nil
	}
	if a.PasswordFile == "" && a.TokenFile == "" {
		return at("needs admin_password_file or admin_token_file (or, on a loopback address, admin_allow_anonymous true)")
	}
	return nil
}
