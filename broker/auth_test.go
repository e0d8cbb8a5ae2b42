package broker_test

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// tableAuth is a test Authorizer: users with passwords, and topic prefixes
// each user may read or write ("" = anonymous).
type tableAuth struct {
	mu        sync.Mutex
	passwords map[string]string
	read      map[string][]string
	write     map[string][]string
	subscribe map[string][]string
	// unsubscribe, when set, limits unsubscribing as the others do.
	unsubscribe map[string][]string
	seen        []string // usernames passed to Authorize
}

func (a *tableAuth) Authenticate(c *broker.ClientInfo) byte {
	if !c.HasUsername {
		return 0
	}
	pw, ok := a.passwords[c.Username]
	if !ok || pw != string(c.Password) {
		return byte(packet.BadUsernameOrPassword)
	}
	return 0
}

func (a *tableAuth) Authorize(c *broker.ClientInfo, t string, access broker.Access) bool {
	a.mu.Lock()
	a.seen = append(a.seen, c.Username)
	a.mu.Unlock()
	rules := map[broker.Access]map[string][]string{broker.AccessRead: a.read, broker.AccessWrite: a.write, broker.AccessSubscribe: a.subscribe, broker.AccessUnsubscribe: a.unsubscribe}[access]
	if rules == nil {
		return true
	}
	for _, prefix := range rules[c.Username] {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}

func connectAs(t *testing.T, addr string, v byte, id, user, pass string) (*rawClient, *packet.Connack) {
	c := dialRaw(t, addr, v)
	p := &packet.Connect{ClientID: id, CleanStart: true}
	if user != "" {
		p.Username, p.UsernameFlag = user, true
		p.Password, p.PasswordFlag = []byte(pass), true
	}
	return c, c.connect(p)
}

func TestRefusedLoginCodes(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	b.SetAuthorizer(&tableAuth{passwords: map[string]string{"alice": "secret"}})
	for _, tc := range []struct {
		v          byte
		user, pass string
		want       packet.ReasonCode
	}{
		{packet.V311, "alice", "secret", 0},
		{packet.V311, "alice", "wrong", packet.V3BadUsernameOrPassword},
		{packet.V311, "mallory", "x", packet.V3BadUsernameOrPassword},
		{packet.V31, "alice", "wrong", packet.V3BadUsernameOrPassword},
		{packet.V5, "alice", "wrong", packet.BadUsernameOrPassword},
		{packet.V5, "alice", "secret", 0},
	} {
		c, ack := connectAs(t, b.addr, tc.v, "c1", tc.user, tc.pass)
		if ack.ReasonCode != tc.want {
			t.Errorf("v%d %s/%s: CONNACK %v, want %v", tc.v, tc.user, tc.pass, ack.ReasonCode, tc.want)
		}
		if tc.want != 0 {
			c.expectClosed()
		}
		c.nc.Close()
	}
}

func TestAccessChecks(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	a := &tableAuth{
		passwords: map[string]string{"pub": "p", "sub": "s"},
		write:     map[string][]string{"pub": {"ok/", "retained/"}},
		read:      map[string][]string{"sub": {"ok/", "retained/ok"}},
		subscribe: map[string][]string{"sub": {"ok/", "retained/", "#", "$SYS/"}},
	}
	b.SetAuthorizer(a)
	for _, v := range []byte{packet.V311, packet.V5} {
		pub, _ := connectAs(t, b.addr, v, "pub", "pub", "p")
		sub, _ := connectAs(t, b.addr, v, "sub", "sub", "s")

		// A refused subscription gets 0x80 (3.1.1) or 0x87 (5).
		codes := sub.subscribe(1, packet.Subscription{Filter: "ok/#", QoS: 1}, packet.Subscription{Filter: "no/#", QoS: 1}, packet.Subscription{Filter: "#", QoS: 0})
		wantRefused := packet.V3SubackFailure
		if v == packet.V5 {
			wantRefused = packet.NotAuthorized
		}
		if codes[0] != 1 || codes[1] != wantRefused || codes[2] != 0 {
			t.Fatalf("v%d SUBACK %v", v, codes)
		}
		// The broker sends retained messages for a new subscription after
		// SUBACK: wait until it has, so that the retained publishes below
		// reach sub only live, not also as retained.
		sub.ping()

		// A denied publish is acknowledged and dropped: 3.x cannot say
		// why, v5 gets 0x87.
		pub.send(&packet.Publish{Topic: "no/x", Payload: []byte("d"), QoS: 1, PacketID: 5})
		ack := pub.expectAck(packet.PUBACK, 5)
		if v == packet.V5 && ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v5 denied publish PUBACK %v", ack.ReasonCode)
		}
		pub.send(&packet.Publish{Topic: "no/x", Payload: []byte("d"), QoS: 2, PacketID: 6})
		rec := pub.expectAck(packet.PUBREC, 6)
		if v == packet.V5 && rec.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v5 denied publish PUBREC %v", rec.ReasonCode)
		}
		if v != packet.V5 {
			pub.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 6})
			pub.expectAck(packet.PUBCOMP, 6)
		}

		// Delivery is checked against the subscriber's read access: the
		// "#" subscription does not let sub read "retained/no".
		pub.publish("ok/1", "a", 1, false, 7)
		pub.publish("retained/no", "r", 0, true, 0)
		pub.publish("retained/ok", "r", 0, true, 0)
		if p := sub.expectPublish(); p.Topic != "ok/1" {
			t.Fatalf("v%d got %q", v, p.Topic)
		}
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: 1})
		if p := sub.expectPublish(); p.Topic != "retained/ok" {
			t.Fatalf("v%d got %q", v, p.Topic)
		}
		sub.expectNothing(100 * time.Millisecond)

		// Retained messages are checked too when a subscription sends them.
		late, _ := connectAs(t, b.addr, v, "late", "sub", "s")
		late.subscribe(1, packet.Subscription{Filter: "retained/#", QoS: 0})
		if p := late.expectPublish(); p.Topic != "retained/ok" {
			t.Fatalf("v%d retained got %q", v, p.Topic)
		}
		late.expectNothing(100 * time.Millisecond)
		for _, c := range []*rawClient{pub, sub, late} {
			c.nc.Close()
		}
		// Cleared at QoS 1 so that the next round's "#" subscription
		// cannot race the clear and receive these as retained.
		pub2, _ := connectAs(t, b.addr, v, "pub", "pub", "p")
		pub2.publish("retained/no", "", 1, true, 8)
		pub2.publish("retained/ok", "", 1, true, 9)
		pub2.nc.Close()
	}
}

func TestSysNeedsReadAccess(t *testing.T) {
	opts := testOptions()
	opts.SysInterval = time.Second
	b := startBroker(t, opts, nil)
	b.SetAuthorizer(&tableAuth{
		passwords: map[string]string{"ops": "o", "user": "u"},
		read:      map[string][]string{"ops": {"$SYS/"}},
	})
	user, _ := connectAs(t, b.addr, packet.V311, "user", "user", "u")
	user.subscribe(1, packet.Subscription{Filter: "$SYS/broker/version", QoS: 0})
	ops, _ := connectAs(t, b.addr, packet.V311, "ops", "ops", "o")
	ops.subscribe(1, packet.Subscription{Filter: "$SYS/broker/version", QoS: 0})
	if p := ops.expectPublish(); p.Topic != "$SYS/broker/version" {
		t.Fatalf("ops got %q", p.Topic)
	}
	user.expectNothing(200 * time.Millisecond)
}

func TestReauthenticateAfterReload(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	b.SetAuthorizer(&tableAuth{passwords: map[string]string{"alice": "a", "bob": "b"}})
	alice, _ := connectAs(t, b.addr, packet.V5, "alice", "alice", "a")
	bob, _ := connectAs(t, b.addr, packet.V311, "bob", "bob", "b")
	anon, _ := connectAs(t, b.addr, packet.V311, "anon", "", "")

	// The new password file changed alice's password.
	b.SetAuthorizer(&tableAuth{passwords: map[string]string{"alice": "new", "bob": "b"}})
	if n := b.Reauthenticate(); n != 1 {
		t.Fatalf("Reauthenticate disconnected %d clients, want 1", n)
	}
	if d := alice.expectClosed(); d == nil || d.ReasonCode != packet.NotAuthorized {
		t.Fatalf("alice got DISCONNECT %v", d)
	}
	bob.ping()
	anon.ping()
	// New connections use the new file.
	if _, ack := connectAs(t, b.addr, packet.V5, "alice2", "alice", "a"); ack.ReasonCode != packet.BadUsernameOrPassword {
		t.Fatalf("old password: CONNACK %v", ack.ReasonCode)
	}
	if _, ack := connectAs(t, b.addr, packet.V5, "alice3", "alice", "new"); ack.ReasonCode != 0 {
		t.Fatalf("new password: CONNACK %v", ack.ReasonCode)
	}
}

func TestCertUsername(t *testing.T) {
	l := broker.DefaultListener(0)
	l.UseUsernameAsClientID = true
	var identity atomic.Value
	identity.Store("device-7")
	l.CertUsername = func(net.Conn) (string, bool) {
		id := identity.Load().(string)
		return id, id != ""
	}
	b := startBroker(t, testOptions(), l)
	a := &tableAuth{
		passwords: map[string]string{}, // nobody could log in with a password
		write:     map[string][]string{"device-7": {"devices/device-7/"}},
	}
	b.SetAuthorizer(a)

	// The CONNECT's username and password are ignored: the certificate
	// names the user, who is not authenticated again.
	c, ack := connectAs(t, b.addr, packet.V5, "whatever", "root", "guess")
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	c.publish("devices/device-7/temp", "21", 1, false, 1)
	a.mu.Lock()
	seen := append([]string(nil), a.seen...)
	a.mu.Unlock()
	if len(seen) == 0 || seen[len(seen)-1] != "device-7" {
		t.Fatalf("Authorize saw usernames %q", seen)
	}
	if n := b.Reauthenticate(); n != 0 {
		t.Fatalf("Reauthenticate disconnected %d certificate clients", n)
	}
	c.ping()

	identity.Store("") // no usable certificate
	c2, ack := connectAs(t, b.addr, packet.V311, "x", "", "")
	if ack.ReasonCode != packet.V3BadUsernameOrPassword {
		t.Fatalf("no certificate: CONNACK %v", ack.ReasonCode)
	}
	c2.expectClosed()
}

// TestWillCannotWriteSys: a will may no more publish to $SYS or $share
// than a PUBLISH may, whatever the Authorizer says.
func TestWillCannotWriteSys(t *testing.T) {
	b := startBroker(t, testOptions(), nil) // AllowAll
	for _, tp := range []string{"$SYS/broker/version", "$share/g/t"} {
		c := dialRaw(t, b.addr, packet.V311)
		c.connect(&packet.Connect{ClientID: "w", CleanStart: true, Will: &packet.Will{Topic: tp, Payload: []byte("spoofed"), Retain: true}})
		c.nc.Close() // no DISCONNECT: the will would be sent
	}
	s := mustConnect(t, b.addr, packet.V311, "s", true)
	waitFor(t, "the will's connection to end", func() bool { return b.ClientCount() == 1 })
	s.subscribe(1, packet.Subscription{Filter: "$SYS/#", QoS: 0})
	s.expectNothing(200 * time.Millisecond)
}

func TestUnsubscribeDenied(t *testing.T) {
	opts := testOptions()
	opts.Auth = &tableAuth{unsubscribe: map[string][]string{"": {"free/"}}}
	b := startBroker(t, opts, nil)
	for _, v := range []byte{packet.V5, packet.V311} {
		c := mustConnect(t, b.addr, v, "u", true)
		c.subscribe(1, packet.Subscription{Filter: "kept/#"}, packet.Subscription{Filter: "free/#"})
		c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"kept/#", "free/#"}})
		ack, ok := c.recv().(*packet.Unsuback)
		if !ok {
			t.Fatal("no UNSUBACK")
		}
		if v == packet.V5 && (len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != packet.NotAuthorized || ack.ReasonCodes[1] != packet.Success) {
			t.Errorf("v5 UNSUBACK codes %v", ack.ReasonCodes)
		}
		// The refused unsubscribe left its subscription in place.
		p := mustConnect(t, b.addr, packet.V311, "p", true)
		p.publish("kept/x", "1", 0, false, 0)
		p.publish("free/x", "2", 0, false, 0)
		if m := c.expectPublish(); m.Topic != "kept/x" {
			t.Errorf("received %q", m.Topic)
		}
		c.expectNothing(100 * time.Millisecond)
	}
}
