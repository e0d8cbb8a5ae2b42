package clientflags

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// dialSOCKS5 connects to addr through a SOCKS5 proxy with remote name
// resolution (socks5h), offering "no authentication" and, when the proxy
// URL has credentials, username/password (RFC 1928, RFC 1929).
func dialSOCKS5(ctx context.Context, d *net.Dialer, p *Proxy, addr string) (net.Conn, error) {
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)))
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if err := socksHandshake(nc, p, addr); err != nil {
		nc.Close()
		return nil, fmt.Errorf("clientflags: SOCKS5 proxy: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

func socksHandshake(rw io.ReadWriter, p *Proxy, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(portStr)
	methods := []byte{5, 1, 0}
	if p.Username != "" {
		methods = []byte{5, 2, 0, 2}
	}
	if _, err := rw.Write(methods); err != nil {
		return err
	}
	var reply [2]byte
	if _, err := io.ReadFull(rw, reply[:]); err != nil {
		return err
	}
	switch reply[1] {
	case 0:
	case 2:
		auth := []byte{1, byte(len(p.Username))}
		auth = append(auth, p.Username...)
		auth = append(auth, byte(len(p.Password)))
		auth = append(auth, p.Password...)
		if _, err := rw.Write(auth); err != nil {
			return err
		}
		if _, err := io.ReadFull(rw, reply[:]); err != nil {
			return err
		}
		if reply[1] != 0 {
			return errors.New("authentication refused")
		}
	default:
		return errors.New("no acceptable authentication method")
	}
	req := []byte{5, 1, 0, 3, byte(len(host))}
	req = append(req, host...)
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := rw.Write(req); err != nil {
		return err
	}
	var head [4]byte
	if _, err := io.ReadFull(rw, head[:]); err != nil {
		return err
	}
	if head[1] != 0 {
		return fmt.Errorf("connect refused (reply %d)", head[1])
	}
	skip := 0
	switch head[3] {
	case 1:
		skip = 4
	case 4:
		skip = 16
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(rw, l[:]); err != nil {
			return err
		}
		skip = int(l[0])
	}
	_, err = io.ReadFull(rw, make([]byte, skip+2))
	return err
}
