package config

import (
	"strings"
	"testing"
)

func TestAdminOptions(t *testing.T) {
	c := parse(t, "listener 1883\nadmin_listener 0.0.0.0:9883\nadmin_password_file /etc/midge/admin.passwd\nadmin_token_file /etc/midge/tokens\nadmin_certfile c.pem\nadmin_keyfile k.pem\n")
	a := c.Admin
	if a.Listen != "0.0.0.0:9883" || a.PasswordFile != "/etc/midge/admin.passwd" || a.TokenFile != "/etc/midge/tokens" || a.CertFile != "c.pem" || a.KeyFile != "k.pem" || a.Line != 2 {
		t.Errorf("admin %+v", a)
	}
	if c := parse(t, "admin_listener 127.0.0.1:9883\nadmin_allow_anonymous true\n"); !c.Admin.AllowAnonymous || !c.LocalOnly {
		t.Errorf("anonymous on loopback: %+v (local only %v)", c.Admin, c.LocalOnly)
	}
	if c := parse(t, "listener 1883\n"); c.Admin.Listen != "" {
		t.Errorf("admin listener on by default: %+v", c.Admin)
	}
}

func TestAdminOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		conf, want string
		line       int
	}{
		{"admin_listener 9883\n", "want HOST:PORT", 1},
		{"admin_listener 127.0.0.1:99999\n", "invalid port", 1},
		{"admin_listener\n", "empty admin_listener value", 1},
		{"\nadmin_listener 0.0.0.0:9883\nadmin_allow_anonymous true\n", "only on a loopback address", 2},
		{"admin_listener [::]:9883\nadmin_allow_anonymous true\n", "only on a loopback address", 1},
		{"admin_listener 127.0.0.1:9883\n", "needs admin_password_file or admin_token_file", 1},
		{"admin_listener 127.0.0.1:9883\nadmin_token_file t\nadmin_certfile c.pem\n", "must both be given", 1},
		{"admin_allow_anonymous maybe\n", "", 1},
	} {
		e := parseErr(t, tc.conf)
		if !strings.Contains(e.Msg, tc.want) || e.Line != tc.line {
			t.Errorf("%q: %v, want %q at line %d", tc.conf, e, tc.want, tc.line)
		}
	}
}

func TestDynsecPluginLine(t *testing.T) {
	c := parse(t, "listener 1883\nplugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\nplugin_opt_config_file /etc/mosquitto/dynsec.json\nplugin other.so\n")
	ps := c.Security.Plugins
	if len(ps) != 2 || !ps[0].IsDynsec() || ps[1].IsDynsec() {
		t.Fatalf("plugins %+v", ps)
	}
	if v, ok := ps[0].Option("CONFIG_FILE"); !ok || v != "/etc/mosquitto/dynsec.json" {
		t.Errorf("config_file %q %v", v, ok)
	}
	for path, want := range map[string]bool{
		"../../plugins/dynamic-security/mosquitto_dynamic_security.so": true,
		`C:\mosquitto\mosquitto_dynamic_security.dll`:                  true,
		"mosquitto_dynamic_security.dylib":                             true,
		"mosquitto_dynamic_security.so.bak":                            false,
		"evil_mosquitto_dynamic_security.so":                           false,
	} {
		if got := (&Plugin{Path: path}).IsDynsec(); got != want {
			t.Errorf("IsDynsec(%q) = %v", path, got)
		}
	}
}
