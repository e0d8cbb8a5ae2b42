//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// The helpers of the bridge tests with real brokers on loopback: a midge
// process that can be killed, restarted and reloaded, subscribers that
// record what they receive, and probes that wait for a bridge's route.

// bridgeWait bounds every wait of the bridge tests: far longer than any
// of them takes when things work.
const bridgeWait = 20 * time.Second

// midgeProcess is a midge broker run from a configuration file.
type midgeProcess struct {
	t     *testing.T
	conf  string
	netns string // the network namespace it runs in ("": this process's)
	cmd   *exec.Cmd
	logs  []*syncBuffer // one per run
}

// runMidge writes a configuration of lines (with `user root`, so that
// the broker can read the test's files) and runs midge on it.
func runMidge(t *testing.T, lines ...string) *midgeProcess {
	t.Helper()
	return runMidgeIn(t, "", lines...)
}

// runMidgeIn is runMidge in the network namespace netns.
func runMidgeIn(t *testing.T, netns string, lines ...string) *midgeProcess {
	t.Helper()
	p := &midgeProcess{t: t, netns: netns, conf: writeConf(t, append([]string{"user root"}, lines...)...)}
	p.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("midge log:\n%s", p.log())
		}
	})
	return p
}

// start runs the broker (again) on its configuration file.
func (p *midgeProcess) start() {
	p.t.Helper()
	c := midgeCmd(p.t, "midge", "-c", p.conf)
	if p.netns != "" {
		// ip replaces itself with the broker once in the namespace.
		c = exec.Command("ip", append([]string{"netns", "exec", p.netns}, c.Args...)...)
		c.Env = append(os.Environ(), "MIDGE_TEST_MAIN=midge")
	}
	cmd, log := startCmd(p.t, c)
	p.cmd = cmd
	p.logs = append(p.logs, log)
}

// kill ends the broker with SIGKILL, as a crash would.
func (p *midgeProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd.Wait()
}

// reload rewrites the configuration file with lines and sends SIGHUP.
func (p *midgeProcess) reload(lines ...string) {
	p.t.Helper()
	text := strings.Join(append([]string{"user root"}, lines...), "\n") + "\n"
	if err := os.WriteFile(p.conf, []byte(text), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		p.t.Fatal(err)
	}
}

// alive reports whether the broker's process is still running.
func (p *midgeProcess) alive() bool { return p.cmd.Process.Signal(syscall.Signal(0)) == nil }

// log is everything the broker logged, over all its runs.
func (p *midgeProcess) log() string {
	var b strings.Builder
	for i, l := range p.logs {
		if i > 0 {
			fmt.Fprintf(&b, "--- restart %d ---\n", i)
		}
		b.WriteString(l.String())
	}
	return b.String()
}

// waitLog waits until log() holds want at least n times.
func waitLog(t *testing.T, who string, log func() string, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(bridgeWait)
	for strings.Count(log(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q not logged %d times within %v; the log:\n%s", who, want, n, bridgeWait, log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// received is one message as a subscriber got it.
type received struct {
	topic, payload string
	qos            byte
	retain         bool
}

func (r received) String() string {
	return fmt.Sprintf("%s %q qos=%d retain=%v", r.topic, r.payload, r.qos, r.retain)
}

// recorder is a subscriber that keeps every message it receives.
type recorder struct {
	name string
	c    *client.Client
	// sessionsLost counts reconnections on which the server had no
	// session for the subscriber.
	sessionsLost atomic.Int64

	mu      sync.Mutex
	got     []received
	copies  map[string]int // payload -> times received
	changed chan struct{}  // closed and replaced on every message
}

// record connects a subscriber with opts (ClientID, ProtocolVersion,
// KeepSession, AutoReconnect ... as the caller sets them) to addr and
// subscribes to subs, each with retain as published so that the retain
// flag of a forwarded message is seen as it crossed. It is closed when
// the test ends.
func record(t *testing.T, addr string, opts client.Options, subs ...client.Subscription) *recorder {
	t.Helper()
	r := &recorder{name: opts.ClientID, copies: map[string]int{}, changed: make(chan struct{})}
	opts.Address = addr
	opts.KeepAlive = -1
	opts.OnMessage = func(_ *client.Client, m *client.Message) {
		r.mu.Lock()
		r.got = append(r.got, received{m.Topic, string(m.Payload), m.QoS, m.Retain})
		r.copies[string(m.Payload)]++
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
	var connects atomic.Int64
	opts.OnConnect = func(_ context.Context, _ *client.Client, ack *client.Connack) {
		if connects.Add(1) > 1 && !ack.SessionPresent {
			r.sessionsLost.Add(1)
		}
	}
	for i := range subs {
		subs[i].RetainAsPublished = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	c, err := client.Connect(ctx, opts)
	if err != nil {
		t.Fatalf("%s: connect to %s: %v", opts.ClientID, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	r.c = c
	if len(subs) > 0 {
		sa, err := c.Subscribe(ctx, nil, subs...)
		if err != nil {
			t.Fatalf("%s: subscribe: %v", opts.ClientID, err)
		}
		for i, rc := range sa.ReasonCodes {
			if rc >= 0x80 {
				t.Fatalf("%s: subscription to %s refused: 0x%02x", opts.ClientID, subs[i].Filter, byte(rc))
			}
		}
	}
	return r
}

// waitFor waits until done, called with what was received so far, is
// true, and fails the test if it is not within bridgeWait.
func (r *recorder) waitFor(t *testing.T, what string, done func(got []received, copies map[string]int) bool) {
	t.Helper()
	if !r.await(done) {
		t.Fatalf("%s: %s: not within %v (%d messages received)", r.name, what, bridgeWait, r.count())
	}
}

// await waits until done is true, as waitFor, and reports whether it
// became true within bridgeWait.
func (r *recorder) await(done func(got []received, copies map[string]int) bool) bool {
	return r.awaitWithin(bridgeWait, done)
}

// awaitWithin is await with its own bound.
func (r *recorder) awaitWithin(d time.Duration, done func(got []received, copies map[string]int) bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok := done(r.got, r.copies)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// snapshot returns what was received so far.
func (r *recorder) snapshot() ([]received, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	copies := make(map[string]int, len(r.copies))
	for k, v := range r.copies {
		copies[k] = v
	}
	return append([]received(nil), r.got...), copies
}

// count is how many messages were received so far.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// bridgeFigures returns the retained $SYS figures of the bridge name on
// the midge at addr (see docs/bridges.md), for a failure's report.
func bridgeFigures(t *testing.T, addr, name string) string {
	t.Helper()
	r := record(t, addr, client.Options{ClientID: "figures-" + name}, client.Subscription{Filter: "$SYS/broker/bridge/" + name + "/#", QoS: 0})
	defer r.c.Close()
	r.awaitWithin(500*time.Millisecond, func(got []received, _ map[string]int) bool { return len(got) >= 6 })
	got, _ := r.snapshot()
	var b strings.Builder
	for _, g := range got {
		fmt.Fprintf(&b, " %s=%s", strings.TrimPrefix(g.topic, "$SYS/broker/bridge/"+name+"/"), g.payload)
	}
	return b.String()
}

// seqPayload is the payload of message i of a numbered stream.
func seqPayload(stream string, i int) string { return fmt.Sprintf("%s-%06d", stream, i) }

// lostAndDuplicated counts, for the stream of n numbered messages, those
// never received and the extra copies of those received more than once.
func (r *recorder) lostAndDuplicated(stream string, n int) (lost, dup int, firstLost string) {
	_, copies := r.snapshot()
	for i := range n {
		switch c := copies[seqPayload(stream, i)]; {
		case c == 0:
			if lost == 0 {
				firstLost = seqPayload(stream, i)
			}
			lost++
		case c > 1:
			dup += c - 1
		}
	}
	return lost, dup, firstLost
}

// waitStream waits until every message of the numbered stream arrived.
func (r *recorder) waitStream(t *testing.T, stream string, n int) {
	t.Helper()
	if !r.awaitStream(stream, n) {
		lost, _, first := r.lostAndDuplicated(stream, n)
		t.Fatalf("%s: %d of the %d messages of %s missing after %v, the first %s", r.name, lost, n, stream, bridgeWait, first)
	}
}

// awaitStream waits until every message of the numbered stream arrived
// and reports whether they did within bridgeWait.
func (r *recorder) awaitStream(stream string, n int) bool {
	missing := 0
	return r.await(func(_ []received, copies map[string]int) bool {
		for ; missing < n; missing++ {
			if copies[seqPayload(stream, missing)] == 0 {
				return false
			}
		}
		return true
	})
}

// streamCount is how many distinct messages of the numbered stream
// arrived so far.
func streamCount(copies map[string]int, stream string) int {
	c := 0
	for p := range copies {
		if strings.HasPrefix(p, stream+"-") {
			c++
		}
	}
	return c
}

// probe is a route to wait for: a message published with pub on topic
// must reach rec on want.
type probe struct {
	pub         *client.Client
	topic, want string
	rec         *recorder
}

// awaitRoutes publishes QoS 0 probes on every route until each has
// delivered one: the bridge is connected and its subscriptions on both
// brokers are in place. Probe payloads start with "probe:" and are left
// out of every count.
func awaitRoutes(t *testing.T, probes ...probe) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	arrived := func(p probe) bool {
		got, _ := p.rec.snapshot()
		for _, m := range got {
			if m.topic == p.want && strings.HasPrefix(m.payload, "probe:") {
				return true
			}
		}
		return false
	}
	pending := probes
	for n := 0; len(pending) > 0; n++ {
		for _, p := range pending {
			// Failures are expected while a bridge is still connecting.
			p.pub.Publish(ctx, &client.Message{Topic: p.topic, Payload: fmt.Appendf(nil, "probe:%d", n)})
		}
		select {
		case <-ctx.Done():
			var names []string
			for _, p := range pending {
				names = append(names, p.topic+" -> "+p.want)
			}
			t.Fatalf("no probe came through on %s within %v", strings.Join(names, ", "), bridgeWait)
		case <-time.After(50 * time.Millisecond):
		}
		var still []probe
		for _, p := range pending {
			if !arrived(p) {
				still = append(still, p)
			}
		}
		pending = still
	}
}

// isProbe reports whether m is one of awaitRoutes' probes.
func isProbe(m received) bool { return strings.HasPrefix(m.payload, "probe:") }

// publisher connects a client that only publishes.
func publisher(t *testing.T, addr, id string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	c, err := client.Connect(ctx, client.Options{Address: addr, ClientID: id, ProtocolVersion: client.MQTT5, KeepAlive: -1})
	if err != nil {
		t.Fatalf("%s: connect to %s: %v", id, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// publishStream publishes the numbered stream of n QoS 1 messages on
// topic, up to window at a time, and returns how many were acknowledged.
// It stops at the first failure (the broker went away).
func publishStream(ctx context.Context, c *client.Client, topic, stream string, n, window int) (acked int, err error) {
	pending := make(chan *client.Pending, window)
	waited := make(chan error, 1)
	go func() {
		var first error
		for p := range pending {
			if _, err := p.Wait(ctx); err != nil && first == nil {
				first = err
			} else if first == nil {
				acked++
			}
		}
		waited <- first
	}()
	for i := range n {
		p, err := c.Send(ctx, &client.Message{Topic: topic, Payload: []byte(seqPayload(stream, i)), QoS: 1})
		if err != nil {
			close(pending)
			<-waited
			return acked, err
		}
		pending <- p
	}
	close(pending)
	err = <-waited
	return acked, err
}
