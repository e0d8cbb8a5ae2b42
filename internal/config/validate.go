package config

import (
	"fmt"
	"os"
)

// checkListeners runs the listener checks that need every option of a
// listener, after the whole file is read.
func checkListeners(c *Config) error {
	ls := c.Listeners
	if c.LocalOnly && c.template != nil {
		ls = []*Listener{c.template} // the loopback listeners are copies of it
	}
	for _, l := range ls {
		if err := checkListener(c, l); err != nil {
			return err
		}
	}
	return checkDuplicateListeners(c.Listeners)
}

// checkDuplicateListeners refuses two listeners on the same endpoint, which
// Mosquitto only discovers when the second bind fails ("Address already in
// use") without saying which lines clash.
func checkDuplicateListeners(ls []*Listener) error {
	type endpoint struct {
		port       int
		addr, unix string
	}
	first := make(map[endpoint]*Listener, len(ls))
	for _, l := range ls {
		ep := endpoint{l.Port, l.BindAddress, l.UnixSocket}
		if prev, dup := first[ep]; dup {
			return &Error{File: l.File, Line: l.Line, Msg: fmt.Sprintf("listener %s is already defined at %s:%d", listenerName(l), prev.File, prev.Line)}
		}
		first[ep] = l
	}
	return nil
}

func checkListener(c *Config, l *Listener) error {
	at := func(format string, a ...any) error {
		file, line := l.File, l.Line
		if file == "" {
			file = c.File
		}
		return &Error{File: file, Line: line, Msg: fmt.Sprintf("listener %s: ", listenerName(l)) + fmt.Sprintf(format, a...)}
	}
	t := &l.TLS
	// Mosquitto quietly opens a plain-text listener when only one of the
	// two is set. That would expose traffic the author meant to encrypt,
	// so it is an error here.
	if (t.CertFile == "") != (t.KeyFile == "") {
		return at("certfile and keyfile must both be given to enable TLS")
	}
	if t.PSKHint != "" && (t.CertFile != "" || t.CAFile != "") {
		return at("cannot use both certificate and psk encryption in a single listener")
	}
	return nil
}

// listenerName describes a listener for messages: "1883", "127.0.0.1:1883"
// or the unix socket path.
func listenerName(l *Listener) string {
	switch {
	case l.UnixSocket != "":
		return l.UnixSocket
	case l.BindAddress != "":
		return fmt.Sprintf("%s:%d", l.BindAddress, l.Port)
	default:
		return fmt.Sprint(l.Port)
	}
}

// checkBridges runs the checks Mosquitto makes once the whole file is read.
// Its errors point at the bridge's `connection` line.
func checkBridges(bridges []*Bridge) error {
	at := func(b *Bridge, format string, a ...any) error {
		return &Error{File: b.File, Line: b.Line, Msg: fmt.Sprintf("bridge %q: ", b.Name) + fmt.Sprintf(format, a...)}
	}
	for _, b := range bridges {
		switch {
		case len(b.Addresses) == 0:
			return at(b, "invalid bridge configuration: no remote addresses defined")
		case len(b.Topics) == 0:
			return at(b, "invalid bridge configuration: no topics defined")
		case b.PSK != "" && b.Identity == "":
			return at(b, "invalid bridge configuration: missing bridge_identity")
		case b.Identity != "" && b.PSK == "":
			return at(b, "invalid bridge configuration: missing bridge_psk")
		}
	}
	// Local client ids must be unique, defaults included.
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	ids := make(map[string]*Bridge, len(bridges))
	for _, b := range bridges {
		id := b.EffectiveLocalClientID(host)
		if other, dup := ids[id]; dup {
			return at(b, "local_clientid %q is also used by bridge %q; set a different local_clientid", id, other.Name)
		}
		ids[id] = b
	}
	return nil
}
