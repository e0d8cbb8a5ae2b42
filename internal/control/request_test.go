package control

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/broker"
)

// testInfo has one listener of each kind and one plugin with everything
// set, one with the least, and one without a name.
func testInfo() Info {
	return Info{
		Listeners: func() []Listener {
			return []Listener{
				{Port: 1883},
				{Port: 8883, BindAddress: "10.0.0.1", TLS: true},
				{Port: 8080, Protocol: "websockets"},
				{UnixSocket: "/run/midge.sock", Protocol: "mqtt"},
			}
		},
		Plugins: func() []Plugin {
			return []Plugin{
				{Name: "dynamic-security", ControlEndpoints: []string{"$CONTROL/dynamic-security/v1"}},
				{Name: "x", Version: "1.0", Port: 1884},
				{Version: "unnamed"},
			}
		},
	}
}

// The expected responses are written out as Mosquitto 2.1 prints them
// (cJSON_PrintUnformatted), field order included.
func TestRespond(t *testing.T) {
	const (
		listeners = `{"command":"listListeners","data":{"listeners":[` +
			`{"port":1883,"protocol":"mqtt","tls":false},` +
			`{"port":8883,"protocol":"mqtt","bind-address":"10.0.0.1","tls":true},` +
			`{"port":8080,"protocol":"mqtt+websockets","tls":false},` +
			`{"port":0,"protocol":"mqtt","socket-path":"/run/midge.sock","tls":false}]}`
		plugins = `{"command":"listPlugins","data":{"plugins":[` +
			`{"name":"dynamic-security","control-endpoints":["$CONTROL/dynamic-security/v1"]},` +
			`{"name":"x","version":"1.0","port":1884,"control-endpoints":[]}]}`
	)
	tests := []struct {
		name, request, want string
	}{
		{"listListeners", `{"commands":[{"command":"listListeners","correlationData":"c1"}]}`,
			`{"responses":[` + listeners + `,"correlationData":"c1"}]}`},
		{"listPlugins without correlationData", `{"commands":[{"command":"listPlugins"}]}`,
			`{"responses":[` + plugins + `}]}`},
		{"command names ignore ASCII case", `{"commands":[{"command":"LISTPLUGINS"}]}`,
			`{"responses":[` + plugins + `}]}`},
		{"no Unicode folding", `{"commands":[{"command":"liſtPlugins"}]}`,
			`{"responses":[{"command":"liſtPlugins","error":"Unknown command"}]}`},
		{"several commands in order", `{"commands":[{"command":"listPlugins","correlationData":"a"},{"command":"nope","correlationData":"b"},{"command":"listListeners"}]}`,
			`{"responses":[` + plugins + `,"correlationData":"a"},{"command":"nope","error":"Unknown command","correlationData":"b"},` + listeners + `}]}`},
		{"empty correlationData is kept", `{"commands":[{"command":"listPlugins","correlationData":""}]}`,
			`{"responses":[` + plugins + `,"correlationData":""}]}`},
		{"unknown command", `{"commands":[{"command":"getPluginInfo","correlationData":"x"}]}`,
			`{"responses":[{"command":"getPluginInfo","error":"Unknown command","correlationData":"x"}]}`},
		{"no commands", `{"commands":[]}`, `{"responses":[]}`},
		{"invalid JSON", `{"commands":[`, `{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}`},
		{"empty payload", ``, `{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}`},
		{"whatever follows the JSON is ignored, as cJSON does", `{"commands":[{"command":"nope"}]} trailing`,
			`{"responses":[{"command":"nope","error":"Unknown command"}]}`},
		{"missing commands", `{"command":"listPlugins"}`,
			`{"responses":[{"command":"Unknown command","error":"Invalid/missing commands"}]}`},
		{"commands not an array", `{"commands":{"command":"listPlugins"}}`,
			`{"responses":[{"command":"Unknown command","error":"Invalid/missing commands"}]}`},
		{"request not an object", `[{"command":"listPlugins"}]`,
			`{"responses":[{"command":"Unknown command","error":"Invalid/missing commands"}]}`},
		{"command not an object ends the request", `{"commands":[{"command":"nope"},"listPlugins",{"command":"listPlugins"}]}`,
			`{"responses":[{"command":"nope","error":"Unknown command"},{"command":"Unknown command","error":"Command not an object"}]}`},
		{"missing command ends the request", `{"commands":[{"correlationData":"c"},{"command":"listPlugins"}]}`,
			`{"responses":[{"command":"Unknown command","error":"Missing command"}]}`},
		{"a command that is not a string is missing", `{"commands":[{"command":7}]}`,
			`{"responses":[{"command":"Unknown command","error":"Missing command"}]}`},
		{"correlationData not a string ends the request", `{"commands":[{"command":"listPlugins","correlationData":5},{"command":"listPlugins"}]}`,
			`{"responses":[{"command":"listPlugins","error":"Invalid correlationData data type."}]}`},
		{"null correlationData is not a string", `{"commands":[{"command":"nope","correlationData":null}]}`,
			`{"responses":[{"command":"nope","error":"Invalid correlationData data type."}]}`},
		{"no HTML escaping", `{"commands":[{"command":"<a&b>","correlationData":"\u003c"}]}`,
			`{"responses":[{"command":"<a&b>","error":"Unknown command","correlationData":"<"}]}`},
	}
	h := &handler{info: testInfo()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(h.respond(&broker.ClientInfo{ClientID: "c"}, []byte(tt.request))); got != tt.want {
				t.Errorf("request %s\n got %s\nwant %s", tt.request, got, tt.want)
			}
		})
	}
}

// With nothing to report the lists are empty arrays, never null.
func TestRespondNothingToReport(t *testing.T) {
	h := &handler{info: Info{Plugins: func() []Plugin { return nil }}}
	got := string(h.respond(nil, []byte(`{"commands":[{"command":"listListeners"},{"command":"listPlugins"}]}`)))
	want := `{"responses":[{"command":"listListeners","data":{"listeners":[]}},{"command":"listPlugins","data":{"plugins":[]}}]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLogLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key != slog.MessageKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	h := &handler{info: Info{Log: log}}
	h.respond(&broker.ClientInfo{ClientID: "ctl"}, []byte(`{"commands":[{"command":"listplugins"},{"command":"nope"}]}`))
	h.respond(&broker.ClientInfo{ClientID: "ctl", Username: "admin", HasUsername: true}, []byte(`{"commands":[{"command":"listListeners"}]}`))
	want := `msg="Broker: ctl/(null) | listPlugins"` + "\n" + `msg="Broker: ctl/admin | listListeners"` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("log\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(buf.String(), "nope") {
		t.Error("an unknown command was logged")
	}
}
