// Package client is an MQTT 3.1, 3.1.1 and 5.0 client: what libmosquitto is
// for C programs. The midge command line tools (pub, sub, rr) and the
// broker's bridge are built on it.
//
// Connect dials the server (TCP, TLS, WebSocket, WebSocket over TLS or a
// unix socket, or any net.Conn from a custom dialer), sends CONNECT and
// returns a *Client once the server has accepted the connection. A refused
// connection returns a *ConnectError whose text is the one Mosquitto's
// client library prints.
//
// A Client is safe for concurrent use. Every call that waits for the
// server takes a context.Context:
//
//   - Publish returns when QoS 0 is written, QoS 1 is PUBACKed and QoS 2 is
//     PUBCOMPed, respecting the client's in-flight window and the server's
//     Receive Maximum, Maximum Packet Size, Maximum QoS and Retain
//     Available.
//   - Subscribe and Unsubscribe return the server's reason codes.
//   - Incoming messages go to Options.OnMessage, one at a time and in
//     order, on a goroutine of their own. The acknowledgement of a QoS 1 or
//     2 message is sent after OnMessage returns, so a message whose handler
//     has not finished is redelivered after a crash or a lost connection.
//     QoS 2 messages are delivered exactly once per session, as libmosquitto
//     delivers them: PUBREC answers the PUBLISH at once, OnMessage runs when
//     PUBREL arrives, and PUBCOMP follows when it returns. With
//     Options.ManualAck the application acknowledges each message itself
//     (Client.Ack), later and from any goroutine, still in arrival order
//     on the wire.
//   - Send sends like Publish but returns once the message is written,
//     with a Pending to wait on: a relay keeps several messages in flight
//     without a goroutine per message.
//   - Disconnect sends DISCONNECT and closes; Close drops the connection
//     without DISCONNECT, so the server publishes the will.
//   - Done and Err report the end of the client: a *DisconnectError when
//     the server sent DISCONNECT, ErrClosed after Disconnect or Close.
//
// With Options.KeepSession the session state (unacknowledged outgoing QoS 1
// and 2 messages, the identifiers of incoming QoS 2 messages) survives a
// lost connection in memory, and with Options.AutoReconnect the client
// reconnects with exponential backoff and resends what the server has not
// acknowledged, with DUP set [MQTT-4.4.0-1].
//
// Properties, reason codes and user properties are the codec's own types,
// re-exported here under the names Properties, ReasonCode and UserProperty,
// so values pass between the wire and the caller without conversion.
package client
