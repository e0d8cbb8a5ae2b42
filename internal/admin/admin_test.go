package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/cluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTime = 5 * time.Second

// rig is a broker on loopback with an admin listener in front of it.
type rig struct {
	t     *testing.T
	b     *broker.Server
	mqtt  string
	admin *Server
	base  string
	user  string
	pass  string
}

func passwords(t *testing.T, user, pass string) *auth.Passwords {
	t.Helper()
	h, err := auth.HashPassword(pass, auth.AlgSHA512PBKDF2, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParsePasswords(strings.NewReader(user+":"+h+"\n"), "admin.passwd")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startRig(t *testing.T, mutate func(*Config)) *rig {
	t.Helper()
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	b := broker.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
	l.Name = ln.Addr().String()
	l.AllowAnonymous = true
	served := make(chan error, 1)
	go func() { served <- b.Serve(ln, l) }()
	r := &rig{t: t, b: b, mqtt: ln.Addr().String(), user: "ops", pass: "s3cret"}
	cfg := Config{
		Addr:        "127.0.0.1:0",
		Credentials: Credentials{Passwords: passwords(t, r.user, r.pass), Tokens: []string{"tok-123"}},
		Version:     "2.0.11-test",
		Listeners: func() []Listener {
			return []Listener{{Address: "127.0.0.1", Port: l.Port, Protocol: "mqtt"}}
		},
		Settings: func() any { return map[string]any{"password_file": "/etc/x", "bridges": []string{"<redacted>"}} },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := Listen(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.SetReady(true)
	done := make(chan error, 1)
	go func() { done <- a.Serve() }()
	r.admin, r.base = a, "http://"+a.Addr().String()
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
		b.Close()
		<-served
	})
	return r
}

// do sends a request with the rig's Basic credentials and decodes a JSON
// answer into out (if not nil); it returns the status.
func (r *rig) do(method, path string, out any) int {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.SetBasicAuth(r.user, r.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); path != "/metrics" && !strings.HasPrefix(path, "/ui") && path != "/" && ct != "application/json" {
		r.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			r.t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

func (r *rig) connect(id string, v5 bool, onMsg func(*client.Message)) *client.Client {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	o := client.Options{Address: r.mqtt, ClientID: id, KeepAlive: 30 * time.Second}
	if v5 {
		o.ProtocolVersion = client.MQTT5
	}
	if onMsg != nil {
		o.OnMessage = func(_ *client.Client, m *client.Message) { onMsg(m) }
	}
	c, err := client.Connect(ctx, o)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Disconnect(context.Background(), client.Success, nil) })
	return c
}

func TestAuthentication(t *testing.T) {
	r := startRig(t, nil)
	get := func(path string, set func(*http.Request)) int {
		req, _ := http.NewRequest("GET", r.base+path, nil)
		if set != nil {
			set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", path)
		}
		return resp.StatusCode
	}
	for _, path := range []string{"/metrics", "/api/v1/overview", "/", "/api/v1/clients"} {
		if code := get(path, nil); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d", path, code)
		}
		if code := get(path, func(q *http.Request) { q.SetBasicAuth("ops", "wrong") }); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d", path, code)
		}
		if code := get(path, func(q *http.Request) { q.SetBasicAuth("nobody", "s3cret") }); code != http.StatusUnauthorized {
			t.Errorf("%s with an unknown user: %d", path, code)
		}
		if code := get(path, func(q *http.Request) { q.Header.Set("Authorization", "Bearer tok-12") }); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d", path, code)
		}
		if code := get(path, func(q *http.Request) { q.Header.Set("Authorization", "Bearer tok-123") }); code != http.StatusOK {
			t.Errorf("%s with the token: %d", path, code)
		}
		if code := get(path, func(q *http.Request) { q.SetBasicAuth("ops", "s3cret") }); code != http.StatusOK {
			t.Errorf("%s with the password: %d", path, code)
		}
	}
	// Health checks need no credentials.
	if code := get("/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code := get("/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}
	r.admin.SetReady(false)
	if code := get("/readyz", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while not ready: %d", code)
	}
}

func TestListenRefusesOpenAccess(t *testing.T) {
	b := broker.New(broker.DefaultOptions())
	defer b.Close()
	for _, c := range []Config{
		{Addr: "127.0.0.1:0"}, // nothing to authenticate against
		{Addr: "0.0.0.0:0", Credentials: Credentials{Anonymous: true}},
		{Addr: "[::]:0", Credentials: Credentials{Anonymous: true}},
		{Addr: "192.0.2.1:0", Credentials: Credentials{Anonymous: true}},
	} {
		if s, err := Listen(b, c); err == nil {
			s.Close()
			t.Errorf("%+v: started", c)
		}
	}
	s, err := Listen(b, Config{Addr: "127.0.0.1:0", Credentials: Credentials{Anonymous: true}})
	if err != nil {
		t.Fatalf("anonymous on loopback: %v", err)
	}
	if err := s.SetCredentials(Credentials{}); err == nil {
		t.Error("SetCredentials accepted no credentials")
	}
	s.Close()
}

func TestAPI(t *testing.T) {
	r := startRig(t, nil)
	got := make(chan *client.Message, 10)
	sub := r.connect("sub-1", true, func(m *client.Message) { got <- m })
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, nil, client.Subscription{Filter: "dev/+/temp", QoS: 1}, client.Subscription{Filter: "$share/g/jobs/#", QoS: 0}); err != nil {
		t.Fatal(err)
	}
	pub := r.connect("pub-1", false, nil)
	for _, m := range []*client.Message{
		{Topic: "dev/a/temp", Payload: []byte("21"), QoS: 1, Retain: true},
		{Topic: "dev/b/temp", Payload: []byte{0xff, 0xfe}, QoS: 0, Retain: true},
		{Topic: "other", Payload: []byte(`<script>alert(1)</script>`), QoS: 1, Retain: true},
	} {
		if _, err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		<-got
	}

	var ov overview
	if code := r.do("GET", "/api/v1/overview", &ov); code != 200 || ov.ClientsConnected != 2 || ov.Retained != 3 || ov.Version != "2.0.11-test" || ov.Subscriptions != 2 {
		t.Errorf("overview %d %+v", code, ov)
	}
	var clients pageOf[sessionJSON]
	r.do("GET", "/api/v1/clients", &clients)
	if clients.Total != 2 || clients.Items[0].ClientID != "pub-1" || clients.Items[1].ClientID != "sub-1" {
		t.Fatalf("clients %+v", clients)
	}
	s1 := clients.Items[1]
	if !s1.Connected || s1.ProtocolVersion != 5 || s1.KeepAlive != 30 || s1.RemoteAddr == "" || s1.ConnectedAt == nil || len(s1.Subscriptions) != 2 || s1.Subscriptions[1].Filter != "dev/+/temp" || s1.Subscriptions[1].QoS != 1 {
		t.Errorf("sub-1 %+v", s1)
	}
	var one sessionJSON
	if code := r.do("GET", "/api/v1/clients/sub-1", &one); code != 200 || one.ClientID != "sub-1" {
		t.Errorf("client lookup %d %+v", code, one)
	}
	if code := r.do("GET", "/api/v1/sessions/pub-1", &one); code != 200 || one.ClientID != "pub-1" || one.ProtocolVersion != 4 {
		t.Errorf("session lookup %d %+v", code, one)
	}
	var e struct{ Error string }
	if code := r.do("GET", "/api/v1/sessions/nobody", &e); code != 404 || e.Error == "" {
		t.Errorf("unknown session %d %+v", code, e)
	}
	if code := r.do("GET", "/api/v1/clients/nobody", &e); code != 404 || e.Error == "" {
		t.Errorf("unknown client %d %+v", code, e)
	}
	var pg pageOf[sessionJSON]
	if r.do("GET", "/api/v1/clients?limit=1&offset=1", &pg); pg.Total != 2 || len(pg.Items) != 1 || pg.Items[0].ClientID != "sub-1" {
		t.Errorf("page %+v", pg)
	}
	if r.do("GET", "/api/v1/clients?prefix=pub", &pg); pg.Total != 1 {
		t.Errorf("prefix %+v", pg)
	}
	for _, bad := range []string{"?limit=0", "?limit=1001", "?offset=-1", "?limit=x"} {
		if code := r.do("GET", "/api/v1/sessions"+bad, &e); code != 400 {
			t.Errorf("sessions%s: %d", bad, code)
		}
	}

	var subs pageOf[subscriptionJSON]
	if r.do("GET", "/api/v1/subscriptions?filter=dev/%23", &subs); subs.Total != 1 || subs.Items[0].ClientID != "sub-1" || subs.Items[0].Filter != "dev/+/temp" {
		t.Errorf("subscriptions under dev/# %+v", subs)
	}
	if r.do("GET", "/api/v1/subscriptions", &subs); subs.Total != 2 {
		t.Errorf("all subscriptions %+v", subs)
	}
	if code := r.do("GET", "/api/v1/subscriptions?filter=a/%23/b", &e); code != 400 {
		t.Errorf("bad filter: %d", code)
	}

	var ret pageOf[retainedJSON]
	r.do("GET", "/api/v1/retained?filter=dev/%23", &ret)
	if ret.Total != 2 || ret.Items[0].Topic != "dev/a/temp" || ret.Items[0].Payload == nil || *ret.Items[0].Payload != "21" || ret.Items[1].Payload != nil || ret.Items[1].PayloadBase64 != "//4=" || ret.Items[0].Publisher != "pub-1" {
		t.Errorf("retained %+v", ret)
	}
	if r.do("GET", "/api/v1/retained?limit=1&offset=2", &ret); ret.Total != 3 || len(ret.Items) != 1 || ret.Items[0].Topic != "other" {
		t.Errorf("retained page %+v", ret)
	}
	if code := r.do("DELETE", "/api/v1/retained?topic=dev/a/temp", nil); code != 200 {
		t.Errorf("delete retained: %d", code)
	}
	if code := r.do("DELETE", "/api/v1/retained?topic=dev/a/temp", &e); code != 404 {
		t.Errorf("delete retained again: %d", code)
	}
	if code := r.do("DELETE", "/api/v1/retained?topic=dev/%23", &e); code != 400 {
		t.Errorf("delete retained with a wildcard: %d", code)
	}
	if code := r.do("DELETE", "/api/v1/retained", &e); code != 400 {
		t.Errorf("delete retained without a topic: %d", code)
	}
	if r.do("GET", "/api/v1/retained", &ret); ret.Total != 2 {
		t.Errorf("after delete %+v", ret)
	}

	var ls []Listener
	if r.do("GET", "/api/v1/listeners", &ls); len(ls) != 1 || ls[0].Protocol != "mqtt" {
		t.Errorf("listeners %+v", ls)
	}
	var cfg map[string]any
	if r.do("GET", "/api/v1/config", &cfg); cfg["password_file"] != "/etc/x" {
		t.Errorf("config %+v", cfg)
	}
	if code := r.do("POST", "/api/v1/reload", &e); code != http.StatusNotImplemented {
		t.Errorf("reload without a reloader: %d", code)
	}
	if code := r.do("GET", "/api/v1/nothing", &e); code != 404 || !strings.Contains(e.Error, "no such API call") {
		t.Errorf("unknown call %d %+v", code, e)
	}
	if code := r.do("POST", "/api/v1/clients", &e); code != http.StatusMethodNotAllowed && code != 404 {
		t.Errorf("wrong method: %d", code)
	}

	// Disconnect: the v5 client is told 0x98 and its session stays.
	if code := r.do("DELETE", "/api/v1/clients/sub-1", nil); code != 200 {
		t.Fatalf("disconnect: %d", code)
	}
	select {
	case <-sub.Done():
	case <-time.After(waitTime):
		t.Fatal("client still connected")
	}
	var de *client.DisconnectError
	if err := sub.Err(); !errors.As(err, &de) || de.ReasonCode != 0x98 {
		t.Errorf("client ended with %v, want DISCONNECT 0x98", err)
	}
	if code := r.do("DELETE", "/api/v1/clients/sub-1", &e); code != 404 {
		t.Errorf("disconnect again: %d", code)
	}
}

func TestReloadCall(t *testing.T) {
	calls := 0
	fail := false
	r := startRig(t, func(c *Config) {
		c.Reload = func() error {
			calls++
			if fail {
				return errors.New("mosquitto.conf:3: bad line")
			}
			return nil
		}
	})
	var ok map[string]bool
	if code := r.do("POST", "/api/v1/reload", &ok); code != 200 || !ok["reloaded"] || calls != 1 {
		t.Errorf("reload %d %v %d", code, ok, calls)
	}
	fail = true
	var e struct{ Error string }
	if code := r.do("POST", "/api/v1/reload", &e); code != 422 || !strings.Contains(e.Error, "mosquitto.conf:3") {
		t.Errorf("failed reload %d %+v", code, e)
	}
}

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func (r *rig) scrape() map[string]*dto.MetricFamily {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		r.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return fams
}

// value is the value of the metric of family name with the given label
// (nil: the only one).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	r := startRig(t, nil)
	got := make(chan *client.Message, 1000)
	sub := r.connect("m-sub", false, func(m *client.Message) { got <- m })
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, nil, client.Subscription{Filter: "m/#", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	pub := r.connect("m-pub", true, nil)
	const n0, n1, n2 = 200, 50, 10
	for i := range n0 + n1 + n2 {
		q := byte(0)
		if i >= n0 {
			q = 1
		}
		if i >= n0+n1 {
			q = 2
		}
		if _, err := pub.Publish(ctx, &client.Message{Topic: "m/x", Payload: []byte("12345"), QoS: q}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish(ctx, &client.Message{Topic: "m/keep", Payload: []byte("r"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	for range n0 + n1 + n2 + 1 {
		select {
		case <-got:
		case <-time.After(waitTime):
			t.Fatal("messages missing")
		}
	}
	// A refused client: v5, a client id with clean start off and no id.
	ctx2, cancel := context.WithTimeout(ctx, waitTime)
	defer cancel()
	if _, err := client.Connect(ctx2, client.Options{Address: r.mqtt, ProtocolVersion: client.MQTT311, KeepSession: true}); err == nil {
		t.Fatal("a client without id and with a persistent session was accepted")
	}

	fams := r.scrape()
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"midge_clients_connected", nil, 2},
		{"midge_sessions", nil, 2},
		{"midge_subscriptions", nil, 1},
		{"midge_retained_messages", nil, 1},
		{"midge_publish_received_total", []string{"qos", "0"}, n0},
		{"midge_publish_received_total", []string{"qos", "1"}, n1 + 1},
		{"midge_publish_received_total", []string{"qos", "2"}, n2},
		{"midge_publish_sent_total", []string{"qos", "0"}, n0},
		{"midge_publish_sent_total", []string{"qos", "1"}, n1 + 1},
		{"midge_publish_sent_total", []string{"qos", "2"}, n2},
		{"midge_publish_received_bytes_total", []string{"qos", "0"}, 5 * n0},
		{"midge_publish_received_bytes_total", []string{"qos", "1"}, 5*n1 + 1},
		{"midge_publish_sent_bytes_total", []string{"qos", "2"}, 5 * n2},
		{"midge_connections_total", nil, 2},
		{"midge_connections_refused_total", []string{"reason", "client_identifier_not_valid"}, 1},
		{"midge_dropped_messages_total", []string{"cause", "queue_full"}, 0},
		{"midge_build_info", []string{"version", "2.0.11-test"}, 1},
	}
	for _, c := range checks {
		if v := value(t, fams, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// One PUBLISH in 64 of each QoS is timed to its delivery.
	if v := value(t, fams, "midge_delivery_latency_seconds"); v != n0/64+(n1+1)/64+n2/64 {
		t.Errorf("delivery latency samples %v", v)
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil && fams["process_cpu_seconds_total"] == nil {
		t.Error("Go runtime or process metrics missing")
	}
	if h := fams["midge_store_commit_duration_seconds"]; h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Error("store commit histogram missing")
	}
}

func TestClusterCall(t *testing.T) {
	if code := startRig(t, nil).do("GET", "/api/v1/cluster", nil); code != http.StatusNotFound {
		t.Errorf("/api/v1/cluster without a cluster: %d, want 404", code)
	}
	seen := time.Now().Add(-1500 * time.Millisecond)
	r := startRig(t, func(c *Config) {
		c.Cluster = func() cluster.State {
			return cluster.State{Name: "plant", Node: "a", Quorum: 2, Quorate: true, Nodes: 2, Forwarded: 7, Relayed: 5,
				Peers: []cluster.PeerState{{Name: "b", LastSeen: seen, Filters: 3, Awaiting: 4, Connected: 10}}}
		}
	})
	var st cluster.State
	if code := r.do("GET", "/api/v1/cluster", &st); code != 200 || st.Node != "a" || len(st.Peers) != 1 || st.Peers[0].Awaiting != 4 || !st.Peers[0].LastSeen.Equal(seen) {
		t.Errorf("/api/v1/cluster %d: %+v", code, st)
	}
	fams := r.scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"midge_cluster_nodes", nil, 2},
		{"midge_cluster_quorate", nil, 1},
		{"midge_cluster_forwarded_total", nil, 7},
		{"midge_cluster_relayed_total", nil, 5},
		{"midge_cluster_peer_awaiting_acks", []string{"peer", "b"}, 4},
	} {
		if v := value(t, fams, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if v := value(t, fams, "midge_cluster_peer_silence_seconds", "peer", "b"); v < 1.5 || v > 60 {
		t.Errorf("midge_cluster_peer_silence_seconds = %v, want about 1.5", v)
	}
}
