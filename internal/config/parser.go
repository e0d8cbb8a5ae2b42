package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// parser holds the state of one configuration read, across included files.
type parser struct {
	cfg *Config

	// def is the implicit default listener that options before the first
	// `listener` configure. Whether it is created is decided in finish.
	def              *Listener
	defaultAddressed bool     // port or bind_address was given
	defaultOptions   []string // "file:line: option" of each option applied to def

	localOnly bool

	// securitySeen records that a security option has been read; after that
	// per_listener_settings may no longer be turned on, since earlier
	// options have already gone to the wrong place.
	securitySeen bool

	// logDestSet and logTypeSet: the first log_dest/log_type line replaces
	// the defaults, later ones add to it.
	logDestSet, logTypeSet bool

	// seen holds the string settings already given, for the duplicate rule.
	seen map[*string]bool

	options map[string]option
}

// fileState is what Mosquitto keeps per file: each file, including each
// included one, starts with the default listener as its current listener
// and with no current bridge or plugin.
type fileState struct {
	name     string
	depth    int
	listener *Listener
	bridge   *Bridge

	// The plugin that plugin_opt_* lines apply to, as a position rather
	// than a pointer because later plugin lines may grow the slice.
	pluginSec *Security
	pluginIdx int
}

func newParser(name string) *parser {
	cfg := newConfig()
	cfg.File = name
	return &parser{
		cfg:       cfg,
		def:       newListener(),
		localOnly: true,
		seen:      make(map[*string]bool),
		options:   optionTable(),
	}
}

// parseFile applies every option line of one file. depth is 0 for the main
// file and 1 for files loaded through include_dir.
func (p *parser) parseFile(name string, r io.Reader, depth int) error {
	fs := &fileState{name: name, depth: depth, listener: p.def}
	lr := newLineReader(r)
	for {
		ln, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &Error{File: name, Line: lr.num + 1, Msg: "read error", Err: err}
		}
		if err := p.parseLine(fs, ln); err != nil {
			return err
		}
	}
}

// parseLine looks the option up in the table, applies it, and records a
// warning when the broker does not act on it yet.
func (p *parser) parseLine(fs *fileState, ln rawLine) error {
	c := &call{p: p, fs: fs, args: fields{s: ln.text}, file: fs.name, line: ln.num}
	name, _ := c.args.word()
	c.name = name
	opt, ok := p.lookup(name)
	if !ok {
		return c.errorf("Unknown configuration variable %q", name)
	}
	value := strings.TrimFunc(c.args.s[c.args.pos:], isCSpace)
	if err := opt.apply(c); err != nil {
		return err
	}
	if opt.implemented || opt.inBridge || (opt.honoured != nil && opt.honoured(value)) {
		return nil
	}
	p.warnf(c.file, c.line, "option %s is not supported yet; ignored", name)
	return nil
}

// lookup finds an option by exact name, then the plugin option prefixes.
func (p *parser) lookup(name string) (option, bool) {
	if o, ok := p.options[name]; ok {
		return o, true
	}
	for _, prefix := range []string{"plugin_opt_", "auth_opt_"} {
		if strings.HasPrefix(name, prefix) {
			return p.options[prefix+"*"], true
		}
	}
	return option{}, false
}

func (p *parser) warnf(file string, line int, format string, a ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s:%d: ", file, line)+fmt.Sprintf(format, a...))
}

// touchDefault notes that an option was applied to the default listener,
// both to date the listener and to warn if it is never created.
func (p *parser) touchDefault(c *call) {
	if p.def.File == "" {
		p.def.File, p.def.Line = c.file, c.line
	}
	p.defaultOptions = append(p.defaultOptions, fmt.Sprintf("%s:%d: %s", c.file, c.line, c.name))
}

// listener returns the listener that listener options apply to.
func (c *call) listener() *Listener {
	if c.fs.listener == c.p.def {
		c.p.touchDefault(c)
	}
	return c.fs.listener
}

// security returns where a security option goes: the current listener with
// per_listener_settings, the global settings otherwise.
func (c *call) security() *Security {
	c.p.securitySeen = true
	if c.p.cfg.PerListenerSettings {
		return &c.listener().Security
	}
	return &c.p.cfg.Security
}

// bridge returns the current `connection` block; bridge options outside one
// are an error, as in Mosquitto.
func (c *call) bridge() (*Bridge, error) {
	if c.fs.bridge == nil {
		return nil, c.errorf("invalid bridge configuration: %s must follow a `connection` line in the same file", c.name)
	}
	return c.fs.bridge, nil
}

// finish builds the listener list and runs the checks that need the whole file.
func (p *parser) finish() error {
	c := p.cfg
	c.LocalOnly = p.localOnly
	c.template = p.def
	switch {
	case c.LocalOnly:
		c.Listeners = loopbackListeners(p.def, []int{DefaultPort})
	case p.defaultAddressed || p.def.createsDefaultListener():
		if p.def.Port == 0 {
			p.def.Port = DefaultPort
		}
		c.Listeners = append([]*Listener{p.def}, c.Listeners...)
		if c.anonymousDefault(p.def) && !c.LocalOnly {
			c.Warnings = append(c.Warnings, fmt.Sprintf("the default listener (port %d) allows anonymous clients: per_listener_settings is true and "+
				"it has no allow_anonymous of its own, which Mosquitto 2.0 takes as true; set allow_anonymous for it", p.def.Port))
		}
	default:
		// Mosquitto drops these silently; an operator should hear about it.
		for _, where := range p.defaultOptions {
			c.Warnings = append(c.Warnings, where+" applies to the default listener, which is not created (it needs port or bind_address); ignored")
		}
	}
	if len(c.Bridges) > 0 {
		if err := checkBridges(c.Bridges); err != nil {
			return err
		}
	}
	if err := checkListeners(c); err != nil {
		return err
	}
	if err := checkAdmin(c); err != nil {
		return err
	}
	return checkCluster(c)
}
