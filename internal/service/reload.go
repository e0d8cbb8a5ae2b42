package service

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/admin"
	"github.com/midge-mqtt/midge/internal/bridge"
	"github.com/midge-mqtt/midge/internal/config"
)

// reloader applies SIGHUP as Mosquitto does: the configuration file is
// read again and its reloadable parts take effect without dropping
// connections — the password and ACL files (connected clients are checked
// again), TLS certificates, log types and the log file. Listeners,
// persistence and the other start-up options keep their values. Anything
// that fails keeps the previous state and says why.
type reloader struct {
	flags   brokerFlags
	log     *slog.Logger
	sink    *logSink
	srv     *broker.Server
	opened  []opened
	current *config.Config
	bridges *bridge.Manager
	// inputs are the files the reload reads, as last read (see
	// connectBarrier).
	inputs *atomic.Pointer[reloadInputs]
	// live is current for other goroutines (the admin API).
	live atomic.Pointer[config.Config]
	// admin, if running, takes the reloaded admin credentials.
	admin *admin.Server
	// unregisterControl stops $CONTROL/broker/v1; nil while it is off.
	unregisterControl func()
	// dynsecs are the dynamic security plugins opened at the start, which
	// a reload keeps.
	dynsecs *dynsecs
	// tallies count the token and HTTP checks across reloads.
	tallies *tallies
}

// reload reloads the configuration. It returns an error when the file
// could not be read, and everything stays as it was; a part that fails
// after that (a password file, a certificate) is logged and keeps its
// previous state while the rest is applied.
func (r *reloader) reload() error {
	// Bridges change once the broker runs again: stopping one and
	// starting one talk to the broker.
	defer func() { r.bridges.Reload(r.current.Bridges) }()
	// Nothing a client sends from now on is handled before the new
	// configuration is in place (see broker.Server.Pause).
	resume := r.srv.Pause()
	defer resume()
	sdNotify(sdReloading())
	defer sdNotify("READY=1")
	notice(r.log, "Reloading config.")
	cfg := r.current
	if r.flags.configFile != "" {
		next, err := config.Load(r.flags.configFile)
		// Before the password and ACL files are read: a change from now
		// on is seen by the next CONNECT.
		if err == nil {
			r.inputs.Store(newReloadInputs(next))
		} else {
			r.inputs.Store(newReloadInputs(r.current))
		}
		if err != nil {
			r.log.Error(fmt.Sprintf("Error: Unable to reload config: %v; keeping the previous configuration.", err))
			return err
		}
		if len(r.flags.ports) > 0 {
			next.ApplyPorts(r.flags.ports)
		}
		if err := checkSupported(next); err != nil {
			r.log.Error(fmt.Sprintf("Error: Unable to reload config: %v; keeping the previous configuration.", err))
			return err
		}
		cfg = next
	}

	if err := r.sink.reopen(parseLogTypes(cfg.LogTypes, r.flags.verbose)); err != nil {
		r.log.Error(fmt.Sprintf("Error: %v; still logging to the previous file.", err))
	}

	// Security: the listeners stay as they were opened; each takes the
	// rules of the listener at the same address in the new file.
	bls := make(map[*broker.Listener]*config.Listener, len(r.opened))
	for _, o := range r.opened {
		bls[o.bl] = sameListener(cfg, o.cfg)
	}
	// Plugins are loaded at the start only, as in Mosquitto. A reload
	// that changes them would mix the new files with the old plugin, so
	// it keeps the previous security as a whole.
	pol, err := (*policy)(nil), r.dynsecs.changedBy(cfg, bls)
	if err != nil {
		err = fmt.Errorf("%v, and plugins are loaded at the start only (restart to change them)", err)
	} else {
		pol, err = loadPolicy(cfg, bls, r.dynsecs, r.tallies, r.log)
	}
	if err != nil {
		r.log.Error(fmt.Sprintf("Error: %s; keeping the previous password and ACL files.", upperFirst(err.Error())))
	} else {
		r.srv.SetAuthorizer(pol)
		if n := r.srv.Reauthenticate(); n > 0 {
			notice(r.log, fmt.Sprintf("Disconnected %d clients refused by the reloaded configuration.", n))
		}
	}

	for _, o := range r.opened {
		if err := o.ln.ReloadTLS(); err != nil {
			r.log.Error(fmt.Sprintf("Error: Unable to reload TLS certificates of %s: %v; keeping the previous ones.", o.bl.Name, err))
		}
	}
	reloadAdmin(r.admin, r.current, cfg, r.log)
	r.applyControlAPI(cfg.EnableControlAPI)
	r.current = cfg
	r.live.Store(cfg)
	return nil
}

// sameListener finds the listener of cfg at the address of old, or old
// itself when the new file no longer has it (its socket stays open).
func sameListener(cfg *config.Config, old *config.Listener) *config.Listener {
	for _, l := range cfg.Listeners {
		if l.Port == old.Port && l.BindAddress == old.BindAddress && l.UnixSocket == old.UnixSocket {
			return l
		}
	}
	return old
}
