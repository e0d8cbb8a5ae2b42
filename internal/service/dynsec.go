package service

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/auth/dynsec"
	"github.com/midge-mqtt/midge/internal/config"
)

// dynsecs are the dynamic security plugins of a running broker: the one
// of the global security settings (key nil) or, with
// per_listener_settings, one per listener that names it. As Mosquitto
// loads plugins only at the start, they are opened once and a reload keeps
// them.
type dynsecs struct {
	perListener bool
	by          map[*broker.Listener]*dynsec.Security
	paths       map[*broker.Listener]string // their configuration files
}

// dynsecPlugin returns the dynamic security plugin line of sec, nil if
// there is none. Other plugins are refused by checkSupported.
func dynsecPlugin(sec *config.Security) *config.Plugin {
	for i := range sec.Plugins {
		if sec.Plugins[i].IsDynsec() {
			return &sec.Plugins[i]
		}
	}
	return nil
}

// checkPlugins accepts the plugin lines of sec midge can serve: one
// dynamic security plugin with its configuration file. Anything else
// stops the start: running without a plugin the file asks for would
// weaken the broker.
func checkPlugins(sec *config.Security) error {
	var seen *config.Plugin
	for i := range sec.Plugins {
		p := &sec.Plugins[i]
		switch {
		case !p.IsDynsec():
			return fmt.Errorf("%s:%d: plugin %s is not supported (midge serves only the dynamic security plugin, built in); refusing to start without it", p.File, p.Line, p.Path)
		case seen != nil:
			return fmt.Errorf("%s:%d: a second dynamic security plugin (the first is at %s:%d)", p.File, p.Line, seen.File, seen.Line)
		}
		if v, ok := p.Option("config_file"); !ok || v == "" {
			return fmt.Errorf("%s:%d: the dynamic security plugin needs plugin_opt_config_file; refusing to start without it", p.File, p.Line)
		}
		seen = p
	}
	return nil
}

// openDynsecs opens the plugins cfg names. listeners maps each broker
// listener to its configuration, for per_listener_settings.
func openDynsecs(cfg *config.Config, listeners map[*broker.Listener]*config.Listener, log *slog.Logger) (*dynsecs, error) {
	d := &dynsecs{perListener: cfg.PerListenerSettings, by: map[*broker.Listener]*dynsec.Security{}, paths: map[*broker.Listener]string{}}
	open := func(key *broker.Listener, sec *config.Security) error {
		p := dynsecPlugin(sec)
		if p == nil {
			return nil
		}
		path, _ := p.Option("config_file")
		s, err := dynsec.Open(path, log)
		if err != nil {
			return fmt.Errorf("%s:%d: dynamic security: %w", p.File, p.Line, err)
		}
		d.by[key], d.paths[key] = s, path
		return nil
	}
	if !cfg.PerListenerSettings {
		return d, open(nil, &cfg.Security)
	}
	for bl, l := range listeners {
		if err := open(bl, &l.Security); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// forListener returns the plugin that judges the clients of l, nil if none.
func (d *dynsecs) forListener(l *broker.Listener) *dynsec.Security {
	if d == nil {
		return nil
	}
	if !d.perListener {
		return d.by[nil]
	}
	return d.by[l]
}

// changedBy says how a reloaded configuration differs in its plugin lines
// from the running plugins: they are not reloaded, as in Mosquitto.
func (d *dynsecs) changedBy(cfg *config.Config, listeners map[*broker.Listener]*config.Listener) error {
	now := func(sec *config.Security) string {
		if p := dynsecPlugin(sec); p != nil {
			v, _ := p.Option("config_file")
			return v
		}
		return ""
	}
	if d == nil {
		return nil
	}
	if cfg.PerListenerSettings != d.perListener {
		if len(d.by) == 0 && !anyDynsec(cfg, listeners) {
			return nil // no plugin before or after
		}
		return errors.New("per_listener_settings changed")
	}
	if !d.perListener {
		if now(&cfg.Security) != d.paths[nil] {
			return errors.New("the dynamic security plugin lines changed")
		}
		return nil
	}
	for bl, l := range listeners {
		if now(&l.Security) != d.paths[bl] {
			return fmt.Errorf("the dynamic security plugin lines of listener %s changed", bl.Name)
		}
	}
	return nil
}

// serveControl answers $CONTROL/dynamic-security/v1 with the plugin of the
// requesting client's listener (or none: the request then goes nowhere,
// as in Mosquitto without the plugin). Clients whose rights the request
// changed are disconnected, without their wills, before the response is
// published.
func (d *dynsecs) serveControl(srv *broker.Server) {
	if len(d.by) == 0 {
		return
	}
	srv.HandleControl(dynsec.Topic, func(c *broker.ClientInfo, _ string, payload []byte) {
		s := d.forListener(c.Listener)
		if s == nil {
			return
		}
		resp, kicks := s.Handle(c.ClientID, c.Username, payload)
		for _, k := range kicks {
			srv.DisconnectUsername(k.Username, !k.Anonymous, false)
		}
		_, _ = srv.Publish(broker.Message{Topic: dynsec.ResponseTopic, Payload: resp})
	})
}

func anyDynsec(cfg *config.Config, listeners map[*broker.Listener]*config.Listener) bool {
	if dynsecPlugin(&cfg.Security) != nil {
		return true
	}
	for _, l := range listeners {
		if dynsecPlugin(&l.Security) != nil {
			return true
		}
	}
	return false
}
