package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Config
		json bool
	}{
		{args: nil, want: Config{Addr: "localhost:1883", Version: V311}},
		{
			args: []string{"pairs", "-h", "10.0.0.1", "-p", "1884", "-q", "1", "--publishers", "20", "-V", "mqttv5", "--rate", "500", "-d", "3s", "--json"},
			want: Config{Addr: "10.0.0.1:1884", Scenario: Pairs, QoS: 1, Publishers: 20, Version: V5, Rate: 500, Duration: 3 * time.Second},
			json: true,
		},
		{
			args: []string{"--scenario", "idle", "-c", "5000", "--parallel", "50", "-L", "mqtt://user:secret@broker:2883"},
			want: Config{Addr: "broker:2883", Scenario: Idle, Connections: 5000, Parallel: 50, Version: V311, Username: "user", Password: "secret"},
		},
		{
			args: []string{"fanout", "--subscribers", "10", "--slow", "1", "--topics", "2", "--payload", "256", "--inflight", "5", "--broker-pid", "77", "--drain", "1s", "--url", "tcp://[::1]"},
			want: Config{Addr: "[::1]:1883", Scenario: Fanout, Subscribers: 10, SlowSubscribers: 1, Topics: 2, Payload: 256, Inflight: 5, BrokerPID: 77, Drain: time.Second, Version: V311},
		},
		{
			// Publishers and subscribers on different brokers, each URL's
			// credentials for its own connections only.
			args: []string{"fanin", "-u", "all", "--pub-url", "mqtt://near:1884", "--pub-url", "tcp://p:secret@near2",
				"--sub-url", "mqtt://s@far:1885"},
			want: Config{Addr: "localhost:1883", Scenario: Fanin, Version: V311, Username: "all",
				PubBrokers: []Endpoint{{Addr: "near:1884"}, {Addr: "near2:1883", Username: "p", Password: "secret"}},
				SubBrokers: []Endpoint{{Addr: "far:1885", Username: "s"}}},
		},
		{
			args: []string{"-p", "1999", "--sub-url", "mqtt://[::1]:2000"},
			want: Config{Addr: "localhost:1999", Version: V311, SubBrokers: []Endpoint{{Addr: "[::1]:2000"}}},
		},
	} {
		o, err := parseArgs(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if o.cfg.Progress != nil {
			t.Errorf("%q: progress set by parsing", tc.args)
		}
		if !reflect.DeepEqual(o.cfg, tc.want) || o.json != tc.json {
			t.Errorf("%q:\n got %+v json=%v\nwant %+v json=%v", tc.args, o.cfg, o.json, tc.want, tc.json)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nosuch"},
		{"-q", "3"},
		{"-V", "3"},
		{"-p", "0"},
		{"--payload", "4"},
		{"-d", "-1s"},
		{"--rate", "-1"},
		{"-L", "http://x"},
		{"-L", "mqtt://"},
		{"--bogus"},
		{"fanout", "extra"},
		{"-L", "mqtt://host:0"},
		{"--pub-url", "http://x"},
		{"--sub-url", "mqtt://"},
		{"--sub-url", "mqtt://host:70000"},
		{"idle", "--sub-url", "mqtt://far"},
		{"idle", "--pub-url", "mqtt://near"},
	} {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestDialers checks which broker and credentials each kind of connection
// gets: a broker's own credentials, else the run's.
func TestDialers(t *testing.T) {
	c := Config{Addr: "a:1", Username: "u", Password: "pw", Version: V5, ConnectTimeout: time.Second}
	got := c.dialers(nil)
	want := []*dialer{{addr: "a:1", version: V5, username: "u", password: "pw", timeout: time.Second}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("without brokers: %+v, want %+v", got[0], want[0])
	}
	got = c.dialers([]Endpoint{{Addr: "b:2"}, {Addr: "c:3", Username: "v"}, {Addr: "d:4", Username: "w", Password: "x"}})
	want = []*dialer{
		{addr: "b:2", version: V5, username: "u", password: "pw", timeout: time.Second},
		{addr: "c:3", version: V5, username: "v", password: "pw", timeout: time.Second},
		{addr: "d:4", version: V5, username: "w", password: "x", timeout: time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		for i := range got {
			t.Errorf("dialer %d: %+v", i, *got[i])
		}
	}
}

func TestValidateBrokers(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{PubBrokers: []Endpoint{{Addr: "a:1"}}, SubBrokers: []Endpoint{{Addr: "b:1"}}}, true},
		{Config{Addr: "x:1", SubBrokers: []Endpoint{{Addr: "b:1"}}}, true},
		{Config{SubBrokers: []Endpoint{{Addr: "b:1"}}}, false}, // the publishers have no broker
		{Config{Addr: "x:1", PubBrokers: []Endpoint{{}}}, false},
		{Config{Addr: "x:1", Scenario: Idle, SubBrokers: []Endpoint{{Addr: "b:1"}}}, false},
	} {
		c := tc.cfg.withDefaults()
		if err := c.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: validate = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

func TestMainUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errOut); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	if !strings.Contains(errOut.String(), "Usage: midge bench") || !strings.Contains(errOut.String(), "-broker-pid") {
		t.Errorf("--help printed:\n%s", errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"-q", "7"}, &out, &errOut); code != 2 {
		t.Errorf("bad QoS: exit %d, want 2", code)
	}
	if _, err := parseArgs([]string{"-help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

func TestMainRuns(t *testing.T) {
	addr := startBroker(t)
	host, port, _ := strings.Cut(addr, ":")
	for _, args := range [][]string{
		{"pairs", "-h", host, "-p", port, "--publishers", "2", "-q", "1", "-r", "500", "-d", "300ms"},
		{"fanin", "--pub-url", "mqtt://" + addr, "--sub-url", "mqtt://" + addr, "--publishers", "2", "-q", "1", "-r", "500", "-d", "300ms"},
		{"fanout", "-h", host, "-p", port, "--subscribers", "2", "-r", "500", "-d", "300ms", "--json"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errOut.String())
		}
		s := out.String()
		if args[len(args)-1] == "--json" {
			if !strings.HasPrefix(s, `{"scenario":"fanout"`) || strings.Count(s, "\n") != 1 {
				t.Errorf("JSON output: %q", s)
			}
		} else if !strings.Contains(s, "lost        0 of") {
			t.Errorf("text output:\n%s", s)
		}
	}
}
