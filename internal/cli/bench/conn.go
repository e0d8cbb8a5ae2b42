package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"time"
)

// dialer opens MQTT connections to one broker.
type dialer struct {
	addr     string
	version  byte
	username string
	password string
	timeout  time.Duration
}

// connect opens a TCP connection, sends CONNECT and waits for a successful
// CONNACK, all within d.timeout. It reads exactly the CONNACK without a
// buffer, so the caller may wrap the connection in a buffered reader (or
// none, for idle clients) afterwards.
func (d *dialer) connect(ctx context.Context, clientID string) (net.Conn, error) {
	return d.connectSession(ctx, clientID, false)
}

// connectSession is connect, keeping a session when keep is set.
func (d *dialer) connectSession(ctx context.Context, clientID string, keep bool) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	pkt := appendConnect(nil, connectOptions{
		version: d.version, clientID: clientID, username: d.username, password: d.password, keepSession: keep,
	})
	if _, err := c.Write(pkt); err != nil {
		c.Close()
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	first, body, err := readPacketUnbuffered(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	if first != hdrConnack || len(body) < 2 {
		c.Close()
		return nil, fmt.Errorf("expected CONNACK, got packet 0x%02x", first)
	}
	if body[1] != 0 {
		c.Close()
		return nil, fmt.Errorf("connection refused with return code 0x%02x", body[1])
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// subscribe sends a SUBSCRIBE for one filter on a connection read through r
// and waits for its SUBACK until deadline.
func subscribe(c net.Conn, r *bufio.Reader, version byte, filter string, qos byte, deadline time.Time) error {
	_ = c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(appendSubscribe(nil, version, 1, filter, qos)); err != nil {
		return fmt.Errorf("send SUBSCRIBE: %w", err)
	}
	var scratch []byte
	first, body, err := readPacket(r, &scratch)
	if err != nil {
		return fmt.Errorf("read SUBACK: %w", err)
	}
	if first != hdrSuback || len(body) < 3 || binary.BigEndian.Uint16(body) != 1 {
		return fmt.Errorf("expected SUBACK, got packet 0x%02x with % x", first, body)
	}
	if code := body[len(body)-1]; code >= 0x80 {
		return fmt.Errorf("subscription to %q refused with reason code 0x%02x", filter, code)
	}
	return nil
}
