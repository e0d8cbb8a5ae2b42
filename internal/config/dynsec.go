package config

import (
	"path"
	"strings"
)

// DynsecPlugin is the file name stem of Mosquitto's dynamic security
// plugin; midge has it built in.
const DynsecPlugin = "mosquitto_dynamic_security"

// IsDynsec reports whether a plugin line names Mosquitto's dynamic
// security plugin (mosquitto_dynamic_security.so, .dll or .dylib, in any
// directory), which midge serves itself instead of loading it.
func (p *Plugin) IsDynsec() bool {
	base := path.Base(strings.ReplaceAll(p.Path, `\`, "/"))
	stem, ext, _ := strings.Cut(base, ".")
	return stem == DynsecPlugin && (ext == "so" || ext == "dll" || ext == "dylib")
}

// Option returns the value of the plugin's option key (plugin_opt_KEY or
// auth_opt_KEY; keys compare case-insensitively, as the plugins do), and
// whether it is set. The last line wins.
func (p *Plugin) Option(key string) (string, bool) {
	v, ok := "", false
	for _, o := range p.Options {
		if strings.EqualFold(o.Key, key) {
			v, ok = o.Value, true
		}
	}
	return v, ok
}
