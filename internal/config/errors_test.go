package config

import (
	"strings"
	"testing"
)

// TestErrors checks that each problem is reported at the right line with a
// message naming it. The comments say what Mosquitto 2.0.11 prints for the
// same file, checked by running it.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, conf string
		line       int
		msg        string
	}{
		// Mosquitto: Error: Unknown configuration variable "foo". / Error found at test.conf:2.
		{"unknown option", "listener 1883\nfoo bar\n", 2, `Unknown configuration variable "foo"`},
		// A leading tab is part of the option name. Mosquitto: Unknown configuration variable "\tlistener".
		{"leading tab", "\tlistener 1883\n", 1, `Unknown configuration variable "\tlistener"`},
		{"tab only line", "   \n\t\n", 2, `Unknown configuration variable "\t"`},
		// Mosquitto: Error: Invalid allow_anonymous value (yes).
		{"bad bool", "listener 1883\n\nallow_anonymous yes\n", 3, "invalid allow_anonymous value (yes)"},
		// Mosquitto rejects "true\t" too: only spaces separate words.
		{"bool with tab", "allow_anonymous true\t\n", 1, "invalid allow_anonymous value"},
		// Mosquitto: atoi gives 0, and max_inflight_messages 0 means unlimited: the typo is silent.
		{"bad int", "max_inflight_messages abc\n", 1, "invalid max_inflight_messages value (abc): not an integer"},
		{"int with junk", "port 1883abc\n", 1, "not an integer"},
		{"int overflow", "max_queued_messages 99999999999\n", 1, "not an integer"},
		// Mosquitto: Error: Empty allow_anonymous value in configuration.
		{"missing bool", "allow_anonymous\n", 1, "empty allow_anonymous value"},
		{"missing string", "listener 1883\npassword_file   \n", 2, "empty password_file value"},
		// Mosquitto only logs these three and carries on; here they are errors.
		{"missing log_type", "log_type\n", 1, "empty log_type value"},
		{"missing max_connections", "max_connections\n", 1, "empty max_connections value"},
		{"missing expiration", "persistent_client_expiration\n", 1, "empty persistent_client_expiration value"},
		{"missing listener port", "listener\n", 1, "empty listener value"},
		// Mosquitto: Error: Duplicate log_timestamp_format value in configuration.
		{"duplicate string", "log_timestamp_format a\nlog_timestamp_format b\n", 2, "duplicate log_timestamp_format value"},
		{"duplicate user", "user a\nuser b\n", 2, "duplicate user value"},
		{"duplicate per listener", "per_listener_settings true\nlistener 1883\npassword_file /a\nlistener 1884\npassword_file /b\npassword_file /c\n", 6, "duplicate password_file"},
		{"duplicate log file", "log_dest file /a\nlog_dest file /b\n", 2, `duplicate "log_dest file"`},
		// Mosquitto: Error: per_listener_settings must be set before any other security settings.
		{"per_listener_settings late", "listener 1883\nallow_anonymous true\nper_listener_settings true\n", 3, "per_listener_settings must be set before"},
		{"per_listener_settings after plugin", "plugin /p.so\nper_listener_settings true\n", 2, "per_listener_settings must be set before"},
		// Mosquitto: Error: Invalid port value (70000).
		{"bad listener port", "listener 70000\n", 1, "invalid port value (70000)"},
		{"negative listener port", "listener -1\n", 1, "invalid port value (-1)"},
		{"bad port", "port 0\n", 1, "invalid port value (0)"},
		// Mosquitto: Error: A listener with port 0 must provide a Unix socket path.
		{"port 0 without path", "listener 0\n", 1, "unix socket path"},
		{"port 0 with comment", "listener 0 # no path\n", 1, "unix socket path"},
		{"max_qos", "listener 1883\nmax_qos 3\n", 2, "invalid max_qos value (3)"},
		{"max_topic_alias", "listener 1883\nmax_topic_alias 65536\n", 2, "invalid max_topic_alias value"},
		// Mosquitto rejects 0 as well: max_packet_size has no "off" value.
		{"max_packet_size 0", "max_packet_size 0\n", 1, "invalid max_packet_size value (0)"},
		{"max_packet_size 19", "max_packet_size 19\n", 1, "invalid max_packet_size value (19)"},
		{"max_inflight_messages", "max_inflight_messages 70000\n", 1, "max_inflight_messages must be <= 65535"},
		{"max_keepalive", "max_keepalive 65536\n", 1, "invalid max_keepalive value"},
		{"sys_interval", "sys_interval -1\n", 1, "invalid sys_interval value"},
		{"message_size_limit", "message_size_limit 268435456\n", 1, "invalid message_size_limit value"},
		{"tls_version", "listener 8883\ntls_version tlsv1.0\n", 2, "invalid tls_version"},
		{"protocol", "listener 1883\nprotocol http\n", 2, "invalid protocol value (http)"},
		{"socket_domain", "listener 1883\nsocket_domain ipv5\n", 2, "invalid socket_domain"},
		{"log_dest", "log_dest console\n", 1, "invalid log_dest value (console)"},
		{"log_type", "log_type verbose\n", 1, "invalid log_type value (verbose)"},
		{"log_facility", "log_facility 8\n", 1, "invalid log_facility value (8)"},
		{"expiration unit", "persistent_client_expiration 5\n", 1, "must end in h, d, w, m or y"},
		{"expiration zero", "persistent_client_expiration 0d\n", 1, "positive whole number"},
		{"expiration junk", "persistent_client_expiration xd\n", 1, "positive whole number"},
		{"expiration overflow", "persistent_client_expiration 2000000000y\n", 1, "too long"},
		// Mosquitto: Error: Malformed UTF-8 in configuration. (a tab inside a value counts)
		{"utf8", "log_timestamp_format a\xffb\n", 1, "malformed UTF-8"},
		{"control char", "log_timestamp_format a\tb\n", 1, "control character"},
		// Mosquitto: Error: Invalid mount_point 'a/#'. Does it contain a wildcard character?
		{"mount_point wildcard", "listener 1883\nmount_point a/#\n", 2, "invalid mount_point"},
		// Mosquitto: You must use create a listener before using the mount_point option
		{"mount_point default", "mount_point a/\n", 1, "mount_point needs a listener"},
		{"accept_protocol_versions default", "accept_protocol_versions 5\n", 1, "needs a listener"},
		{"accept_protocol_versions bad", "listener 1883\naccept_protocol_versions 5,6\n", 2, `entry "6"`},
		{"kpass", "listener 1883\ntls_engine_kpass_sha1 abc\n", 2, "40 hexadecimal digits"},
		{"keyform", "listener 1883\ntls_keyform der\n", 2, "invalid tls_keyform"},
		// Mosquitto: Error: Cannot use both certificate and psk encryption in a single listener.
		{"psk then cert", "listener 8883\npsk_hint h\ncertfile /c\n", 3, "both certificate and psk"},
		{"cert then psk", "listener 8883\ncertfile /c\nkeyfile /k\npsk_hint h\n", 1, "both certificate and psk"},
		// Mosquitto opens a plain listener here; midge refuses to.
		{"certfile alone", "listener 8883\ncertfile /c\n", 1, "certfile and keyfile must both be given"},
		{"keyfile alone default", "\n\n\nport 8883\nkeyfile /k\nlistener 1883\n", 4, "listener 8883: certfile and keyfile"},
		// Options after a listener stay with it even when `port` moves the default listener.
		{"keyfile after port", "listener 1883\nport 8883\nkeyfile /k\n", 1, "listener 1883: certfile and keyfile"},
		// Mosquitto: Error: An auth_opt_ option exists in the config file without an auth_plugin.
		{"plugin_opt without plugin", "plugin_opt_x y\n", 1, "must follow a plugin line"},
		{"plugin_opt without key", "plugin /p\nplugin_opt_ y\n", 2, "needs a key"},
		{"plugin_opt without value", "plugin /p\nplugin_opt_k\n", 2, "empty plugin_opt_k value"},
		{"persistence_sync word", "persistence_sync sometimes\n", 1, "want always, or interval and milliseconds"},
		{"persistence_sync interval range", "persistence_sync interval 0\n", 1, "must be between 1 and 60000"},
		{"persistence_sync interval missing", "persistence_sync interval\n", 1, "empty persistence_sync value"},
		{"persistence_sync extra", "persistence_sync always 5\n", 1, "unexpected"},
		{"http auth url not http", "http_auth_user_url ftp://x/y\n", 1, "want an http:// or https:// URL"},
		{"http auth url without host", "http_auth_acl_url http:///acl\n", 1, "want an http:// or https:// URL"},
		{"http auth params", "listener 1883\nhttp_auth_params xml\n", 2, "want one of [json form]"},
		{"http auth timeout", "http_auth_timeout 0\n", 1, "must be between 1 and 300"},
		{"jwt jwks url", "jwt_jwks_url file:///etc/jwks.json\n", 1, "want an http:// or https:// URL"},
		{"jwt duplicate issuer", "jwt_issuer a\njwt_issuer b\n", 2, "duplicate jwt_issuer value"},
		{"deny special chars without plugin", "auth_plugin_deny_special_chars false\n", 1, "must follow a plugin line"},
		{"memory_limit", "memory_limit -1\n", 1, "invalid memory_limit"},
		{"enable_proxy_protocol", "listener 1883\nenable_proxy_protocol 3\n", 2, "invalid enable_proxy_protocol"},
		// Mosquitto: Error: Address already in use (when binding, with no line).
		{"duplicate listener", "listener 1883 127.0.0.1\nlistener 1883 127.0.0.1\n", 2, "listener 127.0.0.1:1883 is already defined at test.conf:1"},
		{"duplicate default listener", "port 1884\nlistener 1884\n", 2, "listener 1884 is already defined at test.conf:1"},
		{"CR inside a word", "port 1883\rx\n", 1, "not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseErr(t, tt.conf)
			if e.File != "test.conf" || e.Line != tt.line {
				t.Errorf("error at %s:%d, want test.conf:%d (%v)", e.File, e.Line, tt.line, e)
			}
			if !strings.Contains(e.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", e.Error(), tt.msg)
			}
			if want := "test.conf:"; !strings.HasPrefix(e.Error(), want) {
				t.Errorf("error %q does not start with %q", e.Error(), want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "m.conf", Line: 3, Msg: "bad"}
	if got := e.Error(); got != "m.conf:3: bad" {
		t.Errorf("got %q", got)
	}
	e = &Error{File: "m.conf", Msg: "unable to open config file"}
	if got := e.Error(); got != "m.conf: unable to open config file" {
		t.Errorf("got %q", got)
	}
}
