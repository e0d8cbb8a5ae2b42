package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestBridgeBlock(t *testing.T) {
	c := parse(t, `listener 1883
connection cloud
address broker.example.com:8883
topic sensors/# out 1 local/ remote/
topic cmd/+ in
topic "" both 2 a/b c/d
topic # both 0 "" ""
remote_username u
remote_password p w
bridge_cafile /etc/ca.pem
max_qos 1
connection backup
addresses 10.0.0.1 10.0.0.2:1884
topic x
`)
	if len(c.Bridges) != 2 {
		t.Fatalf("bridges %d", len(c.Bridges))
	}
	b := c.Bridges[0]
	wantTopics := []BridgeTopic{
		{"sensors/#", "out", 1, "local/", "remote/"},
		{"cmd/+", "in", 0, "", ""},
		{"", "both", 2, "a/b", "c/d"},
		{"#", "both", 0, "", ""},
	}
	if !reflect.DeepEqual(b.Topics, wantTopics) {
		t.Errorf("topics %+v", b.Topics)
	}
	if b.Name != "cloud" || b.Line != 2 || b.RemoteUsername != "u" || b.RemotePassword != "p w" || b.CAFile != "/etc/ca.pem" {
		t.Errorf("bridge %+v", b)
	}
	if b.Topics[0].LocalTopic() != "local/sensors/#" || b.Topics[0].RemoteTopic() != "remote/sensors/#" {
		t.Errorf("mapped topics %q %q", b.Topics[0].LocalTopic(), b.Topics[0].RemoteTopic())
	}
	// Listener options inside a bridge block still go to the current listener.
	if c.Listeners[0].MaxQoS != 1 {
		t.Errorf("max_qos %d", c.Listeners[0].MaxQoS)
	}
	if got := c.Bridges[1].Addresses; !reflect.DeepEqual(got, []BridgeAddress{{"10.0.0.1", 1883}, {"10.0.0.2", 1884}}) {
		t.Errorf("addresses %+v", got)
	}
	if b.EffectiveRemoteClientID("host") != "host.cloud" || b.EffectiveLocalClientID("host") != "local.host.cloud" {
		t.Errorf("client ids %q %q", b.EffectiveRemoteClientID("host"), b.EffectiveLocalClientID("host"))
	}
	if len(c.Warnings) != 0 {
		t.Errorf("bridge options warned: %q", c.Warnings)
	}
}

// TestBridgeErrors: the comments give Mosquitto 2.0.11's message for the same input.
func TestBridgeErrors(t *testing.T) {
	const head = "listener 1883\nconnection b\naddress 127.0.0.1:1\n"
	tests := []struct {
		name, conf string
		line       int
		msg        string
	}{
		// Error: Invalid bridge configuration.
		{"option outside bridge", "listener 1883\ntopic a\n", 2, "must follow a `connection` line"},
		{"second address line", head + "address 127.0.0.2\ntopic a\n", 4, "addresses already given"},
		{"empty address", "connection b\naddress # none\n", 2, "empty address value"},
		{"bad address port", "connection b\naddress h:0\n", 2, "invalid port value"},
		// Error: Invalid bridge remapping.
		{"empty pattern", head + "topic \"\" out 0 a/ \"\"\n", 4, "invalid bridge remapping"},
		// Error: Invalid bridge topic local prefix 'x/#'.
		{"wildcard prefix", head + "topic a in 0 x/# y/\n", 4, "local prefix"},
		// Error: Invalid bridge QoS level '3'.
		{"qos", head + "topic a in 3\n", 4, "invalid bridge QoS level"},
		// Error: Invalid bridge topic direction 'sideways'.
		{"direction", head + "topic a sideways\n", 4, "invalid bridge topic direction"},
		// Accepted by Mosquitto 2.0.11 (it fails later, when subscribing).
		{"bad filter", head + "topic a/#/b\n", 4, "'#' must be the whole last level"},
		// Error: Duplicate bridge name "b".
		{"duplicate name", head + "topic a\nconnection b\n", 5, `duplicate bridge name "b"`},
		// Error: Duplicate bridge remote clientid value in configuration.
		{"duplicate clientid alias", head + "topic a\nremote_clientid x\nclientid y\n", 6, "duplicate clientid value"},
		// Error: Invalid bridge_protocol_version value (mqttv5).
		{"protocol version", head + "topic a\nbridge_protocol_version mqttv5\n", 5, "invalid bridge_protocol_version"},
		// Error: backoff cap is lower than the base in restart_timeout.
		{"restart cap", head + "topic a\nrestart_timeout 10 5\n", 5, "lower than the base"},
		// Error: Manual start_type not supported.
		{"manual start", head + "topic a\nstart_type manual\n", 5, "manual is not supported"},
		// Error: Cannot use both certificate and psk encryption in a single bridge.
		{"cert and psk", head + "topic a\nbridge_cafile x\nbridge_psk 1234\n", 6, "both certificate and psk"},
		{"psk and cert", head + "topic a\nbridge_identity x\nbridge_certfile c\n", 6, "both certificate and psk"},
		// At the end of the file; Mosquitto gives no line, midge points at `connection`.
		// Error: Invalid bridge configuration: missing bridge_psk.
		{"identity alone", head + "topic a\nbridge_identity x\n", 2, "missing bridge_psk"},
		{"psk alone", head + "topic a\nbridge_psk 00\n", 2, "missing bridge_identity"},
		// Error: Invalid bridge configuration: no topics defined.
		{"no topics", head, 2, "no topics defined"},
		// Error: Invalid bridge configuration: no remote addresses defined.
		{"no address", "connection b\ntopic a\n", 1, "no remote addresses"},
		{"local ids clash", head + "topic a\nlocal_clientid same\nconnection c\naddress h\ntopic a\nlocal_clientid same\n", 6, `local_clientid "same"`},
		{"keepalive", head + "topic a\nkeepalive_interval 70000\n", 5, "too high"},
		{"receive maximum", head + "topic a\nbridge_receive_maximum 0\n", 5, "invalid bridge_receive_maximum"},
		{"tcp keepalive", head + "topic a\nbridge_tcp_keepalive 1 0 1\n", 5, "interval value 0"},
		{"tls version", head + "topic a\nbridge_tls_version ssl3\n", 5, "invalid bridge_tls_version"},
		{"reload type", head + "topic a\nbridge_reload_type never\n", 5, "invalid bridge_reload_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseErr(t, tt.conf)
			if e.Line != tt.line || !strings.Contains(e.Error(), tt.msg) {
				t.Errorf("got %v, want line %d containing %q", e, tt.line, tt.msg)
			}
		})
	}
}

// Bridge options need a `connection` in the same file, since each file
// starts with no current bridge (Mosquitto 2.0.11 behaves the same).
func TestBridgeScopeIsPerFile(t *testing.T) {
	dir := t.TempDir()
	inc := writeFile(t, dir, "b.conf", "topic a out\n")
	e := parseErr(t, "listener 1883\nconnection b0\naddress 127.0.0.1\ninclude_dir "+dir+"\n")
	if e.File != inc || e.Line != 1 {
		t.Errorf("error %v", e)
	}
}
