package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/listener"
)

// opened is a listening socket and the broker settings for its clients.
type opened struct {
	ln  *listener.Listener
	bl  *broker.Listener
	cfg *config.Listener
}

// listenerName names the broker listener of l: its socket's path, or its
// address and port.
func listenerName(l *config.Listener) string {
	if l.UnixSocket != "" {
		return l.UnixSocket
	}
	return net.JoinHostPort(l.BindAddress, strconv.Itoa(l.Port))
}

// brokerListener maps a configured listener onto the broker's settings.
func brokerListener(cfg *config.Config, l *config.Listener) *broker.Listener {
	sec := cfg.SecurityFor(l)
	bl := broker.DefaultListener(l.Port)
	bl.Name = listenerName(l)
	bl.MaxConnections = l.MaxConnections
	bl.MaxQoS = byte(l.MaxQoS)
	bl.MaxTopicAlias = uint16(l.MaxTopicAlias)
	bl.MountPoint = l.MountPoint
	bl.UseUsernameAsClientID = l.UseUsernameAsClientID
	bl.AllowZeroLengthClientID = sec.AllowZeroLengthClientID
	bl.AutoIDPrefix = sec.AutoIDPrefix
	// The policy decides about anonymous clients, so that a reload can
	// change allow_anonymous.
	bl.AllowAnonymous = true
	if l.TLS.UseIdentityAsUsername || l.TLS.UseSubjectAsUsername {
		subject := l.TLS.UseSubjectAsUsername
		bl.CertUsername = func(nc net.Conn) (string, bool) {
			tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState })
			if !ok {
				return "", false
			}
			return listener.CertUsername(tc.ConnectionState(), subject)
		}
	}
	return bl
}

// openListeners opens every configured listener. In local-only mode one
// loopback socket is enough (a machine may have no IPv6); otherwise any
// failure is fatal, as in Mosquitto.
func openListeners(cfg *config.Config, bls map[*broker.Listener]*config.Listener, log *slog.Logger) ([]opened, error) {
	var out []opened
	closeAll := func() {
		for _, o := range out {
			o.ln.Close()
		}
	}
	// Open in the order of the file, for the log lines.
	for _, l := range cfg.Listeners {
		var bl *broker.Listener
		for b, c := range bls {
			if c == l {
				bl = b
			}
		}
		notice(log, listener.Describe(l))
		ln, err := listener.Listen(context.Background(), l)
		if err != nil {
			if cfg.LocalOnly {
				log.Warn(fmt.Sprintf("Warning: %v", err))
				continue
			}
			closeAll()
			return nil, err // it names the listener's file:line
		}
		for _, w := range ln.Warnings() {
			log.Warn("Warning: " + w)
		}
		out = append(out, opened{ln: ln, bl: bl, cfg: l})
	}
	if len(out) == 0 {
		return nil, errors.New("unable to open any listening socket")
	}
	return out, nil
}

// securityExit is Mosquitto's exit status for a security file problem:
// 13 when the file cannot be read, 3 when it is malformed.
func securityExit(err error) int {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return 13
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return 13
	}
	return exitUsage
}
