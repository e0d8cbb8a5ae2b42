package rr

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/cli/clientflags"
	"github.com/midge-mqtt/midge/internal/cli/pub"
	"github.com/midge-mqtt/midge/internal/cli/sub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var hermetic = clientflags.Env{
	Getenv:   func(string) string { return "" },
	ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist },
}

// startBroker runs midge's own broker in-process on a free port.
func startBroker(t *testing.T) string {
	t.Helper()
	srv := broker.New(broker.DefaultOptions())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	l := broker.DefaultListener(port)
	l.AllowAnonymous = true
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln, l) }()
	t.Cleanup(func() { srv.Close(); <-served })
	return strconv.Itoa(port)
}

// TestPubSubAgainstMidgeBroker publishes with midge pub (every message
// source) and reads back with midge sub.
func TestPubSubAgainstMidgeBroker(t *testing.T) {
	port := startBroker(t)
	var out, errb bytes.Buffer
	pubs := []struct {
		args  []string
		stdin string
	}{
		{[]string{"-t", "e/m", "-m", "hello", "-r", "-q", "1"}, ""},
		{[]string{"-t", "e/s", "-s", "-r", "-q", "2", "-V", "5", "-D", "publish", "user-property", "k", "v"}, "from\nstdin"},
		{[]string{"-t", "e/l", "-l", "-q", "1"}, "one\ntwo\n"},
	}
	for _, p := range pubs {
		args := append([]string{"-p", port}, p.args...)
		if code := pub.Main(args, strings.NewReader(p.stdin), &out, &errb); code != 0 {
			t.Fatalf("pub %v: exit %d, stderr %q", args, code, errb.String())
		}
	}
	if out.Len() != 0 || errb.Len() != 0 {
		t.Fatalf("pub printed %q / %q", out.String(), errb.String())
	}
	code := sub.Main([]string{"-p", port, "-t", "e/#", "-C", "2", "-W", "5", "-V", "5", "-F", "%t %r %P %p"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("sub: exit %d, stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), "e/m 1  hello\n") || !strings.Contains(out.String(), "e/s 1 k:v from\nstdin\n") {
		t.Fatalf("sub printed %q", out.String())
	}
}

// TestRequestResponse runs midge rr against a responder that answers on
// the Response Topic with the request's Correlation Data.
func TestRequestResponse(t *testing.T) {
	port := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	responder, err := client.Connect(ctx, client.Options{
		Address:         "127.0.0.1:" + port,
		ProtocolVersion: client.MQTT5,
		OnMessage: func(c *client.Client, m *client.Message) {
			reply := &client.Message{Topic: m.Properties.ResponseTopic, Payload: append([]byte("re:"), m.Payload...)}
			reply.Properties.CorrelationData = m.Properties.CorrelationData
			reply.Properties.Set(client.PropCorrelationData)
			c.Publish(context.Background(), reply)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Disconnect(context.Background(), client.Success, nil)
	if _, err := responder.Subscribe(ctx, nil, client.Subscription{Filter: "svc/req"}); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	code := run(ctx, []string{"-p", port, "-t", "svc/req", "-e", "svc/resp", "-m", "ping", "-W", "5",
		"-D", "publish", "correlation-data", "id-1", "-F", "%t %p %D"}, nil, &out, &errb, hermetic)
	if code != 0 {
		t.Fatalf("rr: exit %d, stderr %q", code, errb.String())
	}
	if got, want := out.String(), "svc/resp re:ping id-1\n"; got != want {
		t.Fatalf("rr printed %q, want %q", got, want)
	}
}

// TestTimeout checks exit status 27 and "Timed out" when no response comes.
func TestTimeout(t *testing.T) {
	port := startBroker(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-p", port, "-t", "nobody", "-e", "void", "-n", "-W", "1"}, nil, &out, &errb, hermetic)
	if code != 27 || errb.String() != "Timed out\n" {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestRefused checks the refusal text and exit status: the CONNACK code.
func TestRefused(t *testing.T) {
	srv := broker.New(broker.DefaultOptions())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln, broker.DefaultListener(port)) }()
	defer func() { srv.Close(); <-served }()
	p := strconv.Itoa(port)
	for _, tc := range []struct {
		main func([]string, *strings.Reader, *bytes.Buffer, *bytes.Buffer) int
		args []string
		code int
		msg  string
	}{
		{func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return pub.Main(a, in, o, e) },
			[]string{"-p", p, "-t", "a", "-m", "x"}, 5, "Connection error: Connection Refused: not authorised.\nError: The connection was refused.\n"},
		{func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return sub.Main(a, in, o, e) },
			[]string{"-p", p, "-t", "a", "-V", "5"}, 135, "Connection error: Not authorized\n"},
		{func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return Main(a, in, o, e) },
			[]string{"-p", p, "-t", "a", "-e", "b", "-m", "x"}, 135, "Connection error: Not authorized\n"},
	} {
		var out, errb bytes.Buffer
		if code := tc.main(tc.args, strings.NewReader(""), &out, &errb); code != tc.code || errb.String() != tc.msg {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}
