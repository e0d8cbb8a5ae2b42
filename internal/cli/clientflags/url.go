package clientflags

import (
	"strconv"
	"strings"

	"github.com/midge-mqtt/midge/internal/cli/format"
)

func checkFormat(f string) error {
	if err := format.Check(f); err != nil {
		return usagef("%s\n", err)
	}
	return nil
}

// parseURL handles -L mqtt(s)://[username[:password]@]host[:port]/topic.
// ws:// and wss:// are accepted too, as Mosquitto 2.1 does.
func (c *Config) parseURL(url string) error {
	lower := strings.ToLower(url)
	switch {
	case strings.HasPrefix(lower, "mqtt://"):
		url = url[len("mqtt://"):]
		c.Port = 1883
	case strings.HasPrefix(lower, "mqtts://"):
		url = url[len("mqtts://"):]
		c.Port = 8883
		c.TLSUseOSCerts = true
	case strings.HasPrefix(lower, "ws://"):
		url = url[len("ws://"):]
		c.Port = 1883
		c.UseWebSockets = true
	case strings.HasPrefix(lower, "wss://"):
		url = url[len("wss://"):]
		c.Port = 8883
		c.TLSUseOSCerts = true
		c.UseWebSockets = true
	default:
		return usagef("Error: unsupported URL scheme.\n\n")
	}
	slash := strings.IndexByte(url, '/')
	if slash < 0 {
		return usagef("Error: Invalid URL for -L argument specified - topic missing.\n")
	}
	url, topic := url[:slash], url[slash+1:]
	if err := c.addTopic(topic, "-L topic"); err != nil {
		return err
	}
	if at := strings.IndexByte(url, '@'); at >= 0 {
		userinfo := url[:at]
		url = url[at+1:]
		if colon := strings.IndexByte(userinfo, ':'); colon >= 0 {
			pw := userinfo[colon+1:]
			c.Password = &pw
			userinfo = userinfo[:colon]
		}
		c.Username = &userinfo
	}
	if colon := strings.IndexByte(url, ':'); colon >= 0 {
		c.Port = atoi(url[colon+1:])
		url = url[:colon]
	}
	c.Host = url
	return nil
}

// Proxy is a parsed --proxy socks5h:// URL.
type Proxy struct {
	Host               string
	Port               int
	Username, Password string
}

// ParsedProxy returns the --proxy setting, or nil.
func (c *Config) ParsedProxy() *Proxy {
	if c.Proxy == "" {
		return nil
	}
	p, _ := parseSocksURL(c.Proxy)
	return p
}

func (c *Config) parseProxy(v string) error {
	if _, err := parseSocksURL(v); err != nil {
		return err
	}
	c.Proxy = v
	return nil
}

// parseSocksURL accepts socks5h://[username[:password]@]host[:port], with
// %25, %3A and %40 decoded in the credentials.
func parseSocksURL(v string) (*Proxy, error) {
	const scheme = "socks5h://"
	if !strings.HasPrefix(v, scheme) {
		return nil, &UsageError{Msg: "Error: Unsupported proxy protocol: " + v + "\n", Quietable: true}
	}
	rest := v[len(scheme):]
	p := &Proxy{Port: 1080}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user := rest[:at]
		rest = rest[at+1:]
		if colon := strings.IndexByte(user, ':'); colon >= 0 {
			p.Password = socksUnescape(user[colon+1:])
			user = user[:colon]
		}
		if user == "" {
			return nil, usagef("")
		}
		p.Username = socksUnescape(user)
	}
	if colon := strings.IndexByte(rest, ':'); colon >= 0 {
		p.Port = atoi(rest[colon+1:])
		rest = rest[:colon]
		if p.Port < 1 || p.Port > 65535 {
			return nil, &UsageError{Msg: "Error: Invalid proxy port " + strconv.Itoa(p.Port) + "\n", Quietable: true}
		}
	}
	if rest == "" {
		return nil, &UsageError{Msg: "Error: Invalid proxy.\n", Quietable: true}
	}
	p.Host = rest
	return p, nil
}

func socksUnescape(s string) string {
	r := strings.NewReplacer("%25", "%", "%3a", ":", "%3A", ":", "%40", "@")
	return r.Replace(s)
}
