package format

import (
	"bytes"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixed is the pinned clock: 2020-05-06 22:12:00.123456789 at +01:00.
var fixed = time.Date(2020, 5, 6, 22, 12, 0, 123456789, time.FixedZone("BST", 3600))

func render(t *testing.T, opts Options, m *Message) string {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New(%q): %v", opts.Format, err)
	}
	p.now = func() time.Time { return fixed }
	return string(p.Append(nil, m))
}

func TestFormat(t *testing.T) {
	plain := &Message{Topic: "a/b", Payload: []byte("hello"), QoS: 1, Retain: true, MID: 7}
	v5 := &Message{Topic: "t", Payload: []byte("x\x00y"), Props: []Property{
		{ID: PropSubscriptionID, Value: 3},
		{ID: PropContentType, Str: "ct"},
		{ID: PropUserProperty, Key: "k", Str: "v"},
		{ID: PropCorrelationData, Bin: []byte("c\x00d")},
		{ID: PropUserProperty, Key: "k", Str: "w"},
		{ID: PropMessageExpiry, Value: 4294967295},
	}}
	empty := &Message{Topic: "e"}
	tests := []struct {
		name string
		opts Options
		m    *Message
		want string
	}{
		{"payload", Options{}, plain, "hello\n"},
		{"payload -N", Options{NoEOL: true}, plain, "hello"},
		{"empty payload prints nothing", Options{}, empty, ""},
		{"verbose", Options{Verbose: true}, plain, "a/b hello\n"},
		{"verbose empty", Options{Verbose: true}, empty, "e (null)\n"},
		{"verbose empty -N", Options{Verbose: true, NoEOL: true}, empty, ""},
		{"basics", Options{Format: "%t %p %q %r %m %l %%"}, plain, "a/b hello 1 1 7 5 %\n"},
		{"hex", Options{Format: "%x %X"}, &Message{Payload: []byte{0xab, 0x01}}, "ab01 AB01\n"},
		{"widths", Options{Format: "[%6t][%-6t][%.1t][%4.2t][%05l][%-5l|]"}, plain, "[   a/b][a/b   ][a][  a/][00005][5    |]\n"},
		{"payload width truncates", Options{Format: "[%3p][%8p][%-8p][%08p]"}, plain, "[hel][   hello][hello   ][000hello]\n"},
		{"left payload without width pads", Options{Format: "[%-p]"}, plain, "[hello     ]\n"},
		{"hex width halves", Options{Format: "[%10x][%4x]"}, plain, "[      6865][6865]\n"},
		{"absent ints pad", Options{Format: "[%5A][%05E][%3F][%2S][%4C][%4R]"}, plain, "[     ][00000][   ][  ][    ][]\n"},
		{"v5 props", Options{Format: "%S %C %P %E|%D|"}, v5, "3 ct k:v k:w -1|c\x00d|\n"},
		{"escapes", Options{Format: `\\\0\a\e\n\r\t\v`}, plain, "\\\x00\a\x1b\n\r\t\v\n"},
		{"time", Options{Format: "%I %U @Y@m@d@H@M@S @N @z @@ @j @a @b"}, plain,
			"2020-05-06T22:12:00+0100 1588799520.123456789 20200506221200 123456789 +0100 @ 127 Wed May\n"},
		{"json", Options{Format: "%j"}, plain,
			`{"tst":"2020-05-06T22:12:00.123456Z+0100","topic":"a/b","qos":1,"retain":1,"payloadlen":5,"mid":7,"payload":"hello"}` + "\n"},
		{"json v5 truncates C strings", Options{Format: "%j"}, v5,
			`{"tst":"2020-05-06T22:12:00.123456Z+0100","topic":"t","qos":0,"retain":0,"payloadlen":3,"properties":{"subscription-identifier":3,"content-type":"ct","user-properties":{"k":"v","k":"w"},"correlation-data":"c","message-expiry-interval":4294967295},"payload":"x"}` + "\n"},
		{"json null payload", Options{Format: "%j"}, empty,
			`{"tst":"2020-05-06T22:12:00.123456Z+0100","topic":"e","qos":0,"retain":0,"payloadlen":0,"payload":null}` + "\n"},
		{"json escapes", Options{Format: "%j"}, &Message{Topic: "q", Payload: []byte("\"\\\n\x01é")},
			`{"tst":"2020-05-06T22:12:00.123456Z+0100","topic":"q","qos":0,"retain":0,"payloadlen":6,"payload":"\"\\\n\u0001é"}` + "\n"},
		{"JSON payload reprinted by cJSON", Options{Format: "%J"}, &Message{Topic: "j", Payload: []byte(` {"t": 27.0, "h":[1, 2.5e1, -0.1, true,null], "s":"\u00e9\/"} `)},
			`{"tst":"2020-05-06T22:12:00.123456Z+0100","topic":"j","qos":0,"retain":0,"payloadlen":62,"payload":{"t":27,"h":[1,25,-0.1,true,null],"s":"é/"}}` + "\n"},
		{"invalid JSON prints nothing", Options{Format: "<%J>"}, plain, "<>\n"},
		{"pretty", Options{Format: "%j", Pretty: true}, &Message{Topic: "p", Payload: []byte("v"), Props: []Property{{ID: PropUserProperty, Key: "a", Str: "b"}}},
			"{\n\t\"tst\":\t\"2020-05-06T22:12:00.123456Z+0100\",\n\t\"topic\":\t\"p\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n\t\"payloadlen\":\t1,\n\t\"properties\":\t{\n\t\t\"user-properties\":\t{\n\t\t\t\"a\":\t\"b\"\n\t\t}\n\t},\n\t\"payload\":\t\"v\"\n}\n"},
		{"pretty J arrays and empty object", Options{Format: "%J", Pretty: true, NoEOL: true}, &Message{Topic: "p", Payload: []byte(`[1,{}]`)},
			"{\n\t\"tst\":\t\"2020-05-06T22:12:00.123456Z+0100\",\n\t\"topic\":\t\"p\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n\t\"payloadlen\":\t6,\n\t\"payload\":\t[1, {\n\t\t}]\n}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(t, tc.opts, tc.m); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestInvalidJSONWarns(t *testing.T) {
	var warn bytes.Buffer
	p, err := New(Options{Format: "%J", Warn: &warn})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"{", "1.5e", "[1,]", "a", "1 2", "\"x\x00\""} {
		warn.Reset()
		p.Append(nil, &Message{Topic: "bad", Payload: []byte(bad)})
		if got, want := warn.String(), "Error: Message payload is not valid JSON on topic bad.\n"; got != want {
			t.Errorf("payload %q: warning %q, want %q", bad, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := map[string]string{
		"%t %p":    "",
		"%-05t":    "",
		"%10.3t":   "",
		"@":        "Error: Incomplete format specifier.",
		"%":        "Error: Incomplete format specifier.",
		"%-":       "Error: Incomplete format specifier.",
		"%10":      "Error: Incomplete format specifier.",
		"%1.":      "Error: Incomplete format specifier.",
		"%z":       "Error: Invalid format specifier 'z'.",
		"%0-5t":    "Error: Invalid format specifier '-'.",
		`\`:        "Error: Incomplete escape specifier.",
		`\q`:       "Error: Invalid escape specifier 'q'.",
		"@Q plain": "",
	}
	for f, want := range tests {
		err := Check(f)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("Check(%q) = %q, want %q", f, got, want)
		}
	}
}

func TestPrintWritesOnce(t *testing.T) {
	p, _ := New(Options{Verbose: true})
	var b bytes.Buffer
	if err := p.Print(&b, &Message{Topic: "a", Payload: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "a b\n" {
		t.Fatalf("got %q", b.String())
	}
}
