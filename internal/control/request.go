package control

import (
	"bytes"
	"encoding/json"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/ascii"
)

// The error strings of Mosquitto's control_common, which its broker
// control and plugins share; scripts match on them.
const (
	// unknownCommand is also the command name of a reply that has no
	// command to name.
	unknownCommand        = "Unknown command"
	errNotJSON            = "Payload not valid JSON"
	errNoCommands         = "Invalid/missing commands"
	errNotObject          = "Command not an object"
	errMissingCommand     = "Missing command"
	errBadCorrelationData = "Invalid correlationData data type."
)

// The commands, as they are spelt in replies; requests match them without
// regard to ASCII case, as Mosquitto's strcasecmp does.
const (
	cmdListListeners = "listListeners"
	cmdListPlugins   = "listPlugins"
)

// response is the message published on ResponseTopic.
type response struct {
	Responses []reply `json:"responses"`
}

// reply answers one command. The field order is Mosquitto's: command,
// then data or error, then correlationData.
type reply struct {
	Command         string  `json:"command"`
	Error           string  `json:"error,omitempty"`
	Data            any     `json:"data,omitempty"`
	CorrelationData *string `json:"correlationData,omitempty"`
}

// command is one element of a request's commands array, its fields kept
// raw so that their JSON types can be checked as Mosquitto checks them.
type command struct {
	Command         json.RawMessage `json:"command"`
	CorrelationData json.RawMessage `json:"correlationData"`
}

// respond runs the commands of a request and returns the response. The
// order of the checks and where they stop follow Mosquitto 2.1's
// mosquitto_control_generic_callback: an unknown command is answered and
// the next one runs; a command that is not an object, lacks a command
// name or has a correlationData that is not a string ends the request,
// keeping the replies so far.
func (h *handler) respond(client *broker.ClientInfo, payload []byte) []byte {
	out := response{Responses: []reply{}}
	root, ok := firstValue(payload)
	if !ok {
		out.Responses = append(out.Responses, reply{Command: unknownCommand, Error: errNotJSON})
		return encode(out)
	}
	var req struct {
		Commands json.RawMessage `json:"commands"`
	}
	var raws []json.RawMessage
	if kind(root) != '{' || json.Unmarshal(root, &req) != nil ||
		kind(req.Commands) != '[' || json.Unmarshal(req.Commands, &raws) != nil {
		out.Responses = append(out.Responses, reply{Command: unknownCommand, Error: errNoCommands})
		return encode(out)
	}
	for _, raw := range raws {
		var c command
		if kind(raw) != '{' || json.Unmarshal(raw, &c) != nil {
			out.Responses = append(out.Responses, reply{Command: unknownCommand, Error: errNotObject})
			break
		}
		name, ok := jsonString(c.Command)
		if !ok {
			// Mosquitto repeats the previous command's correlationData
			// here (a leftover); a reply without one is what it sends
			// when this is the first command.
			out.Responses = append(out.Responses, reply{Command: unknownCommand, Error: errMissingCommand})
			break
		}
		var corr *string
		if c.CorrelationData != nil {
			s, ok := jsonString(c.CorrelationData)
			if !ok {
				out.Responses = append(out.Responses, reply{Command: name, Error: errBadCorrelationData})
				break
			}
			corr = &s
		}
		out.Responses = append(out.Responses, h.run(client, name, corr))
	}
	return encode(out)
}

// run answers one command.
func (h *handler) run(client *broker.ClientInfo, name string, corr *string) reply {
	switch {
	case ascii.EqualFold(name, cmdListListeners):
		h.logCommand(client, cmdListListeners)
		return reply{Command: cmdListListeners, Data: h.listeners(), CorrelationData: corr}
	case ascii.EqualFold(name, cmdListPlugins):
		h.logCommand(client, cmdListPlugins)
		return reply{Command: cmdListPlugins, Data: h.plugins(), CorrelationData: corr}
	}
	return reply{Command: name, Error: unknownCommand, CorrelationData: corr}
}

// listenerJSON is one listener in listListeners' data. A field Mosquitto
// has no value for is left out, as it is there.
type listenerJSON struct {
	Port        int    `json:"port"`
	Protocol    string `json:"protocol,omitempty"`
	BindAddress string `json:"bind-address,omitempty"`
	SocketPath  string `json:"socket-path,omitempty"`
	TLS         bool   `json:"tls"`
}

type listenersData struct {
	Listeners []listenerJSON `json:"listeners"`
}

func (h *handler) listeners() listenersData {
	d := listenersData{Listeners: []listenerJSON{}}
	if h.info.Listeners == nil {
		return d
	}
	for _, l := range h.info.Listeners() {
		j := listenerJSON{Port: l.Port, BindAddress: l.BindAddress, SocketPath: l.UnixSocket, TLS: l.TLS}
		switch l.Protocol {
		case "", "mqtt":
			j.Protocol = "mqtt"
		case "websockets":
			j.Protocol = "mqtt+websockets"
		}
		d.Listeners = append(d.Listeners, j)
	}
	return d
}

// pluginJSON is one plugin in listPlugins' data.
type pluginJSON struct {
	Name             string   `json:"name"`
	Version          string   `json:"version,omitempty"`
	Port             int      `json:"port,omitempty"`
	ControlEndpoints []string `json:"control-endpoints"`
}

type pluginsData struct {
	Plugins []pluginJSON `json:"plugins"`
}

func (h *handler) plugins() pluginsData {
	d := pluginsData{Plugins: []pluginJSON{}}
	if h.info.Plugins == nil {
		return d
	}
	for _, p := range h.info.Plugins() {
		if p.Name == "" {
			continue
		}
		eps := append([]string{}, p.ControlEndpoints...)
		d.Plugins = append(d.Plugins, pluginJSON{Name: p.Name, Version: p.Version, Port: p.Port, ControlEndpoints: eps})
	}
	return d
}

// firstValue returns the first JSON value of payload. Like cJSON, which
// Mosquitto parses with, it ignores whatever follows the value.
func firstValue(payload []byte) (json.RawMessage, bool) {
	var v json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// kind returns the first byte of a JSON value ('{', '[', '"', ...), 0 for
// none.
func kind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// jsonString returns v's value if v is a JSON string.
func jsonString(v json.RawMessage) (string, bool) {
	var s string
	if kind(v) != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// encode writes the response as cJSON_PrintUnformatted does: compact, and
// without escaping <, > and & (which only HTML needs).
func encode(r response) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		// Strings, numbers, booleans and slices of them cannot fail to
		// encode; should they, the client still hears back, with
		// Mosquitto's error for a reply it could not build.
		return []byte(`{"responses":[{"command":"Unknown command","error":"Internal error"}]}`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
