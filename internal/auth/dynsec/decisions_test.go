package dynsec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/midge-mqtt/midge/client"
)

// decisionsSetup is the configuration both brokers judge by: roles with
// overlapping ACLs of every type and priority, clients with their own
// roles and groups, a disabled client, a client without a password, a
// client bound to a client id, and an anonymous group.
const decisionsSetup = `{"commands": [
{"command": "createRole", "rolename": "pub", "acls": [
	{"acltype": "publishClientSend", "topic": "sensors/+/temp", "allow": true},
	{"acltype": "publishClientSend", "topic": "sensors/secret/#", "priority": 10, "allow": false},
	{"acltype": "publishClientSend", "topic": "cmd/#", "priority": -1, "allow": true},
	{"acltype": "publishClientSend", "topic": "$SYS/x", "allow": true},
	{"acltype": "publishClientSend", "topic": "$CONTROL/foo/#", "allow": true},
	{"acltype": "publishClientReceive", "topic": "news/#", "allow": true},
	{"acltype": "publishClientReceive", "topic": "news/private", "priority": 5, "allow": false},
	{"acltype": "subscribeLiteral", "topic": "sensors/room1/temp", "allow": true},
	{"acltype": "subscribeLiteral", "topic": "exact/+", "allow": true},
	{"acltype": "subscribeLiteral", "topic": "sensors/secret/x", "priority": -10, "allow": true},
	{"acltype": "subscribePattern", "topic": "sensors/#", "priority": 1, "allow": true},
	{"acltype": "subscribePattern", "topic": "sensors/secret/#", "priority": 2, "allow": false},
	{"acltype": "subscribePattern", "topic": "news/+", "allow": true},
	{"acltype": "unsubscribeLiteral", "topic": "keep/this", "allow": false},
	{"acltype": "unsubscribePattern", "topic": "keep/#", "allow": true}]},
{"command": "createRole", "rolename": "deny", "acls": [
	{"acltype": "publishClientSend", "topic": "#", "priority": -5, "allow": false},
	{"acltype": "publishClientReceive", "topic": "#", "priority": -5, "allow": false},
	{"acltype": "subscribePattern", "topic": "#", "priority": -5, "allow": false},
	{"acltype": "unsubscribePattern", "topic": "#", "priority": -5, "allow": false}]},
{"command": "createRole", "rolename": "grp", "acls": [
	{"acltype": "publishClientSend", "topic": "group/#", "allow": true},
	{"acltype": "publishClientReceive", "topic": "group/#", "allow": true},
	{"acltype": "subscribePattern", "topic": "group/#", "allow": true},
	{"acltype": "subscribePattern", "topic": "+/temp", "allow": true}]},
{"command": "createRole", "rolename": "anon", "acls": [
	{"acltype": "publishClientSend", "topic": "anon/#", "allow": true},
	{"acltype": "publishClientReceive", "topic": "anon/#", "allow": true},
	{"acltype": "subscribeLiteral", "topic": "anon/topic", "allow": true}]},
{"command": "createGroup", "groupname": "g1"},
{"command": "createGroup", "groupname": "g2"},
{"command": "createGroup", "groupname": "ga"},
{"command": "addGroupRole", "groupname": "g1", "rolename": "grp"},
{"command": "addGroupRole", "groupname": "g2", "rolename": "deny"},
{"command": "addGroupRole", "groupname": "ga", "rolename": "anon"},
{"command": "setAnonymousGroup", "groupname": "ga"},
{"command": "createClient", "username": "alice", "password": "apw"},
{"command": "addClientRole", "username": "alice", "rolename": "pub", "priority": 1},
{"command": "addGroupClient", "username": "alice", "groupname": "g1", "priority": 5},
{"command": "createClient", "username": "bob", "password": "bpw", "clientid": "bob-id"},
{"command": "addGroupClient", "username": "bob", "groupname": "g2", "priority": 2},
{"command": "addGroupClient", "username": "bob", "groupname": "g1", "priority": 1},
{"command": "createClient", "username": "carol", "password": "cpw"},
{"command": "disableClient", "username": "carol"},
{"command": "createClient", "username": "dave"},
{"command": "addClientRole", "username": "dave", "rolename": "pub"},
{"command": "createClient", "username": "eve", "password": "epw"},
{"command": "addGroupClient", "username": "eve", "groupname": "g2"},
{"command": "addClientRole", "username": "eve", "rolename": "grp", "priority": -9},
{"command": "createClient", "username": "nul", "password": "a"}
]}`

type login struct {
	clientID, username, password string
}

var logins = []login{
	{"a1", "alice", "apw"},
	{"a2", "alice", "wrong"},
	{"a3", "alice", ""},
	{"bob-id", "bob", "bpw"},
	{"other", "bob", "bpw"},
	{"bob-id", "bob", "nope"},
	{"c1", "carol", "cpw"},
	{"d1", "dave", "anything"},
	{"d2", "dave", ""},
	{"e1", "eve", "epw"},
	{"x1", "mallory", "pw"},
	{"n1", "", ""},
	{"n2", "nul", "a\x00b"}, // hashed up to the NUL, as in C
}

// clients that can connect, for the ACL checks.
var judged = []login{{"a1", "alice", "apw"}, {"bob-id", "bob", "bpw"}, {"e1", "eve", "epw"}, {"anon", "", ""}}

var (
	writeTopics = []string{"sensors/room1/temp", "sensors/secret/temp", "sensors/secret/x/y", "cmd/reboot", "cmd",
		"group/a", "anon/x", "news/private", "other", "$SYS/x", "$CONTROL/foo/v1", "x/temp"}
	subscribeFilters = []string{"sensors/room1/temp", "sensors/+/temp", "sensors/#", "sensors/secret/#", "sensors/secret/+",
		"sensors/secret/x", "exact/+", "exact/x", "news/+", "news/#", "group/#", "group/+/x", "anon/topic", "anon/#", "#", "+/temp",
		"x/temp", "$SYS/#", "$share/g/sensors/x", "$share/g/group/x"}
	unsubscribeFilters = []string{"keep/this", "keep/that", "keep/#", "other", "sensors/#", "group/x"}
	readTopics         = []string{"news/a", "news/private", "group/x", "anon/y", "other/z", "sensors/room1/temp", "$SYS/y"}
)

// TestDecisionsAgainstMosquitto sets up the same configuration in Debian's
// mosquitto (with the plugin, allow_anonymous true, no password or ACL
// file) and in midge, and checks that every CONNECT, PUBLISH, SUBSCRIBE,
// UNSUBSCRIBE and delivery of a set of clients and topics has the outcome
// Authenticate and Authorize predict, chained as Mosquitto chains them:
// with no other check configured, a Defer is a refusal, except for a
// CONNECT without username. mosquitto reads the file midge wrote.
func TestDecisionsAgainstMosquitto(t *testing.T) {
	pluginPath(t)
	path := newInitFile(t)
	s := open(t, path)
	if resp, _ := s.Handle("", "", []byte(decisionsSetup)); strings.Contains(string(resp), `"error"`) {
		t.Fatalf("setup: %s", resp)
	}
	m := startMosquitto(t, path, "allow_anonymous true\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, l := range logins {
		var pw []byte
		if l.password != "" {
			pw = []byte(l.password)
		}
		want := s.Authenticate(l.clientID, l.username, l.username != "", pw, pw != nil)
		c, err := connect(ctx, m.addr, l.clientID, l.username, pw, nil)
		if err != nil && !isRefused(err) {
			t.Fatal(err)
		}
		accepted := err == nil
		if err == nil {
			c.Close()
		}
		if predicted := want == Allow || (want == Defer && l.username == ""); accepted != predicted {
			t.Errorf("connect %+v: mosquitto accepted=%v, dynsec says %v", l, accepted, want)
		}
	}

	a := connectAdmin(t, m.addr)
	for _, defaults := range []string{
		`[{"acltype": "publishClientSend", "allow": false}, {"acltype": "publishClientReceive", "allow": true}, {"acltype": "subscribe", "allow": false}, {"acltype": "unsubscribe", "allow": true}]`,
		`[{"acltype": "publishClientSend", "allow": true}, {"acltype": "publishClientReceive", "allow": false}, {"acltype": "subscribe", "allow": true}, {"acltype": "unsubscribe", "allow": false}]`,
	} {
		bothHandle(t, a, s, `{"commands": [{"command": "setDefaultACLAccess", "acls": `+defaults+`}]}`)
		for _, l := range judged {
			checkWriteSubscribe(ctx, t, m.addr, s, l)
		}
		checkReads(ctx, t, a, m.addr, s)
	}
}

// bothHandle sends a request to mosquitto and to midge and requires the
// same answer.
func bothHandle(t *testing.T, a *admin, s *Security, req string) {
	t.Helper()
	want := a.request(req)
	got, _ := s.Handle("ctrl-test", "admin", []byte(req))
	if string(got) != string(want) {
		t.Fatalf("%s:\nmidge     %s\nmosquitto %s", req, got, want)
	}
}

func (l login) connect(ctx context.Context, t *testing.T, addr string, onMessage func(*mqtt.Client, *mqtt.Message)) *mqtt.Client {
	t.Helper()
	var pw []byte
	if l.password != "" {
		pw = []byte(l.password)
	}
	c, err := connect(ctx, addr, l.clientID, l.username, pw, onMessage)
	if err != nil {
		t.Fatalf("connect %+v: %v", l, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// allowed is what the broker makes of a dynsec answer for an ACL check
// when no other check is configured: the built-in $SYS and $share rules
// come first, and a Defer is a refusal.
func allowed(topic string, access Access, r Result) bool {
	if access == Write && strings.HasPrefix(topic, "$SYS") && !topicMatches("$SYS/broker/connection/+/state", topic) {
		return false
	}
	return r == Allow
}

func checkWriteSubscribe(ctx context.Context, t *testing.T, addr string, s *Security, l login) {
	c := l.connect(ctx, t, addr, nil)
	defer c.Close()
	who := l.username
	if who == "" {
		who = "(anonymous)"
	}
	for _, topic := range writeTopics {
		var code mqtt.ReasonCode
		ack, err := c.Publish(ctx, &mqtt.Message{Topic: topic, QoS: 1, Payload: []byte("x")})
		var re *mqtt.ReasonError
		switch {
		case errors.As(err, &re):
			code = re.ReasonCode
		case err != nil:
			t.Fatalf("%s publishing %s: %v", who, topic, err)
		default:
			code = ack.ReasonCode
		}
		r := s.Authorize(l.clientID, l.username, l.username != "", topic, Write)
		if got, want := code < 0x80, allowed(topic, Write, r); got != want {
			t.Errorf("%s publish %s: mosquitto PUBACK %#x, dynsec says %v", who, topic, byte(code), r)
		}
	}
	for _, filter := range subscribeFilters {
		ack, err := c.Subscribe(ctx, nil, mqtt.Subscription{Filter: filter})
		if err != nil {
			t.Fatalf("%s subscribing %s: %v", who, filter, err)
		}
		r := s.Authorize(l.clientID, l.username, l.username != "", filter, Subscribe)
		if got, want := ack.ReasonCodes[0] < 0x80, allowed(filter, Subscribe, r); got != want {
			t.Errorf("%s subscribe %s: mosquitto SUBACK %#x, dynsec says %v", who, filter, byte(ack.ReasonCodes[0]), r)
		}
	}
	for _, filter := range unsubscribeFilters {
		ack, err := c.Unsubscribe(ctx, nil, filter)
		if err != nil {
			t.Fatalf("%s unsubscribing %s: %v", who, filter, err)
		}
		r := s.Authorize(l.clientID, l.username, l.username != "", filter, Unsubscribe)
		if got, want := ack.ReasonCodes[0] < 0x80, allowed(filter, Unsubscribe, r); got != want {
			t.Errorf("%s unsubscribe %s: mosquitto UNSUBACK %#x, dynsec says %v", who, filter, byte(ack.ReasonCodes[0]), r)
		}
	}
}

// checkReads has a publisher send each read topic to every judged client,
// subscribed to it, followed by a sentinel that they all receive: a topic
// that arrives before the sentinel was delivered, one that does not was
// refused. The roles that make this possible (subscribing to everything,
// publishing everything, receiving the sentinel) grant nothing else, so
// they do not change the Read checks under test.
func checkReads(ctx context.Context, t *testing.T, a *admin, addr string, s *Security) {
	setup := []string{
		`{"commands": [{"command": "createRole", "rolename": "probe", "acls": [{"acltype": "subscribePattern", "topic": "#", "priority": 1000, "allow": true}, {"acltype": "publishClientReceive", "topic": "sentinel", "priority": 1000, "allow": true}]},
			{"command": "addClientRole", "username": "alice", "rolename": "probe"}, {"command": "addClientRole", "username": "bob", "rolename": "probe"},
			{"command": "addClientRole", "username": "eve", "rolename": "probe"}, {"command": "addGroupRole", "groupname": "ga", "rolename": "probe", "priority": 1000},
			{"command": "createRole", "rolename": "sender", "acls": [{"acltype": "publishClientSend", "topic": "#", "allow": true}]},
			{"command": "createClient", "username": "sender", "password": "spw", "roles": [{"rolename": "sender"}]}]}`,
	}
	cleanup := `{"commands": [{"command": "deleteClient", "username": "sender"}, {"command": "deleteRole", "rolename": "sender"}, {"command": "deleteRole", "rolename": "probe"}]}`
	for _, req := range setup {
		bothHandle(t, a, s, req)
	}
	defer bothHandle(t, a, s, cleanup)

	type inbox struct {
		mu   sync.Mutex
		got  []string
		done chan struct{}
	}
	boxes := make([]*inbox, len(judged))
	for i, l := range judged {
		box := &inbox{done: make(chan struct{})}
		boxes[i] = box
		c := l.connect(ctx, t, addr, func(_ *mqtt.Client, m *mqtt.Message) {
			box.mu.Lock()
			defer box.mu.Unlock()
			if m.Topic == "sentinel" {
				close(box.done)
				return
			}
			box.got = append(box.got, m.Topic)
		})
		defer c.Close()
		subs := []mqtt.Subscription{{Filter: "sentinel"}}
		for _, topic := range readTopics {
			subs = append(subs, mqtt.Subscription{Filter: topic})
		}
		ack, err := c.Subscribe(ctx, nil, subs...)
		if err != nil {
			t.Fatal(err)
		}
		for i, code := range ack.ReasonCodes {
			if code >= 0x80 {
				t.Fatalf("%v could not subscribe to %s", l, subs[i].Filter)
			}
		}
	}
	sender := login{"sender", "sender", "spw"}.connect(ctx, t, addr, nil)
	defer sender.Close()
	for _, topic := range append(readTopics, "sentinel") {
		if strings.HasPrefix(topic, "$SYS") {
			continue // nobody may publish there
		}
		if _, err := sender.Publish(ctx, &mqtt.Message{Topic: topic, QoS: 1}); err != nil {
			t.Fatalf("sender publishing %s: %v", topic, err)
		}
	}
	for i, l := range judged {
		select {
		case <-boxes[i].done:
		case <-ctx.Done():
			t.Fatalf("%v: no sentinel", l)
		}
		boxes[i].mu.Lock()
		got := fmt.Sprint(boxes[i].got)
		boxes[i].mu.Unlock()
		var want []string
		for _, topic := range readTopics {
			if !strings.HasPrefix(topic, "$SYS") && s.Authorize(l.clientID, l.username, l.username != "", topic, Read) == Allow {
				want = append(want, topic)
			}
		}
		if got != fmt.Sprint(want) {
			t.Errorf("%v received %s from mosquitto; dynsec allows %v", l, got, want)
		}
	}
}
