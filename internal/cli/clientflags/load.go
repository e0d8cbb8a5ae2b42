package clientflags

import (
	"bufio"
	"bytes"
	"os"
	"strings"
)

// Env gives Parse access to the process environment and file system, so
// tests can run it hermetically.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// OSEnv is the real environment.
func OSEnv() Env { return Env{Getenv: os.Getenv, ReadFile: os.ReadFile} }

// Parse reads the tool's options file ($XDG_CONFIG_HOME/mosquitto_xxx, else
// $HOME/.config/mosquitto_xxx), then args, then applies Mosquitto's
// cross-option checks. Errors are ErrHelp, ErrVersion or *UsageError.
func Parse(tool Tool, args []string, env Env) (*Config, error) {
	c := newConfig(tool)
	if err := c.loadOptionsFile(env); err != nil {
		return c, err
	}
	if err := c.parseArgs(args); err != nil {
		return c, err
	}
	return c, c.finish()
}

func (c *Config) loadOptionsFile(env Env) error {
	var path string
	if dir := env.Getenv("XDG_CONFIG_HOME"); dir != "" {
		path = dir + "/" + c.Tool.Name()
	} else if home := env.Getenv("HOME"); home != "" {
		path = home + "/.config/" + c.Tool.Name()
	} else {
		return nil
	}
	data, err := env.ReadFile(path)
	if err != nil {
		return nil // a missing or unreadable file is silently ignored
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), len(data)+1)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		// Each line is "option" or "option value": the first space-delimited
		// token, then everything after the space that ends it.
		line = strings.TrimLeft(line, " ")
		if line == "" {
			continue
		}
		args := []string{line}
		if sp := strings.IndexByte(line, ' '); sp >= 0 {
			args = []string{line[:sp]}
			if rest := line[sp+1:]; rest != "" {
				args = append(args, rest)
			}
		}
		if err := c.parseArgs(args); err != nil {
			return err
		}
	}
	return nil
}

// finish applies the checks client_config_load makes after parsing.
func (c *Config) finish() error {
	if c.WillPayload != nil && c.WillTopic == "" {
		return usagef("Error: Will payload given, but no will topic given.\n")
	}
	if c.WillRetain && c.WillTopic == "" {
		return usagef("Error: Will retain given, but no will topic given.\n")
	}
	if (c.CertFile != "") != (c.KeyFile != "") {
		return usagef("Error: Both certfile and keyfile must be provided if one of them is set.\n")
	}
	if c.KeyForm != "" && c.KeyFile == "" {
		return usagef("Error: If keyform is set, keyfile must be also specified.\n")
	}
	if c.TLSEngineKpassSHA1 != "" && (c.KeyForm == "" || c.TLSEngine == "") {
		return usagef("Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n")
	}
	if (c.CAFile != "" || c.CAPath != "") && c.PSK != "" {
		return usagef("Error: Only one of --psk or --cafile/--capath may be used at once.\n")
	}
	if c.PSK != "" && c.PSKIdentity == "" {
		return usagef("Error: --psk-identity required if --psk used.\n")
	}

	if c.ProtocolVersion == V5 {
		if !c.CleanSession && c.SessionExpiry == SessionExpiryUnset {
			// -c without -x keeps the session for ever, as with MQTT 3.
			c.SessionExpiry = 0xFFFFFFFF
		}
		if c.SessionExpiry > 0 {
			if c.SessionExpiry == 0xFFFFFFFF && (c.IDPrefix != "" || c.ID == "") {
				return usagef("Error: You must provide a client id if you are using an infinite session expiry interval.\n")
			}
			c.ConnectProps = append(c.ConnectProps, Property{ID: PropSessionExpiry, Type: TypeInt32, Value: uint32(c.SessionExpiry)})
		}
	} else if !c.CleanSession && (c.IDPrefix != "" || c.ID == "") {
		return usagef("Error: You must provide a client id if you are using the -c option.\n")
	}

	if c.Tool == Sub && len(c.Topics) == 0 {
		return usagef("Error: You must specify a topic to subscribe to.\n")
	}
	if c.Host == "" {
		c.Host = "localhost"
	}

	for _, pl := range []struct {
		cmd   Command
		name  string
		props []Property
	}{
		{CmdConnect, "CONNECT", c.ConnectProps},
		{CmdPublish, "PUBLISH", c.PublishProps},
		{CmdSubscribe, "SUBSCRIBE", c.SubscribeProps},
		{CmdUnsubscribe, "UNSUBSCRIBE", c.UnsubscribeProps},
		{CmdDisconnect, "DISCONNECT", c.DisconnectProps},
		{CmdWill, "Will", c.WillProps},
	} {
		if err := checkAll(pl.cmd, pl.props); err != nil {
			return &UsageError{Msg: "Error in " + pl.name + " properties: " + err.Error() + "\n", Quietable: true}
		}
	}
	return nil
}
