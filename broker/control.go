package broker

import (
	"bytes"
	"maps"
	"strings"
)

// ControlPrefix starts the topics of Mosquitto's control APIs
// ($CONTROL/broker/v1, $CONTROL/dynamic-security/v1).
const ControlPrefix = "$CONTROL/"

// ControlHandler handles a request published to a control topic. client
// is the publisher (its password is not to be used); payload is the
// handler's own copy. It runs on the publisher's connection, before the
// PUBLISH is acknowledged, so it must not block for long; it answers by
// publishing (Server.Publish) to a response topic.
type ControlHandler func(client *ClientInfo, topic string, payload []byte)

// HandleControl makes h the handler of the control topic t, which must
// start with ControlPrefix (nil h removes it). A PUBLISH to a handled
// topic that the client may publish to goes to the handler and is never
// routed to subscribers, as in Mosquitto; publishes to other $CONTROL
// topics are routed as usual.
func (s *Server) HandleControl(t string, h ControlHandler) {
	if !strings.HasPrefix(t, ControlPrefix) {
		panic("broker: control topic " + t + " does not start with " + ControlPrefix)
	}
	s.controlMu.Lock()
	defer s.controlMu.Unlock()
	next := maps.Clone(*s.controls.Load())
	if next == nil {
		next = make(map[string]ControlHandler)
	}
	if h == nil {
		delete(next, t)
	} else {
		next[t] = h
	}
	s.controls.Store(&next)
}

// controlFor returns the handler of a topic, nil for an ordinary topic.
func (s *Server) controlFor(t string) ControlHandler {
	if !strings.HasPrefix(t, ControlPrefix) {
		return nil
	}
	return (*s.controls.Load())[t]
}

// handleControl passes a control request to its handler.
func (c *conn) handleControl(h ControlHandler, t string, payload []byte) {
	h(c.info, t, bytes.Clone(payload))
}
