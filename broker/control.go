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
// start with ControlPrefix (nil h removes it). As in Mosquitto, a PUBLISH
// to a $CONTROL topic that the client may publish to is never routed to
// subscribers: it goes to the topic's handler, or nowhere when there is
// none (it is acknowledged all the same).
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

// isControl reports whether a topic is a control topic.
func isControl(t string) bool { return strings.HasPrefix(t, ControlPrefix) }

// handleControl passes a control request to its topic's handler, if any.
func (c *conn) handleControl(t string, payload []byte) {
	if h := (*c.srv.controls.Load())[t]; h != nil {
		h(c.info, t, bytes.Clone(payload))
	}
}
