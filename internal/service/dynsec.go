package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/auth/dynsec"
	"github.com/midge-mqtt/midge/internal/cluster"
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
	// names name them among the nodes of a cluster: "dynamic security",
	// or with per_listener_settings "dynamic security of listener N",
	// the Nth listener of the configuration file. Nodes share the
	// configurations of the same name.
	names map[*broker.Listener]string
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
	d := &dynsecs{perListener: cfg.PerListenerSettings, by: map[*broker.Listener]*dynsec.Security{}, paths: map[*broker.Listener]string{}, names: map[*broker.Listener]string{}}
	open := func(key *broker.Listener, sec *config.Security, name string) error {
		p := dynsecPlugin(sec)
		if p == nil {
			return nil
		}
		path, _ := p.Option("config_file")
		s, err := dynsec.Open(path, log)
		if err != nil {
			return fmt.Errorf("%s:%d: dynamic security: %w", p.File, p.Line, err)
		}
		d.by[key], d.paths[key], d.names[key] = s, path, name
		return nil
	}
	if !cfg.PerListenerSettings {
		return d, open(nil, &cfg.Security, "dynamic security")
	}
	for bl, l := range listeners {
		name := fmt.Sprintf("dynamic security of listener %d", slices.Index(cfg.Listeners, l)+1)
		if err := open(bl, &l.Security, name); err != nil {
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
	return d.by[d.key(l)]
}

// key is the key in d.by of the plugin of listener l.
func (d *dynsecs) key(l *broker.Listener) *broker.Listener {
	if !d.perListener {
		return nil
	}
	return l
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
//
// In a cluster (node not nil) a change is spread to the other nodes before
// the response is published: when the requester reads it, every node in
// reach applies the change and has disconnected the clients it names.
func (d *dynsecs) serveControl(srv *broker.Server, node *cluster.Node) {
	if len(d.by) == 0 {
		return
	}
	if node != nil {
		for key, s := range d.by {
			node.Share(d.names[key], &sharedDynsec{s: s, srv: srv})
		}
	}
	srv.HandleControl(dynsec.Topic, func(c *broker.ClientInfo, _ string, payload []byte) {
		key := d.key(c.Listener)
		s := d.by[key]
		if s == nil {
			return
		}
		before := s.Version()
		resp, kicks := s.Handle(c.ClientID, c.Username, payload)
		kick(srv, kicks)
		if node != nil && s.Version() != before {
			note, _ := json.Marshal(kicks)
			node.Spread(d.names[key], note)
		}
		_, _ = srv.Publish(broker.Message{Topic: dynsec.ResponseTopic, Payload: resp})
	})
}

// kick disconnects the clients a change of rights names, without their
// wills, as the plugin does.
func kick(srv *broker.Server, kicks []dynsec.Kick) {
	for _, k := range kicks {
		srv.DisconnectUsername(k.Username, !k.Anonymous, false)
	}
}

// sharedDynsec is a dynamic security configuration as the cluster shares
// it.
type sharedDynsec struct {
	s   *dynsec.Security
	srv *broker.Server
}

func (a *sharedDynsec) Version() int64            { return a.s.Version() }
func (a *sharedDynsec) Snapshot() (int64, []byte) { return a.s.Snapshot() }
func (a *sharedDynsec) Adopt(v int64, doc, note []byte) error {
	kicks, err := a.s.Adopt(v, doc)
	if errors.Is(err, dynsec.ErrNotNewer) {
		return cluster.ErrNotNewer
	}
	if err != nil {
		return err
	}
	if note != nil {
		// A change as it is made: the clients it names, as on the node
		// that made it, rather than all whose rights differ.
		kicks = nil
		if err := json.Unmarshal(note, &kicks); err != nil {
			return fmt.Errorf("the change's note: %w", err)
		}
	}
	kick(a.srv, kicks)
	return nil
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
