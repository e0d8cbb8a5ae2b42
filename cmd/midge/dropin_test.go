package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestDropInMatchesMosquitto is the drop-in acceptance test: one
// mosquitto.conf with a plain, a TLS (client certificates,
// use_identity_as_username) and a WebSocket listener, a password file made
// by mosquitto_passwd and an ACL file with user, deny, anonymous and
// pattern rules. Mosquitto and midge run it side by side, the same actions
// are played against both with mosquitto_pub, mosquitto_sub and a Go
// WebSocket client, and every observable outcome must be the same.
func TestDropInMatchesMosquitto(t *testing.T) {
	tools := needMosquitto(t)
	checkDropinLeaks(t)
	files := writeDropinFiles(t, tools)
	brokers := startDropinPair(t, tools, files, true)
	cases := append(connectCases(), aclCases()...)
	compareDropin(t, tools, files, brokers, cases, normalizeObs)
}

// TestDropInAnonymousRefused runs the same files with allow_anonymous
// false: anonymous clients are refused on every listener, while
// certificate identities and password users still get in.
func TestDropInAnonymousRefused(t *testing.T) {
	tools := needMosquitto(t)
	checkDropinLeaks(t)
	files := writeDropinFiles(t, tools)
	brokers := startDropinPair(t, tools, files, false)
	var cases []dropinCase
	for _, a := range []actor{
		{via: "tcp", id: "n-anon"},
		{via: "tcp", id: "n-anon", ver: "5"},
		{via: "tcp", id: "n-empty", emptyUser: true},
		{via: "tcp", id: "n-alice", user: "alice", pass: "alice-pw"},
		{via: "tcp", id: "n-alice", user: "alice", pass: "wrong", ver: "5"},
		{via: "tls", id: "n-tls", cert: "dev-7"},
		{via: "tls", id: "n-tls", cert: "alice", ver: "5"},
		{via: "ws", id: "n-ws"},
		{via: "ws", id: "n-ws", ver: "5"},
		{via: "ws", id: "n-ws", user: "bob", pass: "bob-pw"},
	} {
		cases = append(cases, dropinCase{name: "connect " + a.String(), pubs: []pubStep{probeAs(a)}})
	}
	cases = append(cases, dropinCase{
		name: "anonymous subscriber refused, password and certificate users deliver",
		sub:  watchAs(anonSub, "public/#"),
		pubs: []pubStep{sendAs(alicePub, "public/a")},
	}, dropinCase{
		name: "TLS dev-7 writes its state without a password",
		sub:  watchAs(opsSub, "devices/#"),
		pubs: []pubStep{sendAs(tlsDev, "devices/dev-7/state"), sendAs(anonPub, "devices/anon-pub/state")},
	})
	compareDropin(t, tools, files, brokers, cases, normalizeObs)
}

// checkDropinLeaks verifies, after every other cleanup of the test (the
// brokers' included), that the test left no goroutine behind.
func checkDropinLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// compareDropin plays the cases against both brokers at once (each
// broker's cases in order, as they share retained state) and reports
// every case whose observations differ, side by side.
func compareDropin(t *testing.T, tools dropinTools, files *dropinFiles, brokers []*dropinBroker, cases []dropinCase, normalize func(string) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	start := time.Now()
	results := make([][]string, len(brokers))
	var wg sync.WaitGroup
	for i, b := range brokers {
		env := &dropinEnv{tools: tools, files: files, broker: b}
		wg.Go(func() {
			for _, c := range cases {
				t0 := time.Now()
				results[i] = append(results[i], normalize(env.run(ctx, c)))
				if d := time.Since(t0); d > 2*time.Second {
					t.Logf("%s: %q took %v", b.name, c.name, d.Round(time.Millisecond))
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d cases against %d brokers in %v", len(cases), len(brokers), time.Since(start).Round(time.Millisecond))

	var diffs []string
	for i, c := range cases {
		want, got := results[0][i], results[1][i]
		mark := "same"
		if want != got {
			mark = "DIFFERENT"
			diffs = append(diffs, diffTable(c.name, brokers[0].name, want, brokers[1].name, got))
		}
		t.Logf("%-9s %s\n%s", mark, c.name, indentObs(want))
	}
	if len(diffs) > 0 {
		t.Errorf("%d of %d actions differ from Mosquitto:\n%s", len(diffs), len(cases), strings.Join(diffs, "\n"))
	}
	if t.Failed() {
		for _, b := range brokers {
			t.Logf("%s log:\n%s", b.name, b.log.String())
		}
	}
}

// run plays one case against the broker and returns what the clients saw.
func (e *dropinEnv) run(ctx context.Context, c dropinCase) string {
	var lines []string
	for _, p := range c.setup {
		lines = append(lines, fmt.Sprintf("setup %s -> %s: %s", p.by, p.topic, e.publish(ctx, p)))
	}
	var sub *dropinSub
	if c.sub != nil {
		sub = e.subscribe(ctx, *c.sub)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := sub.waitReady(rctx); err != nil {
			lines = append(lines, "subscriber: "+err.Error())
		}
		cancel()
	}
	for _, p := range c.pubs {
		lines = append(lines, fmt.Sprintf("pub %s -> %s: %s", p.by, p.topic, e.publish(ctx, p)))
	}
	if sub != nil {
		// The end marker follows everything above; when the subscriber
		// sees it, all it will ever get from this case has arrived.
		e.publish(ctx, pubStep{by: opsCtl, topic: sub.marker, payload: markerPayload, qos: 1})
		got := sub.collect(ctx)
		lines = append(lines, fmt.Sprintf("sub %s %v:", c.sub.by, c.sub.filters))
		for _, l := range got {
			lines = append(lines, "  "+l)
		}
	}
	for _, tp := range c.clear {
		e.publish(ctx, pubStep{by: opsCtl, topic: tp, qos: 1, retain: true})
	}
	return strings.Join(lines, "\n")
}

// What must differ between the brokers: the version they announce.
var sysVersion = regexp.MustCompile(`(\$SYS/broker/version\|)[^\n]*`)

// normalizeObs removes what may legitimately differ: the version string,
// and the order of the retained messages sent on one dropinSub, which
// MQTT leaves open (TestDropInRetainedOrder compares that order on its own).
func normalizeObs(s string) string {
	lines := strings.Split(sysVersion.ReplaceAllString(s, "${1}<version>"), "\n")
	isRetained := func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "MSG|1|") }
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && isRetained(lines[j]) {
			j++
		}
		if j > i {
			slices.Sort(lines[i:j])
			i = j
		} else {
			i++
		}
	}
	return strings.Join(lines, "\n")
}

// diffTable shows one case's observations side by side, marking the lines
// that differ.
func diffTable(name, leftName, left, rightName, right string) string {
	l, r := strings.Split(left, "\n"), strings.Split(right, "\n")
	width := len(leftName)
	for _, s := range l {
		width = max(width, len(s))
	}
	width = min(width, 90)
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s\n  %-*s | %s\n", name, width, leftName, rightName)
	for i := range max(len(l), len(r)) {
		var a, c string
		if i < len(l) {
			a = l[i]
		}
		if i < len(r) {
			c = r[i]
		}
		mark := " "
		if a != c {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %-*s | %s\n", mark, width, a, c)
	}
	return b.String()
}

func indentObs(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
