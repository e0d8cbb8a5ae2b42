package service

import (
	"log/slog"

	"github.com/midge-mqtt/midge/internal/control"
)

// controlInfo describes the listeners to $CONTROL/broker/v1. midge loads
// no plugins, so listPlugins reports none.
func controlInfo(lns []opened, log *slog.Logger) control.Info {
	return control.Info{
		Listeners: func() []control.Listener {
			out := make([]control.Listener, 0, len(lns))
			for _, o := range lns {
				l := o.cfg
				out = append(out, control.Listener{
					Port: l.Port, Protocol: l.Protocol, BindAddress: l.BindAddress,
					UnixSocket: l.UnixSocket, TLS: l.TLS.Enabled(),
				})
			}
			return out
		},
		Log: log,
	}
}

// applyControlAPI turns $CONTROL/broker/v1 on or off as
// enable_control_api says, at the start and on every reload.
func (r *reloader) applyControlAPI(enabled bool) {
	switch {
	case enabled && r.unregisterControl == nil:
		r.unregisterControl = control.Register(r.srv, controlInfo(r.opened, r.log))
	case !enabled && r.unregisterControl != nil:
		r.unregisterControl()
		r.unregisterControl = nil
	}
}
