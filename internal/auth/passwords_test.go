package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	secret7 = "$7$101$dZayo11B9ioQGKTk$8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg=="
	secret6 = "$6$X2LrdOhqRg/H18DO$TDNc2klJl9CQrZg1khf8316UCfC1NuroTbvSQN6oC3Jpk6fBcH7ZzSMS+8KkcKoK7jcsmXrulaPivWo+JiYFAQ=="
	x7      = "$7$1$htxH2anxb7XLzM26$3w8JQ52OXi+62qKEtDa+BNu9UGQl1I4reAQlgT7402hcK0D7EiKkSisQI/zOTP2BLZfPcr4SRA9LhEAoJJ+bwA=="
	salt16  = "$7$101$fDsO5mUAiV7IQYia6xAfIQ==$8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg=="
)

// passwordFile mirrors the file that was fed to mosquitto 2.0.11; the
// comments on the lines give what the broker did with each login.
var passwordFile = strings.Join([]string{
	"# comment:with colon",           // 1 skipped
	"",                               // 2 skipped
	"good7:" + secret7,               // 3 secret logs in, a wrong password gets CONNACK 5
	"good6:" + secret6,               // 4
	"  spaced  :  " + secret7 + "  ", // 5 user "spaced"; "  spaced  " is refused
	"crlf:" + secret7 + "\r",         // 6 CR trimmed
	"plain:secret",                   // 7 refused: "Invalid password hash type for user plain"
	"dup:" + x7,                      // 8 overridden by line 9
	"dup:" + secret7,                 // 9 "dup" logs in with secret only
	"extra:" + secret7 + ":junk",     // 10 further fields ignored
	"dbl::" + secret7,                // 11 empty field skipped
	"empty:",                         // 12 "Invalid password hash for user empty"
	" #notcomment:" + secret7,        // 13 user "#notcomment"
	"salt16:" + salt16,               // 14 "Unable to decode password salt"
	"nocolonline",                    // 15 skipped
	"dupb:" + secret7,                // 16 stays: line 17 is dropped
	"dupb:plain",                     // 17
	"ws:" + secret7 + " \t",          // 18
	"::",                             // 19 no username: skipped
	"argon:$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", // 20 midge and 2.1 only
	"last:" + secret7,                   // 21
	"nul:" + secret7 + "\x00garbage:xx", // 22 refused, and so is the rest of the file
	"after:" + secret7,                  // 23
	"",
}, "\n")

func TestParsePasswords(t *testing.T) {
	p, err := ParsePasswords(strings.NewReader(passwordFile), "pw.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password string
		want           error
	}{
		{"good7", "secret", nil},
		{"good7", "Secret", ErrWrongPassword},
		{"good6", "secret", nil},
		{"spaced", "secret", nil},
		{"  spaced  ", "secret", ErrUnknownUser},
		{"crlf", "secret", nil},
		{"plain", "secret", ErrUnknownUser},
		{"dup", "secret", nil},
		{"dup", "x", ErrWrongPassword},
		{"extra", "secret", nil},
		{"dbl", "secret", nil},
		{"empty", "", ErrUnknownUser},
		{"#notcomment", "secret", nil},
		{"salt16", "secret", ErrUnknownUser},
		{"nocolonline", "", ErrUnknownUser},
		{"dupb", "secret", nil},
		{"dupb", "plain", ErrWrongPassword},
		{"ws", "secret", nil},
		{"nul", "secret", ErrUnknownUser},
		{"after", "secret", ErrUnknownUser},
		{"argon", "secret", nil},
		{"last", "secret", nil},
		{"nobody", "secret", ErrUnknownUser},
		{"", "", ErrUnknownUser},
		{"good6", "", ErrWrongPassword},
	} {
		if err := p.Check(tc.user, tc.password); !errors.Is(err, tc.want) {
			t.Errorf("Check(%q, %q) = %v, want %v", tc.user, tc.password, err, tc.want)
		}
	}
	if got, want := p.Len(), 12; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if !p.Has("good7") || p.Has("plain") {
		t.Error("Has is wrong")
	}
	wantWarn := map[int]string{
		7:  `pw.txt:7: plain-text password for user "plain" is not accepted`,
		9:  `pw.txt:9: user "dup" is also defined at line 8`,
		12: `pw.txt:12: no password hash for user "empty"`,
		14: `pw.txt:14: unable to decode password salt for user "salt16"`,
		17: `pw.txt:17: plain-text password for user "dupb"`,
		22: `pw.txt:22: NUL byte: this line and the rest of the file are ignored`,
	}
	for _, w := range p.Warnings() {
		var pe *ParseError
		if !errors.As(w, &pe) {
			t.Fatalf("warning %v is not a *ParseError", w)
		}
		want, ok := wantWarn[pe.Line]
		if !ok || !strings.HasPrefix(w.Error(), want) {
			t.Errorf("unexpected warning %q", w)
		}
		delete(wantWarn, pe.Line)
	}
	for _, w := range wantWarn {
		t.Errorf("missing warning %q", w)
	}
}

func TestParsePasswordsEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "user\n"} {
		p, err := ParsePasswords(strings.NewReader(in), "x")
		if err != nil || p.Len() != 0 || len(p.Warnings()) != 0 {
			t.Errorf("%q: %v, %d users, %v", in, err, p.Len(), p.Warnings())
		}
	}
}

func TestParsePasswordsNoFinalNewline(t *testing.T) {
	// mosquitto 2.0.11 reads a last line without a newline.
	p, err := ParsePasswords(strings.NewReader("a:"+secret7+"\nlast:"+secret7), "x")
	if err != nil || p.Check("last", "secret") != nil || p.Check("a", "secret") != nil {
		t.Fatalf("%v, %v", err, p.Check("last", "secret"))
	}
}

func TestParsePasswordsLongFields(t *testing.T) {
	in := strings.Repeat("u", 70000) + ":" + secret7 + "\nok:" + strings.Repeat("h", 70000) + "\n"
	p, err := ParsePasswords(strings.NewReader(in), "x")
	if err != nil || p.Len() != 0 || len(p.Warnings()) != 2 {
		t.Fatalf("%v, %d users, %v", err, p.Len(), p.Warnings())
	}
}

func TestLoadPasswords(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	if err := os.WriteFile(path, []byte("alice:"+secret7+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPasswords(path)
	if err != nil || p.Check("alice", "secret") != nil {
		t.Fatalf("LoadPasswords: %v", err)
	}
	if _, err := LoadPasswords(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParsePasswordsReadError(t *testing.T) {
	if _, err := ParsePasswords(failingReader{}, "x"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("got %v", err)
	}
}

func TestEmptyPasswordNeverLogsIn(t *testing.T) {
	// The hash of "" written by mosquitto_passwd -H sha512 -b f empty6 ''.
	const emptyHash = "$6$AbxN6aQapXEV5qcd$chATSIzQXWaYh+1AkIKgOh+0XXaehIdoTufvelpdFXkZU/cWUChwmi8X2OlKc7ypaMTL1yPYAZWBdDNQdxDTeA=="
	p, err := ParsePasswords(strings.NewReader("e:"+emptyHash+"\n"), "x")
	if err != nil || !p.Has("e") {
		t.Fatal(err)
	}
	if err := p.Check("e", ""); err != ErrWrongPassword {
		t.Errorf("Check(e, \"\") = %v, want ErrWrongPassword", err)
	}
}
