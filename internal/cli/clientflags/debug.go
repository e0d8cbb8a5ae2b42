package clientflags

import (
	"fmt"
	"io"

	"github.com/midge-mqtt/midge/client"
)

// Debug prints the -d lines libmosquitto logs ("Client x sending CONNECT",
// ...) to stdout. The client package does not expose its packets, so the
// lines are produced from the calls the tools make and the results they
// get; they follow libmosquitto's order and message id numbering (one
// counter shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE). A nil *Debug
// prints nothing.
type Debug struct {
	w   io.Writer
	id  string
	mid uint16
}

// NewDebug returns a Debug writing to w when enabled, else nil.
func NewDebug(enabled bool, w io.Writer, clientID string) *Debug {
	if !enabled {
		return nil
	}
	id := clientID
	if id == "" {
		id = "(null)"
	}
	return &Debug{w: w, id: id}
}

// SetID switches to the identifier the broker assigned.
func (d *Debug) SetID(id string) {
	if d != nil && id != "" {
		d.id = id
	}
}

// NextMID allocates the next message id, as mosquitto__mid_generate does.
func (d *Debug) NextMID() uint16 {
	if d == nil {
		return 0
	}
	d.mid++
	if d.mid == 0 {
		d.mid = 1
	}
	return d.mid
}

// Printf writes one line prefixed with "Client <id> ".
func (d *Debug) Printf(format string, args ...any) {
	if d == nil {
		return
	}
	fmt.Fprintf(d.w, "Client %s "+format+"\n", append([]any{d.id}, args...)...)
}

// Raw writes one line as is.
func (d *Debug) Raw(format string, args ...any) {
	if d == nil {
		return
	}
	fmt.Fprintf(d.w, format+"\n", args...)
}

// Publishing logs an outgoing PUBLISH and returns its message id.
func (d *Debug) Publishing(m *client.Message) uint16 {
	if d == nil {
		return 0
	}
	mid := d.NextMID()
	d.Printf("sending PUBLISH (d0, q%d, r%d, m%d, '%s', ... (%d bytes))", m.QoS, b2i(m.Retain), mid, m.Topic, len(m.Payload))
	return mid
}

// Published logs the acknowledgement of an outgoing QoS 1 or 2 PUBLISH.
func (d *Debug) Published(qos byte, mid uint16, ack *client.Ack) {
	if d == nil {
		return
	}
	rc := 0
	if ack != nil {
		rc = int(ack.ReasonCode)
	}
	switch qos {
	case 1:
		d.Printf("received PUBACK (Mid: %d, RC:%d)", mid, rc)
	case 2:
		d.Printf("received PUBREC (Mid: %d)", mid)
		d.Printf("sending PUBREL (m%d)", mid)
		d.Printf("received PUBCOMP (Mid: %d, RC:%d)", mid, rc)
	}
}

// Received logs an incoming PUBLISH and the acknowledgements libmosquitto
// sends before handing it to the application.
func (d *Debug) Received(m *client.Message) {
	if d == nil {
		return
	}
	d.Printf("received PUBLISH (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))", b2i(m.Dup), m.QoS, b2i(m.Retain), m.PacketID, m.Topic, len(m.Payload))
	switch m.QoS {
	case 1:
		d.Printf("sending PUBACK (m%d, rc0)", m.PacketID)
	case 2:
		d.Printf("sending PUBREC (m%d, rc0)", m.PacketID)
		d.Printf("received PUBREL (Mid: %d)", m.PacketID)
		d.Printf("sending PUBCOMP (m%d)", m.PacketID)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
