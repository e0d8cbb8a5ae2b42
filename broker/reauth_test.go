package broker_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// methodAuth is a test Authorizer for enhanced authentication: method
// "TOKEN", whose data is "user:seconds-valid:topic-prefix". It names the
// user, sets the expiry and grants the prefix through ClientInfo.Grant.
type methodAuth struct{}

func (methodAuth) SupportsAuthMethod(_ *broker.Listener, m string) bool { return m == "TOKEN" }

func (methodAuth) Authenticate(c *broker.ClientInfo) byte {
	if c.AuthMethod == "" {
		return 0
	}
	f := strings.Split(string(c.AuthData), ":")
	if len(f) != 3 || f[0] == "" {
		return byte(packet.BadUsernameOrPassword) // a CONNACK-only code
	}
	d, err := time.ParseDuration(f[1])
	if err != nil || d <= 0 {
		return byte(packet.NotAuthorized)
	}
	c.Username, c.HasUsername = f[0], true
	c.Expires = time.Now().Add(d)
	c.Grant = f[2]
	return 0
}

func (methodAuth) Authorize(c *broker.ClientInfo, topic string, _ broker.Access) bool {
	prefix, ok := c.Grant.(string)
	return !ok || strings.HasPrefix(topic, prefix)
}

func tokenConnect(id, method, data string) *packet.Connect {
	p := &packet.Connect{ClientID: id, CleanStart: true}
	p.Properties.AuthMethod, p.Properties.AuthData = method, []byte(data)
	p.Properties.Set(packet.PropAuthMethod)
	p.Properties.Set(packet.PropAuthData)
	return p
}

func reauthPacket(reason packet.ReasonCode, method, data string) *packet.Auth {
	a := &packet.Auth{ReasonCode: reason}
	a.Properties.AuthMethod, a.Properties.AuthData = method, []byte(data)
	a.Properties.Set(packet.PropAuthMethod)
	a.Properties.Set(packet.PropAuthData)
	return a
}

func TestEnhancedAuthentication(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
	l.AllowAnonymous = false
	b := serve(t, broker.New(testOptions()), ln, l)
	b.SetAuthorizer(methodAuth{})

	// A method the Authorizer does not support: 0x8C.
	c := dialRaw(t, b.addr, packet.V5)
	if ack := c.connect(tokenConnect("m0", "SCRAM-SHA-1", "x")); ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("unsupported method: %v", ack.ReasonCode)
	}
	// Refused data: the Authorizer's reason.
	c = dialRaw(t, b.addr, packet.V5)
	if ack := c.connect(tokenConnect("m1", "TOKEN", "nonsense")); ack.ReasonCode != packet.BadUsernameOrPassword {
		t.Fatalf("bad data: %v", ack.ReasonCode)
	}

	// Accepted without a username, on a listener without anonymous
	// clients: the CONNACK names the method; the grant limits publishing.
	sub := dialRaw(t, b.addr, packet.V5)
	if ack := sub.connect(tokenConnect("sub", "TOKEN", "watcher:1h:")); ack.ReasonCode != 0 {
		t.Fatalf("watcher: %v", ack.ReasonCode)
	}
	sub.subscribe(1, packet.Subscription{Filter: "#"})
	c = dialRaw(t, b.addr, packet.V5)
	ack := c.connect(tokenConnect("m2", "TOKEN", "dev:1h:dev/"))
	if ack.ReasonCode != 0 || ack.Properties.AuthMethod != "TOKEN" {
		t.Fatalf("CONNACK %v method %q", ack.ReasonCode, ack.Properties.AuthMethod)
	}
	c.publish("other/x", "no", 0, false, 0)
	c.publish("dev/x", "yes", 0, false, 0)
	if p := sub.expectPublish(); p.Topic != "dev/x" {
		t.Fatalf("delivered %s", p.Topic)
	}

	// Re-authentication: AUTH 0x00 back, the new grant applies at once.
	c.send(reauthPacket(packet.ReAuthenticate, "TOKEN", "dev:1h:other/"))
	if a, ok := c.recv().(*packet.Auth); !ok || a.ReasonCode != packet.Success || a.Properties.AuthMethod != "TOKEN" {
		t.Fatalf("re-authentication answered %v", a)
	}
	c.publish("dev/x", "no", 0, false, 0)
	c.publish("other/y", "yes", 0, false, 0)
	if p := sub.expectPublish(); p.Topic != "other/y" {
		t.Fatalf("after re-authentication delivered %s", p.Topic)
	}
	// Another method, or a refused one: disconnected.
	c.send(reauthPacket(packet.ReAuthenticate, "OTHER", "dev:1h:x"))
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("re-authentication with another method: %v", d)
	}
	c = dialRaw(t, b.addr, packet.V5)
	c.connect(tokenConnect("m3", "TOKEN", "dev:1h:dev/"))
	c.send(reauthPacket(packet.ReAuthenticate, "TOKEN", "nonsense"))
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.NotAuthorized {
		t.Fatalf("refused re-authentication: %v, want DISCONNECT 0x87", d)
	}
	// Continuing an exchange nobody started is a protocol error.
	c = dialRaw(t, b.addr, packet.V5)
	c.connect(tokenConnect("m4", "TOKEN", "dev:1h:dev/"))
	c.send(reauthPacket(packet.ContinueAuthentication, "TOKEN", "x"))
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("AUTH 0x18: %v", d)
	}
	// A client that did not authenticate with a method may not AUTH.
	b = startBroker(t, testOptions(), nil)
	b.SetAuthorizer(methodAuth{})
	c = dialRaw(t, b.addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "m5", CleanStart: true})
	c.send(reauthPacket(packet.ReAuthenticate, "TOKEN", "dev:1h:dev/"))
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("AUTH without a method: %v", d)
	}
}

// TestCredentialExpiry: a client whose credentials expire is disconnected
// with 0xA0 then, unless it re-authenticated in time.
func TestCredentialExpiry(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	b.SetAuthorizer(methodAuth{})
	short := dialRaw(t, b.addr, packet.V5)
	short.connect(tokenConnect("short", "TOKEN", "u:300ms:x"))
	renewed := dialRaw(t, b.addr, packet.V5)
	renewed.connect(tokenConnect("renewed", "TOKEN", "u:300ms:x"))
	renewed.send(reauthPacket(packet.ReAuthenticate, "TOKEN", "u:1h:x"))
	if a, ok := renewed.recv().(*packet.Auth); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("re-authentication answered %v", a)
	}
	start := time.Now()
	if d := short.expectClosed(); d == nil || d.ReasonCode != packet.MaximumConnectTime {
		t.Fatalf("expired: DISCONNECT %v", d)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("disconnected after %v", waited)
	}
	time.Sleep(400 * time.Millisecond)
	renewed.ping()
}
