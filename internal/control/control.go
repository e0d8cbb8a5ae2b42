// Package control serves Mosquitto 2.1's broker control API: JSON
// requests published to $CONTROL/broker/v1, answered on
// $CONTROL/broker/v1/response. It knows two commands, listListeners and
// listPlugins, and answers everything else the way Mosquitto's
// control_common does, so mosquitto_ctrl's broker module and scripts
// written for Mosquitto work unchanged.
//
// The broker only routes the requests here (broker.Server.HandleControl,
// after the ACL check); what the listeners and plugins are is told by the
// caller, which knows about TLS, WebSockets and unix sockets.
package control

import (
	"context"
	"log/slog"

	"github.com/midge-mqtt/midge/broker"
)

// The request and response topics of the API.
const (
	Topic         = "$CONTROL/broker/v1"
	ResponseTopic = "$CONTROL/broker/v1/response"
)

// Listener describes one listener as listListeners reports it.
type Listener struct {
	// Port is the TCP port; 0 for a unix socket.
	Port int
	// Protocol is the listener's protocol option: "mqtt" (or "") or
	// "websockets", reported as Mosquitto does ("mqtt",
	// "mqtt+websockets"). Any other value is left out of the report.
	Protocol string
	// BindAddress is the host of the listener line; "" when it listens
	// on every interface.
	BindAddress string
	// UnixSocket is the socket path of a unix socket listener.
	UnixSocket string
	// TLS is set when the listener has a certificate or a PSK hint.
	TLS bool
}

// Plugin describes one plugin as listPlugins reports it.
type Plugin struct {
	// Name identifies the plugin ("dynamic-security"); a plugin without
	// one is not reported, as in Mosquitto.
	Name string
	// Version is left out of the report when empty.
	Version string
	// Port is the listener of a plugin loaded for one listener only
	// (per_listener_settings); 0 leaves it out.
	Port int
	// ControlEndpoints are the $CONTROL topics the plugin answers.
	ControlEndpoints []string
}

// Info is what the API reports. Each function is called for every request
// that asks for it, from the requesting client's connection: it must be
// safe for concurrent use and quick.
type Info struct {
	// Listeners returns the listeners in the order of the configuration
	// (nil: none).
	Listeners func() []Listener
	// Plugins returns the plugins that are loaded (nil: none).
	Plugins func() []Plugin
	// Log receives a line per command served, as Mosquitto logs them
	// (nil: discard).
	Log *slog.Logger
}

// Register makes srv answer the broker control API with info until
// unregister is called. Mosquitto serves it only with
// enable_control_api true; without it requests go unanswered.
func Register(srv *broker.Server, info Info) (unregister func()) {
	h := &handler{info: info, publish: func(payload []byte) {
		// QoS 0, not retained, to every subscriber of the response
		// topic, as mosquitto_broker_publish(NULL, ...) does.
		_, _ = srv.Publish(broker.Message{Topic: ResponseTopic, Payload: payload})
	}}
	srv.HandleControl(Topic, h.handle)
	return func() { srv.HandleControl(Topic, nil) }
}

// handler answers the requests of one registration.
type handler struct {
	info    Info
	publish func(payload []byte)
}

// handle is the broker.ControlHandler: one response message per request.
func (h *handler) handle(client *broker.ClientInfo, _ string, payload []byte) {
	h.publish(h.respond(client, payload))
}

// logCommand writes Mosquitto's line for a command served, e.g.
// "Broker: sensor-1/admin | listListeners".
func (h *handler) logCommand(client *broker.ClientInfo, command string) {
	if h.info.Log == nil || !h.info.Log.Enabled(context.Background(), broker.LevelInfo) {
		return
	}
	// Mosquitto prints the C library's "(null)" for a client without a
	// username.
	id, user := "", "(null)"
	if client != nil {
		id = client.ClientID
		if client.HasUsername {
			user = client.Username
		}
	}
	h.info.Log.Log(context.Background(), broker.LevelInfo, "Broker: "+id+"/"+user+" | "+command)
}
