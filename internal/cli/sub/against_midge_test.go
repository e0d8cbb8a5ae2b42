package sub

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/cli/pub"
)

// startMidge serves an in-process midge broker on a loopback TCP port.
func startMidge(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveMidge(t, ln, ln.Addr())
}

// midgePub publishes with our pub.Main and fails the test if it fails.
func midgePub(t *testing.T, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := pub.Main(args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("midge pub %v: exit %d\n%s%s", args, code, out.String(), errb.String())
	}
}

// allSpecifiers is every -F specifier and escape mosquitto_sub knows, with
// widths, precisions and flags, plus the strftime-like @ conversions.
const allSpecifiers = "%t|%p|%q|%r|%l|%m|%x|%X|%C|%R|E<%E>|%F|%P|%D|%S|%A|%%|%10t|%-10t|%5.2t|%05l|%-5l|%-p|%3p|%10x|%I|%U|%j|@Y-@m-@dT@H:@M:@S@z@@|\\t\\\\|\\e|\\0"

// sideBySideRuns are the flag sets both subscribers run with. Each run
// subscribes with -q 2 to l/# (live messages queued for its persistent
// session) and r/# (retained messages).
var sideBySideRuns = [][]string{
	{"-v"},
	{"-N"},
	{"-v", "-N"},
	{"-F", allSpecifiers},
	{"-F", allSpecifiers, "-V", "mqttv31"},
	{"-F", allSpecifiers, "-V", "5"},
	{"-F", allSpecifiers, "-V", "5", "-D", "subscribe", "subscription-identifier", "9"},
	{"-F", "%j", "-V", "5", "-D", "subscribe", "subscription-identifier", "12345"},
	{"-F", "%J", "-V", "5", "-D", "subscribe", "subscription-identifier", "268435455"},
	{"-F", "%j", "--pretty", "-V", "5", "-D", "subscribe", "subscription-identifier", "7"},
	{"-F", "%J", "--pretty", "-V", "5"},
	{"-F", "%J", "--pretty"},
	{"-F", "%j", "--pretty", "-V", "mqttv311"},
	{"-v", "-V", "5", "-F", "%t %A %C %D E<%E> %F %P %R %S"},
	{"-d", "-v"},
	{"-d", "-v", "-V", "5"},
	{"-v", "-T", "l/3", "-T", "r/5/#"},
	{"-v", "-R", "-W", "1"},
	{"-v", "-R", "-V", "5", "-W", "1"},
	{"-v", "--retained-only"},
	{"-v", "-E"},
	{"-v", "-V", "5", "-E"},
}

// publishRetained leaves four retained messages under r/, published by
// both tools: text, binary, v5 properties, and a tab; r/4 is cleared.
func publishRetained(t *testing.T, port, bin string) {
	p := []string{"-p", port, "-r"}
	mosquittoPub(t, append(p, "-t", "r/1", "-m", "plain text", "-q", "1")...)
	midgePub(t, append(p, "-t", "r/2", "-f", bin, "-q", "2")...)
	midgePub(t, append(p, "-t", "r/3", "-m", `{"temp":27.0,"h":[1,2],"s":"é"}`, "-V", "5", "-q", "1",
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "message-expiry-interval", "3600",
		"-D", "publish", "content-type", "application/json",
		"-D", "publish", "response-topic", "reply/here",
		"-D", "publish", "correlation-data", "corr-42",
		"-D", "publish", "user-property", "k1", "v1",
		"-D", "publish", "user-property", "k1", "v2")...)
	// At QoS 1, so that each is handled before the next tool connects: the
	// order of QoS 0 messages from different connections is not defined,
	// and a broker that reads connections in parallel may take the
	// clearing message first.
	mosquittoPub(t, append(p, "-t", "r/4", "-m", "gone", "-q", "1")...)
	midgePub(t, append(p, "-t", "r/4", "-n", "-q", "1")...)
	mosquittoPub(t, append(p, "-t", "r/5/deep", "-m", "a\tb", "-q", "2")...)
}

const retainedCount = 4

// publishLive publishes the live (non-retained) messages that are queued
// for the offline sessions, at QoS 1 and 2, alternating the tools.
func publishLive(t *testing.T, port, bin string) {
	p := []string{"-p", port}
	mosquittoPub(t, append(p, "-t", "l/1", "-m", "live text", "-q", "1")...)
	midgePub(t, append(p, "-t", "l/2", "-f", bin, "-q", "2")...)
	mosquittoPub(t, append(p, "-t", "l/3", "-q", "2", "-V", "5", "-m", `{"a":[true,null,"x\"y"]}`,
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "message-expiry-interval", "3600",
		"-D", "publish", "content-type", "application/json",
		"-D", "publish", "response-topic", "reply/l3",
		"-D", "publish", "correlation-data", "c-3",
		"-D", "publish", "user-property", "name", "value",
		"-D", "publish", "user-property", "ü", "with space")...)
	midgePub(t, append(p, "-t", "l/4", "-q", "1", "-V", "5", "-m", "not json",
		"-D", "publish", "payload-format-indicator", "0",
		"-D", "publish", "message-expiry-interval", "100",
		"-D", "publish", "content-type", "text/plain; charset=utf-8",
		"-D", "publish", "response-topic", "reply/l4",
		"-D", "publish", "correlation-data", "\x01\x02bin",
		"-D", "publish", "user-property", "a", "1",
		"-D", "publish", "user-property", "b", "",
		"-D", "publish", "user-property", "a", "2")...)
	midgePub(t, append(p, "-t", "l/5", "-n", "-q", "1")...)
	mosquittoPub(t, append(p, "-t", "l/6", "-q", "2", "-V", "5", "-m", "12.5",
		"-D", "publish", "user-property", "only", "one")...)
}

const liveCount = 6

// sideBySide runs every flag set with mosquitto_sub and with our sub
// against the broker on port and returns both outputs per run (masked,
// with our client id renamed to mosquitto_sub's).
func sideBySide(t *testing.T, port string) (want, got []outcome) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(bin, []byte{0, 1, 2, 0xff, '"', '\\', 'x', '\n', 0x1b, 0x7f}, 0o600); err != nil {
		t.Fatal(err)
	}
	publishRetained(t, port, bin)
	for i, flags := range sideBySideRuns {
		mosqID, midgeID := fmt.Sprintf("cmp-mosq-%02d", i), fmt.Sprintf("cmp-midg-%02d", i)
		args := func(id string) []string {
			// -W bounds every run; a later -W overrides it.
			return append([]string{"-p", port, "-i", id, "-c", "-q", "1", "-t", "l/#", "-W", "5"}, flags...)
		}
		// Make both persistent sessions (subscribed to l/# only, so that
		// no retained message is left in flight), then queue the live
		// messages for them.
		for _, id := range []string{mosqID, midgeID} {
			if o := runTool(t, "mosquitto_sub", append(args(id), "-E")...); o.code != 0 {
				t.Fatalf("making session %s: %v", id, o)
			}
		}
		publishLive(t, port, bin)

		count := []string{"-t", "r/#", "-C", fmt.Sprint(retainedCount + liveCount)}
		cmd := exec.Command("mosquitto_sub", append(append(args(mosqID), count...), flags...)...)
		var wantOut, wantErr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &wantOut, &wantErr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		g := runSub(append(append(args(midgeID), count...), flags...)...)
		wantCode := 0
		if err := cmd.Wait(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			wantCode = ee.ExitCode()
		}
		g.stdout = mask(strings.ReplaceAll(g.stdout, midgeID, mosqID))
		want = append(want, outcome{wantCode, mask(wantOut.String()), wantErr.String()})
		got = append(got, g)
	}
	return want, got
}

func runName(flags []string) string { return strings.Join(flags, " ") }

// compareRuns reports every run whose outcome differs.
func compareRuns(t *testing.T, what string, got, want []outcome) {
	t.Helper()
	for i, flags := range sideBySideRuns {
		g, w := got[i], want[i]
		if g.code != w.code {
			t.Errorf("%s [%s]: exit %d, want %d", what, runName(flags), g.code, w.code)
		}
		if g.stdout != w.stdout {
			t.Errorf("%s [%s]: stdout differs\ngot:\n%s\nwant:\n%s", what, runName(flags), g.stdout, w.stdout)
		}
		if g.err != w.err {
			t.Errorf("%s [%s]: stderr %q, want %q", what, runName(flags), g.err, w.err)
		}
	}
}

// TestSideBySideAgainstMidge is TestSideBySideWithMosquittoSub with midge
// as the broker, and live QoS 1/2 messages as well as retained ones: the
// real mosquitto_sub and our sub, subscribed to the in-process broker,
// must print the same bytes. The same scenario runs, in parallel, against
// a real mosquitto when installed: our sub must match mosquitto_sub there
// too, and what mosquitto_sub prints must not depend on the broker.
func TestSideBySideAgainstMidge(t *testing.T) {
	needTools(t, "mosquitto_pub", "mosquitto_sub")
	_, err := exec.LookPath("mosquitto")
	withMosquitto := err == nil || os.Getenv("CI") == "true"
	var midgeWant, midgeGot, mosqWant, mosqGot []outcome
	t.Run("brokers", func(t *testing.T) {
		t.Run("midge", func(t *testing.T) {
			t.Parallel()
			midgeWant, midgeGot = sideBySide(t, startMidge(t))
		})
		if withMosquitto {
			t.Run("mosquitto", func(t *testing.T) {
				t.Parallel()
				needTools(t, "mosquitto")
				mosqWant, mosqGot = sideBySide(t, startMosquitto(t))
			})
		}
	})
	if t.Failed() {
		return
	}
	compareRuns(t, "midge sub vs mosquitto_sub, midge broker", midgeGot, midgeWant)
	if mosqWant != nil {
		compareRuns(t, "midge sub vs mosquitto_sub, mosquitto broker", mosqGot, mosqWant)
		compareRuns(t, "mosquitto_sub on midge vs on mosquitto (broker difference)", midgeWant, mosqWant)
	}
}

// TestQoS2PrintOrder queues QoS 1 and QoS 2 messages for a persistent
// session and compares the order the subscribers print them in.
// libmosquitto hands an incoming QoS 2 message to the application when the
// PUBREL arrives, not on the PUBLISH, so mosquitto_sub prints the QoS 1
// messages that arrived in the meantime first; so must we.
func TestQoS2PrintOrder(t *testing.T) {
	needTools(t, "mosquitto_pub", "mosquitto_sub")
	port := startMidge(t)
	args := func(id string) []string {
		return []string{"-p", port, "-i", id, "-c", "-q", "2", "-t", "o/#", "-W", "5", "-v"}
	}
	for _, id := range []string{"order-mosq", "order-midg"} {
		if o := runTool(t, "mosquitto_sub", append(args(id), "-E")...); o.code != 0 {
			t.Fatalf("making session %s: %v", id, o)
		}
	}
	mosquittoPub(t, "-p", port, "-t", "o/1", "-m", "one", "-q", "1")
	midgePub(t, "-p", port, "-t", "o/2", "-m", "two", "-q", "2")
	mosquittoPub(t, "-p", port, "-t", "o/3", "-m", "three", "-q", "1")
	want := runTool(t, "mosquitto_sub", append(args("order-mosq"), "-C", "3")...)
	got := runSub(append(args("order-midg"), "-C", "3")...)
	if got != want {
		t.Errorf("midge sub: %v\nmosquitto_sub: %v", got, want)
	}
}
