package control_test

import (
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/control"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTime bounds every wait; nothing sleeps to synchronise.
const waitTime = 5 * time.Second

// startBroker serves a broker (anonymous clients allowed, no $SYS) on
// 127.0.0.1:0 until the test ends.
func startBroker(t *testing.T) (*broker.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	srv := broker.New(opts)
	l := broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
	l.AllowAnonymous = true
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// listenersOf describes srv's listeners as internal/service would for
// plain TCP ones.
func listenersOf(srv *broker.Server) func() []control.Listener {
	return func() []control.Listener {
		var out []control.Listener
		for _, d := range srv.Listeners() {
			host, _, _ := net.SplitHostPort(d.Address)
			out = append(out, control.Listener{Port: d.Port, BindAddress: host, Protocol: "mqtt"})
		}
		return out
	}
}

// admin is an MQTT 3.1.1 client subscribed to $CONTROL/# and to marker,
// an ordinary topic it publishes to after a request: the broker handles
// the request (and publishes the response) before it reads the marker,
// so once the marker is in, everything the request caused is too.
type admin struct {
	t   *testing.T
	c   mqtt.Client
	got chan mqtt.Message
}

func dialAdmin(t *testing.T, addr, id string) *admin {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	a := &admin{t: t, c: c, got: make(chan mqtt.Message, 16)}
	tok := c.SubscribeMultiple(map[string]byte{"$CONTROL/#": 1, "marker": 1}, func(_ mqtt.Client, m mqtt.Message) { a.got <- m })
	if !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return a
}

// publish sends a QoS 1 message and waits for its PUBACK.
func (a *admin) publish(topic, payload string) {
	a.t.Helper()
	if tok := a.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		a.t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// exchange publishes payload to topic, then the marker, and returns what
// arrived before the marker.
func (a *admin) exchange(topic, payload string) []mqtt.Message {
	a.t.Helper()
	a.publish(topic, payload)
	a.publish("marker", "")
	var out []mqtt.Message
	for {
		select {
		case m := <-a.got:
			if m.Topic() == "marker" {
				return out
			}
			out = append(out, m)
		case <-time.After(waitTime):
			a.t.Fatalf("no marker after a request to %s", topic)
		}
	}
}

// request sends a control request and returns the one response, decoded.
// Any other message (the request routed to $CONTROL/#) fails the test.
func (a *admin) request(payload string) []map[string]any {
	a.t.Helper()
	msgs := a.exchange(control.Topic, payload)
	if len(msgs) != 1 || msgs[0].Topic() != control.ResponseTopic {
		for _, m := range msgs {
			a.t.Errorf("received %s %s", m.Topic(), m.Payload())
		}
		a.t.Fatalf("request %s: want one message on %s", payload, control.ResponseTopic)
	}
	if msgs[0].Qos() != 0 || msgs[0].Retained() {
		a.t.Errorf("response QoS %d retained %v, want QoS 0 not retained", msgs[0].Qos(), msgs[0].Retained())
	}
	var r struct {
		Responses []map[string]any `json:"responses"`
	}
	if err := json.Unmarshal(msgs[0].Payload(), &r); err != nil {
		a.t.Fatalf("response %s: %v", msgs[0].Payload(), err)
	}
	return r.Responses
}

// decode is JSON text as request's maps hold it.
func decode(t *testing.T, s string) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func TestBrokerControl(t *testing.T) {
	srv, addr := startBroker(t)
	_, port, _ := net.SplitHostPort(addr)
	control.Register(srv, control.Info{
		Listeners: listenersOf(srv),
		Plugins: func() []control.Plugin {
			return []control.Plugin{{Name: "dynamic-security", ControlEndpoints: []string{"$CONTROL/dynamic-security/v1"}}}
		},
	})
	a := dialAdmin(t, addr, "ctl")
	tests := []struct{ name, request, want string }{
		{"listListeners", `{"commands":[{"command":"listListeners","correlationData":"l1"}]}`,
			`[{"command":"listListeners","data":{"listeners":[{"port":` + port + `,"protocol":"mqtt","bind-address":"127.0.0.1","tls":false}]},"correlationData":"l1"}]`},
		{"listPlugins", `{"commands":[{"command":"listPlugins","correlationData":"p1"}]}`,
			`[{"command":"listPlugins","data":{"plugins":[{"name":"dynamic-security","control-endpoints":["$CONTROL/dynamic-security/v1"]}]},"correlationData":"p1"}]`},
		{"unknown command", `{"commands":[{"command":"getPluginInfo","correlationData":"u1"}]}`,
			`[{"command":"getPluginInfo","error":"Unknown command","correlationData":"u1"}]`},
		{"missing command", `{"commands":[{"correlationData":"m1"}]}`,
			`[{"command":"Unknown command","error":"Missing command"}]`},
		{"missing commands", `{"listPlugins":true}`,
			`[{"command":"Unknown command","error":"Invalid/missing commands"}]`},
		{"invalid JSON", `listPlugins`,
			`[{"command":"Unknown command","error":"Payload not valid JSON"}]`},
		{"several commands", `{"commands":[{"command":"listPlugins","correlationData":"1"},{"command":"nope","correlationData":"2"},{"command":"listListeners","correlationData":"3"}]}`,
			`[{"command":"listPlugins","data":{"plugins":[{"name":"dynamic-security","control-endpoints":["$CONTROL/dynamic-security/v1"]}]},"correlationData":"1"},` +
				`{"command":"nope","error":"Unknown command","correlationData":"2"},` +
				`{"command":"listListeners","data":{"listeners":[{"port":` + port + `,"protocol":"mqtt","bind-address":"127.0.0.1","tls":false}]},"correlationData":"3"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := a.request(tt.request), decode(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

// Without plugins, listPlugins says so: midge loads none.
func TestNoPlugins(t *testing.T) {
	srv, addr := startBroker(t)
	control.Register(srv, control.Info{Listeners: listenersOf(srv)})
	a := dialAdmin(t, addr, "ctl")
	got := a.request(`{"commands":[{"command":"listPlugins"}]}`)
	if want := decode(t, `[{"command":"listPlugins","data":{"plugins":[]}}]`); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Once unregistered, a request gets no answer and, as every $CONTROL
// publish, is not routed either.
func TestUnregister(t *testing.T) {
	srv, addr := startBroker(t)
	unregister := control.Register(srv, control.Info{})
	a := dialAdmin(t, addr, "ctl")
	a.request(`{"commands":[{"command":"listListeners"}]}`)
	unregister()
	if msgs := a.exchange(control.Topic, `{"commands":[{"command":"listListeners"}]}`); len(msgs) != 0 {
		t.Fatalf("after unregister received %d messages, want none", len(msgs))
	}
}

// denyControl lets everyone do everything but publish to the control
// topic.
type denyControl struct{}

func (denyControl) Authenticate(*broker.ClientInfo) byte { return 0 }
func (denyControl) Authorize(_ *broker.ClientInfo, topic string, access broker.Access) bool {
	return topic != control.Topic || access != broker.AccessWrite
}

// A client the ACL does not let publish to the topic gets no answer, and
// its request is not routed either.
func TestRequestNeedsACL(t *testing.T) {
	srv, addr := startBroker(t)
	srv.SetAuthorizer(denyControl{})
	control.Register(srv, control.Info{Listeners: listenersOf(srv)})
	a := dialAdmin(t, addr, "ctl")
	if msgs := a.exchange(control.Topic, `{"commands":[{"command":"listListeners"}]}`); len(msgs) != 0 {
		t.Errorf("denied request: received %s %s", msgs[0].Topic(), msgs[0].Payload())
	}
}
