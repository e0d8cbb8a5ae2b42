package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that no input panics the parser, that every error is an
// *Error pointing at a line of the input, and that a parsed configuration
// always has somewhere to listen.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"listener 1883\nallow_anonymous true\n",
		"port 1883\r\nbind_address 127.0.0.1\r\nmax_qos 1\r\n",
		"# comment\n\tlistener 1\n",
		"per_listener_settings true\nlistener 1883\npassword_file /p\nlistener 0 /s.sock\nacl_file /a\n",
		"listener 8883\ncertfile /c\nkeyfile /k\ntls_version tlsv1.2\nrequire_certificate true\n",
		"connection b\naddress h:1884 k\ntopic a/# both 2 l/ r/\ntopic \"\" in 0 x y\nbridge_identity i\nbridge_psk 00\n",
		"plugin /p.so\nplugin_opt_a b\nauth_opt_c d\nauth_plugin_deny_special_chars false\n",
		"log_dest file /tmp/x\nlog_dest none\nlog_type all\npersistent_client_expiration 3y\n",
		"max_packet_size 20\nmax_inflight_messages 65535\nmessage_size_limit 268435455\n",
		"listener 1883\naccept_protocol_versions 3,4 5\nwebsockets_origin a\nmount_point m/\n",
		"socket_domain ipv6\nmax_connections -7\n",
		"listener 1883 # c\nlog_timestamp_format a # b\x00c\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		if strings.Contains(conf, "include_dir") {
			t.Skip("include_dir reads the file system")
		}
		c, err := Parse("fuzz.conf", strings.NewReader(conf))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			lines := strings.Count(conf, "\n") + 1
			if e.File != "fuzz.conf" || e.Line < 1 || e.Line > lines {
				t.Fatalf("error %v not at a line of the %d-line input", err, lines)
			}
			return
		}
		if len(c.Listeners) == 0 {
			t.Fatalf("no listeners for %q", conf)
		}
		for _, l := range c.Listeners {
			_ = c.AnonymousAllowed(l)
			_ = c.SecurityFor(l)
		}
		c.ApplyPorts([]int{1884})
	})
}
