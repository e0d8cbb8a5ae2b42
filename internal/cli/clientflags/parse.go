package clientflags

import (
	"strings"
	"time"
)

const maxPayload = 268435455 // MQTT_MAX_PAYLOAD

// argFlags maps options that take one operand to the wording of their
// "argument given but no ... specified" error and the tools that accept
// them. The handler is applied by setArg.
type optSpec struct {
	missing string // what the missing-operand message says is missing
	tools   []Tool // nil: every tool
}

var withArg = map[string]optSpec{
	"-A": {"address", nil}, "--cafile": {"file", nil}, "--capath": {"directory", nil},
	"--cert": {"file", nil}, "--ciphers": {"ciphers", nil},
	"-C": {"count", []Tool{Sub}}, "-e": {"response topic", []Tool{RR}},
	"-f": {"file", []Tool{Pub, RR}}, "--file": {"file", []Tool{Pub, RR}},
	"-F": {"format", []Tool{Sub, RR}}, "-h": {"host", nil}, "--host": {"host", nil},
	"-i": {"id", nil}, "--id": {"id", nil}, "-I": {"id prefix", nil}, "--id-prefix": {"id prefix", nil},
	"-k": {"keepalive", nil}, "--keepalive": {"keepalive", nil},
	"--key": {"file", nil}, "--keyform": {"keyform", nil},
	"-L": {"URL", nil}, "--url": {"URL", nil},
	"-m": {"message", []Tool{Pub, RR}}, "--message": {"message", []Tool{Pub, RR}},
	"-M": {"max_inflight", nil}, "-p": {"port", nil}, "--port": {"port", nil},
	"-P": {"password", nil}, "--pw": {"password", nil},
	"--proxy": {"proxy url", nil}, "--psk": {"key", nil}, "--psk-identity": {"identity", nil},
	"-q": {"QoS", nil}, "--qos": {"QoS", nil},
	"--random-filter": {"chance", []Tool{Sub}},
	"--repeat":        {"count", []Tool{Pub}}, "--repeat-delay": {"time", []Tool{Pub}},
	"-t": {"topic", nil}, "--topic": {"topic", nil},
	"-T": {"topic filter", []Tool{Sub}}, "--filter-out": {"topic filter", []Tool{Sub}},
	"--tls-alpn": {"protocol", nil}, "--tls-engine": {"engine_id", nil},
	"--tls-engine-kpass-sha1": {"kpass sha1", nil}, "--tls-version": {"version", nil},
	"-U": {"unsubscribe topic", []Tool{Sub}}, "--unsubscribe": {"unsubscribe topic", []Tool{Sub}},
	"-u": {"username", nil}, "--username": {"username", nil},
	"--unix": {"socket path", nil},
	"-V":     {"version", nil}, "--protocol-version": {"version", nil},
	"-W":             {"timeout", []Tool{Sub, RR}},
	"--will-payload": {"will payload", nil}, "--will-qos": {"will QoS", nil},
	"--will-topic": {"will topic", nil}, "-x": {"session expiry interval", nil},
}

// Options whose message names a canonical spelling rather than the one typed.
var missingName = map[string]string{
	"--file": "-f", "--host": "-h", "--id": "-i", "--id-prefix": "-I", "--keepalive": "-k",
	"--url": "-L", "--message": "-m", "--port": "-p", "--pw": "-P", "--qos": "-q",
	"--topic": "-t", "--filter-out": "-T", "--unsubscribe": "-U", "--username": "-u",
	"-V": "--protocol-version",
}

var flagTools = map[string][]Tool{
	"-E": {Sub}, "-l": {Pub}, "--stdin-line": {Pub}, "-n": {Pub, RR}, "--null-message": {Pub, RR},
	"-N": {Sub, RR}, "--pretty": {Sub, RR}, "-r": {Pub}, "--retain": {Pub}, "-R": {Sub, RR},
	"--remove-retained": {Sub}, "--retain-as-published": {Sub, RR}, "--retained-only": {Sub},
	"-s": {Pub, RR}, "--stdin-file": {Pub, RR}, "-v": {Sub, RR}, "--verbose": {Sub, RR},
}

var commonFlags = map[string]bool{
	"-c": true, "--disable-clean-session": true, "-d": true, "--debug": true, "--insecure": true,
	"--nodelay": true, "--quiet": true, "--tls-use-os-certs": true, "--will-retain": true,
}

func toolAllowed(tools []Tool, t Tool) bool {
	if tools == nil {
		return true
	}
	for _, x := range tools {
		if x == t {
			return true
		}
	}
	return false
}

// parseArgs processes one argv-like list: the command line, or one line
// of the options file.
func (c *Config) parseArgs(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--help" {
			return ErrHelp
		}
		if a == "--version" {
			return ErrVersion
		}
		if a == "-D" || a == "--property" {
			n, err := c.parseProperty(args, i+1)
			if err != nil {
				return err
			}
			i += n
			c.ProtocolVersion = V5
			continue
		}
		if spec, ok := withArg[a]; ok {
			if !toolAllowed(spec.tools, c.Tool) {
				return unknownOption(a)
			}
			if err := c.precheck(a); err != nil {
				return err
			}
			if i == len(args)-1 {
				name := a
				if n, ok := missingName[a]; ok {
					name = n
				}
				if a == "-M" {
					return usagef("Error: -M argument given but max_inflight not specified.\n\n")
				}
				return usagef("Error: %s argument given but no %s specified.\n\n", name, spec.missing)
			}
			if err := c.setArg(a, args[i+1]); err != nil {
				return err
			}
			i++
			continue
		}
		if tools, ok := flagTools[a]; ok {
			if !toolAllowed(tools, c.Tool) {
				return unknownOption(a)
			}
			if err := c.setFlag(a); err != nil {
				return err
			}
			continue
		}
		if commonFlags[a] {
			c.setFlag(a)
			continue
		}
		return unknownOption(a)
	}
	return nil
}

func unknownOption(a string) error {
	return usagef("Error: Unknown option '%s'.\n", a)
}

// precheck reports the errors Mosquitto gives before looking for the
// operand: a second message source, or -i after -I and vice versa.
func (c *Config) precheck(a string) error {
	switch a {
	case "-f", "--file", "-m", "--message":
		if c.Mode != MsgNone {
			return usagef("Error: Only one type of message can be sent at once.\n\n")
		}
	case "-i", "--id":
		if c.IDPrefix != "" {
			return usagef("Error: -i and -I argument cannot be used together.\n\n")
		}
	case "-I", "--id-prefix":
		if c.ID != "" {
			return usagef("Error: -i and -I argument cannot be used together.\n\n")
		}
	}
	return nil
}

func (c *Config) setFlag(a string) error {
	switch a {
	case "-c", "--disable-clean-session":
		c.CleanSession = false
	case "-d", "--debug":
		c.Debug = true
	case "--insecure":
		c.Insecure = true
	case "--nodelay":
		c.NoDelay = true
	case "--quiet":
		c.Quiet = true
	case "--tls-use-os-certs":
		c.TLSUseOSCerts = true
	case "--will-retain":
		c.WillRetain = true
	case "-E":
		c.ExitAfterSub = true
	case "-l", "--stdin-line", "-n", "--null-message", "-s", "--stdin-file":
		if c.Mode != MsgNone {
			return usagef("Error: Only one type of message can be sent at once.\n\n")
		}
		c.Mode = map[string]MsgMode{"-l": MsgStdinLine, "--stdin-line": MsgStdinLine,
			"-n": MsgNull, "--null-message": MsgNull, "-s": MsgStdinFile, "--stdin-file": MsgStdinFile}[a]
	case "-N":
		c.EOL = false
	case "--pretty":
		c.Pretty = true
	case "-r", "--retain":
		c.Retain = true
	case "-R":
		c.NoRetain = true
		c.RetainHandling = 2
	case "--remove-retained":
		c.RemoveRetained = true
	case "--retain-as-published":
		c.RetainAsPublished = true
	case "--retained-only":
		c.RetainedOnly = true
	case "-v", "--verbose":
		c.Verbose = true
	}
	return nil
}

func (c *Config) setArg(a, v string) error {
	switch a {
	case "-A":
		c.BindAddress = v
	case "--cafile":
		c.CAFile = v
	case "--capath":
		c.CAPath = v
	case "--cert":
		c.CertFile = v
	case "--ciphers":
		c.Ciphers = v
	case "-C":
		c.MsgCount = atoi(v)
		if c.MsgCount < 1 {
			return usagef("Error: Invalid message count \"%d\".\n\n", c.MsgCount)
		}
	case "-e":
		if !validUTF8Len(v) {
			return usagef("Error: Malformed UTF-8 in -e argument.\n\n")
		}
		if strings.ContainsAny(v, "+#") || len(v) > 65535 {
			return usagef("Error: Invalid response topic '%s', does it contain '+' or '#'?\n", v)
		}
		c.ResponseTopic = v
	case "-f", "--file":
		c.Mode = MsgFile
		c.FileInput = v
	case "-F":
		c.Format = v
		return checkFormat(v)
	case "-h", "--host":
		c.Host = v
	case "-i", "--id":
		c.ID = v
	case "-I", "--id-prefix":
		c.IDPrefix = v
	case "-k", "--keepalive":
		c.KeepAlive = atoi(v)
		if c.KeepAlive < 5 || c.KeepAlive > 65535 {
			return usagef("Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n")
		}
	case "--key":
		c.KeyFile = v
	case "--keyform":
		c.KeyForm = v
	case "-L", "--url":
		return c.parseURL(v)
	case "-m", "--message":
		if len(v) > maxPayload {
			return usagef("Error: Message length must be less than %d bytes.\n\n", maxPayload)
		}
		c.Message = []byte(v)
		c.Mode = MsgCmd
	case "-M":
		n := atoi(v)
		if n < 1 {
			return usagef("Error: Maximum inflight messages must be greater than 0.\n\n")
		}
		c.MaxInflight = n
	case "-p", "--port":
		c.Port = atoi(v)
		if c.Port < 0 || c.Port > 65535 {
			return usagef("Error: Invalid port given: %d\n", c.Port)
		}
	case "-P", "--pw":
		c.Password = &v
	case "--proxy":
		return c.parseProxy(v)
	case "--psk":
		c.PSK = v
	case "--psk-identity":
		c.PSKIdentity = v
	case "-q", "--qos":
		c.QoS = atoi(v)
		if c.QoS < 0 || c.QoS > 2 {
			return usagef("Error: Invalid QoS given: %d\n", c.QoS)
		}
	case "--random-filter":
		c.RandomFilter = int(10.0 * atof(v))
		if c.RandomFilter > 10000 || c.RandomFilter < 1 {
			return usagef("Error: --random-filter chance must be between 0.1-100.0\n\n")
		}
	case "--repeat":
		c.RepeatCount = atoi(v)
		if c.RepeatCount < 1 {
			return usagef("Error: --repeat argument must be >0.\n\n")
		}
	case "--repeat-delay":
		f := float32(atof(v))
		if f < 0 {
			return usagef("Error: --repeat-delay argument must be >=0.0.\n\n")
		}
		c.RepeatDelay = time.Duration(int64(f*1e6)) * time.Microsecond
	case "-t", "--topic":
		return c.addTopic(v, "-t")
	case "-T", "--filter-out":
		if !validUTF8Len(v) {
			return usagef("Error: Malformed UTF-8 in -T argument.\n\n")
		}
		if !validFilter(v) {
			return usagef("Error: Invalid filter topic '%s', are all '+' and '#' wildcards correct?\n", v)
		}
		c.FilterOuts = append(c.FilterOuts, v)
	case "--tls-alpn":
		c.TLSALPN = v
	case "--tls-engine":
		c.TLSEngine = v
	case "--tls-engine-kpass-sha1":
		c.TLSEngineKpassSHA1 = v
	case "--tls-version":
		c.TLSVersion = v
	case "-U", "--unsubscribe":
		if !validUTF8Len(v) {
			return usagef("Error: Malformed UTF-8 in -U argument.\n\n")
		}
		if !validFilter(v) {
			return usagef("Error: Invalid unsubscribe topic '%s', are all '+' and '#' wildcards correct?\n", v)
		}
		c.UnsubTopics = append(c.UnsubTopics, v)
	case "-u", "--username":
		c.Username = &v
	case "--unix":
		c.Host = v
		c.Port = 0
	case "-V", "--protocol-version":
		switch v {
		case "mqttv31", "31":
			c.ProtocolVersion = V31
		case "mqttv311", "311":
			c.ProtocolVersion = V311
		case "mqttv5", "5":
			c.ProtocolVersion = V5
		default:
			return usagef("Error: Invalid protocol version argument given.\n\n")
		}
	case "-W":
		n := atoi(v)
		if n < 1 {
			return usagef("Error: Invalid timeout \"%d\".\n\n", n)
		}
		c.Timeout = n
	case "--will-payload":
		c.WillPayload = &v
	case "--will-qos":
		c.WillQoS = atoi(v)
		if c.WillQoS < 0 || c.WillQoS > 2 {
			return usagef("Error: Invalid will QoS %d.\n\n", c.WillQoS)
		}
	case "--will-topic":
		if !validUTF8Len(v) {
			return usagef("Error: Malformed UTF-8 in --will-topic argument.\n\n")
		}
		if strings.ContainsAny(v, "+#") || len(v) > 65535 {
			return usagef("Error: Invalid will topic '%s', does it contain '+' or '#'?\n", v)
		}
		c.WillTopic = v
	case "-x":
		return c.parseSessionExpiry(v)
	}
	return nil
}

func (c *Config) parseSessionExpiry(v string) error {
	if v == "∞" {
		c.SessionExpiry = 0xFFFFFFFF
		return nil
	}
	n, ok := strtolWhole(v)
	if !ok {
		return usagef("Error: session-expiry-interval not a number.\n\n")
	}
	if n > 0xFFFFFFFF || n < -1 {
		return usagef("Error: session-expiry-interval out of range.\n\n")
	}
	if n == -1 {
		n = 0xFFFFFFFF // the documented convenience spelling of "never"
	}
	c.SessionExpiry = n
	return nil
}

// addTopic records a -t (or -L) topic: one publish topic for pub and rr,
// the last one winning, or another subscription for sub.
func (c *Config) addTopic(t, arg string) error {
	if !validUTF8Len(t) {
		return usagef("Error: Malformed UTF-8 in %s argument.\n\n", arg)
	}
	if c.Tool == Sub {
		if !validFilter(t) {
			return usagef("Error: Invalid subscription topic '%s', are all '+' and '#' wildcards correct?\n", t)
		}
		c.Topics = append(c.Topics, t)
		return nil
	}
	if strings.ContainsAny(t, "+#") || len(t) > 65535 {
		return usagef("Error: Invalid publish topic '%s', does it contain '+' or '#'?\n", t)
	}
	c.Topic = t
	return nil
}

// validUTF8Len is mosquitto_validate_utf8 on a whole C string.
func validUTF8Len(s string) bool {
	return len(s) <= 65536 && validUTF8(s)
}

// validFilter is mosquitto_sub_topic_check: '+' and '#' must fill a whole
// level and '#' must be last.
func validFilter(f string) bool {
	if len(f) > 65535 {
		return false
	}
	for i := 0; i < len(f); i++ {
		prevOK := i == 0 || f[i-1] == '/'
		switch f[i] {
		case '+':
			if !prevOK || (i+1 < len(f) && f[i+1] != '/') {
				return false
			}
		case '#':
			if !prevOK || i+1 < len(f) {
				return false
			}
		}
	}
	return true
}
