package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestCommentsAndBlanks(t *testing.T) {
	c := parse(t, "# a comment\n\n\r\n   \nlistener 1883\n# port 1\n")
	if len(c.Listeners) != 1 || c.Listeners[0].Port != 1883 {
		t.Fatalf("listeners %+v", c.Listeners)
	}
	// '#' after the first byte is not a comment: a string value keeps it.
	// Mosquitto: mount_point "a # b" then fails its wildcard check; here a
	// non-wildcard option shows the kept text.
	c = parse(t, "listener 1883\nlog_timestamp_format %H # hours\n")
	if got := c.LogTimestampFormat; got != "%H # hours" {
		t.Errorf("value %q, want %q", got, "%H # hours")
	}
	// A word after a number is ignored, so "port 1883 # x" works (as in Mosquitto).
	c = parse(t, "port 1884 # the old default listener\n")
	if c.Listeners[0].Port != 1884 {
		t.Errorf("port %d", c.Listeners[0].Port)
	}
	// A leading space is skipped (strtok), a leading tab is not (see TestErrors).
	c = parse(t, "  listener 1885\n")
	if c.Listeners[0].Port != 1885 {
		t.Errorf("port %d", c.Listeners[0].Port)
	}
	// Blanks around string values are trimmed; inner spaces stay.
	c = parse(t, "listener 1883\npassword_file   /etc/my passwords  \t\n")
	if got := c.Security.PasswordFile; got != "/etc/my passwords" {
		t.Errorf("password_file %q", got)
	}
	// A '#' word after the port of `listener` is a comment, not an address.
	c = parse(t, "listener 1883 # all interfaces\n")
	if got := c.Listeners[0].BindAddress; got != "" {
		t.Errorf("bind address %q", got)
	}
	// Integers may be preceded by a tab (atoi skips it) and signed.
	c = parse(t, "max_queued_messages \t+50\n")
	if c.MaxQueuedMessages != 50 {
		t.Errorf("max_queued_messages %d", c.MaxQueuedMessages)
	}
}

func TestCRLFAndFinalLine(t *testing.T) {
	c := parse(t, "listener 1883\r\nsys_interval 5\r\nmax_keepalive 60")
	if c.SysInterval != 5 || c.MaxKeepalive != 60 {
		t.Errorf("sys_interval %d max_keepalive %d", c.SysInterval, c.MaxKeepalive)
	}
	e := parseErr(t, "listener 1883\r\n\r\nbogus 1\r\n")
	if e.Line != 3 {
		t.Errorf("line %d, want 3", e.Line)
	}
	// Text after a NUL byte is never seen, as with C strings.
	c = parse(t, "sys_interval 7\x00garbage\n")
	if c.SysInterval != 7 {
		t.Errorf("sys_interval %d", c.SysInterval)
	}
}

func addrs(c *Config) []string {
	var out []string
	for _, l := range c.Listeners {
		out = append(out, listenerName(l))
	}
	return out
}

func TestLocalOnly(t *testing.T) {
	tests := []struct {
		conf      string
		localOnly bool
		listeners []string
	}{
		{"", true, []string{"127.0.0.1:1883", "::1:1883"}},
		{"sys_interval 5\nallow_anonymous false\n", true, []string{"127.0.0.1:1883", "::1:1883"}},
		{"listener 1883\n", false, []string{"1883"}},
		{"port 1883\n", false, []string{"1883"}},
		{"bind_address 10.0.0.1\n", false, []string{"10.0.0.1:1883"}},
		// Mosquitto 2.0.11 opens 0.0.0.0:1883 for this file, with anonymous
		// access; midge stays on loopback and applies max_qos there.
		{"max_qos 1\n", true, []string{"127.0.0.1:1883", "::1:1883"}},
		// socket_domain picks one of the loopback pair.
		{"socket_domain ipv4\n", true, []string{"127.0.0.1:1883"}},
		{"socket_domain ipv6\n", true, []string{"::1:1883"}},
		// A bridge alone does not end local-only mode.
		{"connection b\naddress h\ntopic a\n", true, []string{"127.0.0.1:1883", "::1:1883"}},
	}
	for _, tt := range tests {
		c := parse(t, tt.conf)
		if c.LocalOnly != tt.localOnly || !reflect.DeepEqual(addrs(c), tt.listeners) {
			t.Errorf("%q: LocalOnly=%v listeners=%v, want %v %v", tt.conf, c.LocalOnly, addrs(c), tt.localOnly, tt.listeners)
		}
	}
	c := parse(t, "max_qos 1\n")
	for _, l := range c.Listeners {
		if l.MaxQoS != 1 {
			t.Errorf("loopback listener %s max_qos %d", listenerName(l), l.MaxQoS)
		}
	}
}

func TestDefaultListener(t *testing.T) {
	tests := []struct {
		conf      string
		listeners []string
	}{
		// The default listener comes first, whatever the line order.
		{"listener 1884\nport 1885\n", []string{"1885", "1884"}},
		{"listener 1884\nbind_address 127.0.0.1\n", []string{"127.0.0.1:1883", "1884"}},
		{"port 1883\nport 1885\n", []string{"1885"}}, // last one wins, as in Mosquitto
		// A listener option before the first listener creates the default listener on 1883
		// (checked against Mosquitto 2.0.11: it opens 1883 and 18832).
		{"max_connections 5\nlistener 1884\n", []string{"1883", "1884"}},
		{"use_username_as_clientid true\nlistener 1884\n", []string{"1883", "1884"}},
		// ... but not when the value is the default, nor for max_topic_alias (Mosquitto 2.0.11 likewise).
		{"max_qos 2\nlistener 1884\n", []string{"1884"}},
		{"max_topic_alias 5\nlistener 1884\n", []string{"1884"}},
		{"per_listener_settings true\npassword_file /p\nlistener 1884\n", []string{"1883", "1884"}},
		{"per_listener_settings true\nallow_anonymous true\nlistener 1884\n", []string{"1884"}},
		{"listener 1884 127.0.0.1\nlistener 0 /run/m.sock\nlistener 1885 ::\n", []string{"127.0.0.1:1884", "/run/m.sock", ":::1885"}},
	}
	for _, tt := range tests {
		c := parse(t, tt.conf)
		if c.LocalOnly || !reflect.DeepEqual(addrs(c), tt.listeners) {
			t.Errorf("%q: LocalOnly=%v listeners=%v, want %v", tt.conf, c.LocalOnly, addrs(c), tt.listeners)
		}
	}

	c := parse(t, "max_connections 7\nmax_qos 1\nport 1885\nlistener 1884\nmax_qos 0\n")
	def, l := c.Listeners[0], c.Listeners[1]
	if def.Port != 1885 || def.MaxConnections != 7 || def.MaxQoS != 1 || def.File != "test.conf" || def.Line != 1 {
		t.Errorf("default listener %+v", def)
	}
	if l.MaxQoS != 0 || l.MaxConnections != -1 || l.Line != 4 {
		t.Errorf("listener 1884 %+v", l)
	}
	u := parse(t, "listener 0 /tmp/m.sock\n").Listeners[0]
	if u.Port != 0 || u.UnixSocket != "/tmp/m.sock" || u.BindAddress != "" {
		t.Errorf("unix listener %+v", u)
	}

	// Options lost with a default listener that is never created are warned about.
	c = parse(t, "max_topic_alias 5\nlistener 1884\n")
	if !hasWarning(c, "test.conf:1: max_topic_alias", "default listener") {
		t.Errorf("warnings %q", c.Warnings)
	}
}

func TestPerListenerSecurity(t *testing.T) {
	c := parse(t, "per_listener_settings true\nlistener 1883\npassword_file /a\nallow_anonymous true\nlistener 1884\nacl_file /b\nauto_id_prefix x-\n")
	a, b := c.Listeners[0], c.Listeners[1]
	if a.Security.PasswordFile != "/a" || b.Security.ACLFile != "/b" || b.Security.PasswordFile != "" {
		t.Errorf("per-listener security %+v / %+v", a.Security, b.Security)
	}
	if c.Security.PasswordFile != "" || c.Security.ACLFile != "" {
		t.Errorf("global security set: %+v", c.Security)
	}
	if got := c.SecurityFor(b); got != &b.Security || got.AutoIDPrefix != "x-" {
		t.Errorf("SecurityFor(b) = %+v", got)
	}
	if !c.AnonymousAllowed(a) || c.AnonymousAllowed(b) {
		t.Errorf("AnonymousAllowed a=%v b=%v", c.AnonymousAllowed(a), c.AnonymousAllowed(b))
	}

	// Without per_listener_settings every listener shares the global settings.
	c = parse(t, "listener 1883\npassword_file /a\nlistener 1884\nallow_zero_length_clientid false\n")
	if c.Security.PasswordFile != "/a" || c.Security.AllowZeroLengthClientID || c.SecurityFor(c.Listeners[1]) != &c.Security {
		t.Errorf("global security %+v", c.Security)
	}
	if c.Listeners[1].Security.PasswordFile != "" {
		t.Errorf("listener security set without per_listener_settings")
	}

	// per_listener_settings false after a security option is harmless, and
	// once true it stays true (Mosquitto 2.0.11 likewise).
	c = parse(t, "allow_anonymous true\nper_listener_settings false\n")
	if c.PerListenerSettings {
		t.Error("per_listener_settings true")
	}
	c = parse(t, "per_listener_settings true\nper_listener_settings false\n")
	if !c.PerListenerSettings {
		t.Error("per_listener_settings was unset")
	}
	// check_retain_source is global, not a security option: Mosquitto 2.0.11
	// counts it as one and refuses per_listener_settings after it; midge does not.
	parse(t, "check_retain_source false\nper_listener_settings true\n")
}

func TestAnonymousAllowed(t *testing.T) {
	tests := []struct {
		conf string
		want bool
	}{
		{"", true},                         // local-only mode
		{"allow_anonymous true\n", true},   //
		{"allow_anonymous false\n", false}, // Mosquitto 2.0.11 still allows anonymous here (local-only overrides it)
		{"listener 1883\n", false},         // a listener exists: default false
		{"port 1883\n", false},             //
		{"listener 1883\nallow_anonymous true\n", true},
		{"allow_anonymous true\nlistener 1883\n", true},
	}
	for _, tt := range tests {
		c := parse(t, tt.conf)
		for _, l := range c.Listeners {
			if got := c.AnonymousAllowed(l); got != tt.want {
				t.Errorf("%q: AnonymousAllowed(%s) = %v, want %v", tt.conf, listenerName(l), got, tt.want)
			}
		}
		if got := c.AnonymousAllowed(nil); got != tt.want {
			t.Errorf("%q: AnonymousAllowed(nil) = %v, want %v", tt.conf, got, tt.want)
		}
	}
	// With per_listener_settings each listener has its own value.
	c := parse(t, "per_listener_settings true\nlistener 1883\nallow_anonymous true\nlistener 1884\n")
	if !c.AnonymousAllowed(c.Listeners[0]) || c.AnonymousAllowed(c.Listeners[1]) {
		t.Error("per-listener allow_anonymous not honoured")
	}
	// In local-only mode with per_listener_settings, the loopback listeners inherit the setting.
	c = parse(t, "per_listener_settings true\nallow_anonymous false\n")
	for _, l := range c.Listeners {
		if c.AnonymousAllowed(l) {
			t.Errorf("loopback %s allows anonymous", listenerName(l))
		}
	}
}

func TestApplyPorts(t *testing.T) {
	c := parse(t, "max_qos 1\n")
	c.ApplyPorts([]int{1884, 1885})
	want := []string{"127.0.0.1:1884", "::1:1884", "127.0.0.1:1885", "::1:1885"}
	if !reflect.DeepEqual(addrs(c), want) {
		t.Errorf("listeners %v, want %v", addrs(c), want)
	}
	for _, l := range c.Listeners {
		if l.MaxQoS != 1 {
			t.Errorf("%s lost max_qos", listenerName(l))
		}
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings %q", c.Warnings)
	}

	d := Default()
	d.ApplyPorts(nil)
	if !reflect.DeepEqual(addrs(d), []string{"127.0.0.1:1883", "::1:1883"}) {
		t.Errorf("no ports changed listeners: %v", addrs(d))
	}

	// With listeners in the file, -p is ignored with a warning (Mosquitto 2.0.11 ignores it silently).
	c = parse(t, "listener 1883\n")
	c.ApplyPorts([]int{1999})
	if !reflect.DeepEqual(addrs(c), []string{"1883"}) || !hasWarning(c, "-p", "ignored") {
		t.Errorf("listeners %v warnings %q", addrs(c), c.Warnings)
	}
	// A Config built by hand still works.
	h := &Config{LocalOnly: true}
	h.ApplyPorts([]int{2000})
	if !reflect.DeepEqual(addrs(h), []string{"127.0.0.1:2000", "::1:2000"}) {
		t.Errorf("hand-built: %v", addrs(h))
	}
}

func TestWarnings(t *testing.T) {
	conf := strings.Join([]string{
		"listener 8883",             // 1
		"password_file /etc/pw",     // 2
		"persistence false",         // 3: honoured, no warning
		"persistence true",          // 4
		"protocol mqtt",             // 5: honoured
		"log_dest dlt",              // 6
		"log_dest stderr",           // 7: honoured
		"certfile /c.pem",           // 8
		"keyfile /k.pem",            // 9
		"require_certificate false", // 10: honoured
		"pid_file /run/m.pid",       // 11
		"connection up",             // 12
		"address 192.0.2.1",         // 13: bridges are implemented
		"topic #",                   // 14
		"max_qos 1",                 // 15: implemented
		"retry_interval 10",         // 16: accepted silently
	}, "\n")
	c := parse(t, conf)
	want := []string{
		"test.conf:6: option log_dest is not supported yet; ignored",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(c.Warnings, "\n"), strings.Join(want, "\n"))
	}
	if got := parse(t, "listener 1883\nmax_qos 1\nsys_interval 5\nlog_type all\n").Warnings; len(got) != 0 {
		t.Errorf("implemented options warned: %q", got)
	}
}

// TestWarningNamesOption checks that a warning names the option it is about.
func TestWarningNamesOption(t *testing.T) {
	c := parse(t, "listener 1883\nwebsockets_log_level 1\nmemory_limit 10\n")
	for i, name := range []string{"websockets_log_level", "memory_limit"} {
		if !strings.Contains(c.Warnings[i], "option "+name+" ") {
			t.Errorf("warning %d %q does not name %s", i, c.Warnings[i], name)
		}
	}
}

// Included files start again at the default listener, as in Mosquitto, so a
// listener option at the top of an included file configures the default
// listener (Mosquitto 2.0.11 then opens port 1883 too).
func TestListenerScopeIsPerFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.conf", "max_connections 5\nlistener 1885\nmax_qos 0\n")
	c := parse(t, "listener 1884\ninclude_dir "+dir+"\nmax_qos 1\n")
	if got := addrs(c); !reflect.DeepEqual(got, []string{"1883", "1884", "1885"}) {
		t.Fatalf("listeners %v", got)
	}
	if c.Listeners[0].MaxConnections != 5 || c.Listeners[1].MaxQoS != 1 || c.Listeners[2].MaxQoS != 0 {
		t.Errorf("listener options landed in the wrong place: %+v %+v %+v", c.Listeners[0], c.Listeners[1], c.Listeners[2])
	}
}

// TestPerListenerDefaultAnonymous: with per_listener_settings true,
// Mosquitto 2.0 lets anonymous clients onto the default (`port`) listener
// when nothing is set for it, and refuses them elsewhere; midge does the
// same and warns.
func TestPerListenerDefaultAnonymous(t *testing.T) {
	c := parse(t, "per_listener_settings true\nport 1950\nlistener 1951 127.0.0.1\n")
	if len(c.Listeners) != 2 || !c.AnonymousAllowed(c.Listeners[0]) || c.AnonymousAllowed(c.Listeners[1]) {
		t.Fatalf("anonymous: default %t, other %t", c.AnonymousAllowed(c.Listeners[0]), c.AnonymousAllowed(c.Listeners[1]))
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "allows anonymous clients") {
		t.Fatalf("warnings %q", c.Warnings)
	}
	c = parse(t, "per_listener_settings true\nport 1950\nallow_anonymous false\n")
	if c.AnonymousAllowed(c.Listeners[0]) || len(c.Warnings) != 0 {
		t.Fatalf("explicit allow_anonymous false: allowed %t, warnings %q", c.AnonymousAllowed(c.Listeners[0]), c.Warnings)
	}
	c = parse(t, "port 1950\nlistener 1951\n")
	if c.AnonymousAllowed(c.Listeners[0]) {
		t.Fatal("anonymous allowed without per_listener_settings")
	}
}
