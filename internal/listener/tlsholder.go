package listener

import (
	"crypto/tls"
	"sync"
	"sync/atomic"

	"github.com/midge-mqtt/midge/internal/config"
)

// TLSHolder owns a listener's TLS configuration and lets it be replaced
// while the listener runs. Every handshake picks up the configuration that
// is current when the ClientHello arrives (tls.Config.GetConfigForClient),
// so a reload changes what new clients see and never disturbs open
// connections.
type TLSHolder struct {
	opts   config.TLS
	reload sync.Mutex // serialises Reload; readers only use cur
	cur    atomic.Pointer[tls.Config]
	base   *tls.Config
}

// NewTLSHolder reads the files opts names and returns a holder for them,
// with warnings about options Go cannot honour (see buildTLSConfig).
func NewTLSHolder(opts *config.TLS) (*TLSHolder, []string, error) {
	cfg, warnings, err := buildTLSConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	h := &TLSHolder{opts: *opts}
	h.cur.Store(cfg)
	h.base = &tls.Config{
		MinVersion: cfg.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return h.cur.Load(), nil
		},
	}
	return h, warnings, nil
}

// Config returns the configuration to give tls.Server or tls.NewListener.
func (h *TLSHolder) Config() *tls.Config { return h.base }

// Current returns the configuration handshakes use now.
func (h *TLSHolder) Current() *tls.Config { return h.cur.Load() }

// Reload re-reads the certificate, key, CA files and CRL. On any error the
// previous configuration stays in force and the error names the file.
// Mosquitto 2.0 reloads the certificate and key on SIGHUP (and the CRL);
// midge reloads the CA files as well.
func (h *TLSHolder) Reload() error {
	h.reload.Lock()
	defer h.reload.Unlock()
	cfg, _, err := buildTLSConfig(&h.opts)
	if err != nil {
		return err
	}
	h.cur.Store(cfg)
	return nil
}
