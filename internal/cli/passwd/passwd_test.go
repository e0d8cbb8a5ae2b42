package passwd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// Hashes used as existing file content: the password of each is "secret".
const (
	h7 = "$7$101$dZayo11B9ioQGKTk$8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg=="
	h6 = "$6$X2LrdOhqRg/H18DO$TDNc2klJl9CQrZg1khf8316UCfC1NuroTbvSQN6oC3Jpk6fBcH7ZzSMS+8KkcKoK7jcsmXrulaPivWo+JiYFAQ=="
)

// cliCase is one run: the initial password file "pw" (none if absent),
// the arguments and stdin, and what mosquitto_passwd 2.0.11 does: exit
// status, stdout, stderr and the resulting file with hashes normalised
// (see normalise). users lists passwords that must verify afterwards.
type cliCase struct {
	name     string
	initial  *string
	args     []string
	stdin    string
	rc       int
	stdout   string
	stderr   string
	file     *string // nil: no file afterwards
	users    map[string]string
	deviates bool // midge differs on purpose: not compared with mosquitto_passwd
}

func ptr(s string) *string { return &s }

const prompts = "Password: \nReenter password: \n"

var cliCases = []cliCase{
	{name: "no args", args: nil, rc: 1, stdout: usage},
	{name: "unknown flag", args: []string{"-x", "pw", "u"}, rc: 1, stdout: usage},
	{name: "combined flags are not flags", args: []string{"-cb", "pw", "u", "p"}, rc: 1, stdout: usage},
	{name: "file only", args: []string{"pw"}, rc: 1, stdout: usage},
	{name: "-c missing user", args: []string{"-c", "pw"}, rc: 1, stderr: "Error: -c argument given but password file or username missing.\n"},
	{name: "-c -b missing password", args: []string{"-c", "-b", "pw", "x"}, rc: 1, stderr: "Error: -c argument given but password file, username, or password missing.\n"},
	{name: "-D missing user", args: []string{"-D", "pw"}, rc: 1, stderr: "Error: -D argument given but password file or username missing.\n"},
	{name: "-U missing file", args: []string{"-U"}, rc: 1, stderr: "Error: -U argument given but password file missing.\n"},
	{name: "-U extra arg", args: []string{"-U", "pw", "x"}, rc: 1, stderr: "Error: -U argument given but password file missing.\n"},
	{name: "-c -D", args: []string{"-c", "-D", "pw", "x"}, rc: 1, stderr: "Error: -c and -D cannot be used together.\n"},
	{name: "-c -U", args: []string{"-c", "-U", "pw"}, rc: 1, stderr: "Error: -c and -U cannot be used together.\n"},
	{name: "-D -U", args: []string{"-D", "-U", "pw"}, rc: 1, stderr: "Error: -D and -U cannot be used together.\n"},
	{name: "-b -D", args: []string{"-b", "-D", "pw", "x"}, rc: 1, stderr: "Error: -b and -D cannot be used together.\n"},
	{name: "-H unknown", args: []string{"-H", "md5", "pw", "x"}, rc: 1, stderr: "Error: Unknown hash type 'md5'\n"},
	{name: "-H no value", args: []string{"-H"}, rc: 1, stderr: "Error: -H argument given but not enough other arguments.\n"},
	{name: "-I 0", args: []string{"-I", "0", "-b", "pw", "x", "y"}, rc: 1, stderr: "Error: Number of iterations must be > 0.\n"},
	{name: "-I abc", args: []string{"-I", "abc", "-b", "pw", "x", "y"}, rc: 1, stderr: "Error: Number of iterations must be > 0.\n"},
	{name: "-I no value", args: []string{"-I"}, rc: 1, stderr: "Error: -I argument given but not enough other arguments.\n"},
	{name: "colon in username", args: []string{"-b", "pw", "a:b", "c"}, rc: 1, stderr: "Error: Username must not contain the ':' character.\n"},
	{name: "tab in username", args: []string{"-b", "pw", "a\tb", "c"}, rc: 1, stderr: "Error: Username must not contain control characters.\n"},
	{name: "-b missing file", args: []string{"-b", "missing", "u", "p"}, rc: 1, stderr: "Error: Unable to open password file missing. No such file or directory.\n"},
	{name: "-D missing file", args: []string{"-D", "missing", "u"}, rc: 1, stderr: "Error: Unable to open password file missing. No such file or directory.\n"},
	{name: "-U missing file", args: []string{"-U", "missing"}, rc: 1, stderr: "Error: Unable to open password file missing. No such file or directory.\n"},
	{name: "prompt missing file", args: []string{"missing", "u"}, stdin: "a\na\n", rc: 1, stderr: "Error: Unable to open password file missing. No such file or directory.\n"},
	{name: "-c missing dir", args: []string{"-c", "-b", "nodir/x", "u", "p"}, rc: 1, stderr: "Error: Unable to open file nodir/x for writing. No such file or directory.\n"},

	{name: "-c -b creates", args: []string{"-c", "-b", "pw", "alice", "secret"},
		file: ptr("alice:$7$101$SALT$HASH\n"), users: map[string]string{"alice": "secret"}},
	{name: "-c overwrites", initial: ptr("bob:" + h7 + "\n"), args: []string{"-c", "-b", "pw", "alice", "secret"},
		file: ptr("alice:$7$101$SALT$HASH\n"), users: map[string]string{"alice": "secret"}},
	{name: "-b adds", initial: ptr("alice:" + h7 + "\n"), args: []string{"-b", "pw", "bob", "pw2"},
		file: ptr("alice:" + h7 + "\nbob:$7$101$SALT$HASH\n"), users: map[string]string{"alice": "secret", "bob": "pw2"}},
	{name: "-b replaces every entry of the user", initial: ptr(" u1 : " + h7 + " \r\nbob:" + h6 + "\nu1:x\n"), args: []string{"-b", "pw", "u1", "new"},
		file: ptr("u1:$7$101$SALT$HASH\nbob:" + h6 + "\nu1:$7$101$SALT$HASH\n"), users: map[string]string{"u1": "new", "bob": "secret"}},
	{name: "-H sha512", initial: ptr("alice:" + h7 + "\n"), args: []string{"-H", "sha512", "-b", "pw", "bob", "pässwörd"},
		file: ptr("alice:" + h7 + "\nbob:$6$SALT$HASH\n"), users: map[string]string{"bob": "pässwörd"}},
	{name: "-I 1000", args: []string{"-I", "1000", "-c", "-b", "pw", "bob", "x"},
		file: ptr("bob:$7$1000$SALT$HASH\n"), users: map[string]string{"bob": "x"}},
	{name: "-I 12x is 12", args: []string{"-I", "12x", "-c", "-b", "pw", "bob", "x"},
		file: ptr("bob:$7$12$SALT$HASH\n"), users: map[string]string{"bob": "x"}},
	{name: "empty username and password in batch", initial: ptr("a:" + h7 + "\n"), args: []string{"-b", "pw", "u", ""},
		file: ptr("a:" + h7 + "\nu:$7$101$SALT$HASH\n")},
	{name: "-D", initial: ptr("alice:" + h7 + "\nbob:" + h6 + "\nalice:" + h6 + "\n"), args: []string{"-D", "pw", "alice"},
		file: ptr("bob:" + h6 + "\n"), users: map[string]string{"bob": "secret"}},
	{name: "-D unknown user", initial: ptr("alice:" + h7 + "\n"), args: []string{"-D", "pw", "carol"}, rc: 1,
		stderr: "Warning: User carol not found in password file.\n", file: ptr("alice:" + h7 + "\n")},
	{name: "-U", initial: ptr("u1:pass1\nu2:pass2:extra\n u3 :pass3 \n"), args: []string{"-U", "pw"},
		file: ptr("u1:$7$101$SALT$HASH\nu2:$7$101$SALT$HASH\nu3:$7$101$SALT$HASH\n"), users: map[string]string{"u1": "pass1", "u2": "pass2", "u3": "pass3"}},
	{name: "-U -H sha512", initial: ptr("u1:pass1\n"), args: []string{"-H", "sha512", "-U", "pw"},
		file: ptr("u1:$6$SALT$HASH\n"), users: map[string]string{"u1": "pass1"}},
	{name: "-U corrupt", initial: ptr("u1:pass1\n::\n"), args: []string{"-U", "pw"}, rc: 1,
		stderr: "Error: Corrupt password file at line 2.\n", file: ptr("u1:pass1\n::\n")},
	{name: "-D corrupt", initial: ptr("u1:" + h7 + "\nnocolon\n"), args: []string{"-D", "pw", "u1"}, rc: 1,
		stderr: "Error: Corrupt password file at line 2.\n", file: ptr("u1:" + h7 + "\nnocolon\n")},

	{name: "prompt create", args: []string{"-c", "pw", "u1"}, stdin: "abc\nabc\n", stdout: prompts,
		file: ptr("u1:$7$101$SALT$HASH\n"), users: map[string]string{"u1": "abc"}},
	{name: "prompt update", initial: ptr("a:" + h7 + "\n"), args: []string{"pw", "u1"}, stdin: "a b \na b \n", stdout: prompts,
		file: ptr("a:" + h7 + "\nu1:$7$101$SALT$HASH\n"), users: map[string]string{"u1": "a b "}},
	{name: "prompt CRLF", initial: ptr("a:" + h7 + "\n"), args: []string{"pw", "u1"}, stdin: "abc\r\nabc\r\n", stdout: prompts,
		file: ptr("a:" + h7 + "\nu1:$7$101$SALT$HASH\n"), users: map[string]string{"u1": "abc"}},
	{name: "prompt mismatch", initial: ptr("a:" + h7 + "\n"), args: []string{"pw", "u2"}, stdin: "abc\nabd\n", rc: 2, stdout: prompts,
		stderr: "Error: Passwords do not match.\n", file: ptr("a:" + h7 + "\n")},
	{name: "prompt empty", initial: ptr("a:" + h7 + "\n"), args: []string{"pw", "u3"}, stdin: "\n\n", rc: 1, stdout: "Password: ",
		stderr: "Error: Empty password.\n", file: ptr("a:" + h7 + "\n")},
	{name: "prompt EOF", initial: ptr("a:" + h7 + "\n"), args: []string{"pw", "u4"}, stdin: "abc", rc: 1, stdout: "Password: \nReenter password: ",
		stderr: "Error: Empty password.\n", file: ptr("a:" + h7 + "\n")},
	{name: "prompt -c mismatch leaves no file", args: []string{"-c", "pw", "u"}, stdin: "a\nb\n", rc: 2, stdout: prompts,
		stderr: "Error: Passwords do not match.\n"},

	// Deliberate differences from mosquitto_passwd 2.0.11.
	{name: "comments and blank lines are kept", deviates: true, initial: ptr("# users\n\na:" + h7 + "\r\n"), args: []string{"-b", "pw", "b", "x"},
		file: ptr("# users\n\na:" + h7 + "\r\nb:$7$101$SALT$HASH\n"), users: map[string]string{"a": "secret", "b": "x"}},
	{name: "corrupt file is not rewritten by -b", deviates: true, initial: ptr("a:" + h7 + "\nbad line\n"), args: []string{"-b", "pw", "b", "x"},
		rc: 1, stderr: "Error: Corrupt password file at line 2.\n", file: ptr("a:" + h7 + "\nbad line\n")},
	{name: "no newline at the end", deviates: true, initial: ptr("a:" + h7), args: []string{"-b", "pw", "b", "x"},
		file: ptr("a:" + h7 + "\nb:$7$101$SALT$HASH\n"), users: map[string]string{"a": "secret", "b": "x"}},
	{name: "-U keeps hashes", deviates: true, initial: ptr("a:" + h7 + "\nb:plain\n"), args: []string{"-U", "pw"},
		file: ptr("a:" + h7 + "\nb:$7$101$SALT$HASH\n"), users: map[string]string{"a": "secret", "b": "plain"}},
	{name: "-U honours -I", deviates: true, initial: ptr("b:plain\n"), args: []string{"-I", "7", "-U", "pw"},
		file: ptr("b:$7$7$SALT$HASH\n"), users: map[string]string{"b": "plain"}},
	{name: "-H argon2id", deviates: true, args: []string{"-H", "argon2id", "-c", "-b", "pw", "a", "x"},
		file: ptr("a:$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH\n"), users: map[string]string{"a": "x"}},
}

var hashRE = regexp.MustCompile(`\$(7\$\d+|6)\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==|\$argon2id\$(v=19\$m=\d+,t=\d+,p=\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+`)

// normalise replaces the random part of each freshly made hash (any not in
// the initial file) with SALT$HASH.
func normalise(file, initial string) string {
	return hashRE.ReplaceAllStringFunc(file, func(h string) string {
		if strings.Contains(initial, h) {
			return h
		}
		m := hashRE.FindStringSubmatch(h)
		if m[1] != "" {
			return "$" + m[1] + "$SALT$HASH"
		}
		return "$argon2id$" + m[2] + "$SALT$HASH"
	})
}

// runCase runs c in a fresh directory, with run standing for the program,
// and checks the outcome.
func runCase(t *testing.T, c cliCase, run func(dir string, args []string, stdin string) (rc int, stdout, stderr string)) {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	initial := ""
	if c.initial != nil {
		initial = *c.initial
		if err := os.WriteFile(pw, []byte(initial), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	rc, stdout, stderr := run(dir, c.args, c.stdin)
	if rc != c.rc || stdout != c.stdout || stderr != c.stderr {
		t.Errorf("exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q", rc, stdout, stderr, c.rc, c.stdout, c.stderr)
	}
	data, err := os.ReadFile(pw)
	switch {
	case c.file == nil && err == nil:
		t.Errorf("unexpected file %q", data)
	case c.file != nil && err != nil:
		t.Errorf("no file: %v", err)
	case c.file != nil:
		if got := normalise(string(data), initial); got != *c.file {
			t.Errorf("file:\n%s\nwant:\n%s", got, *c.file)
		}
		p, err := auth.LoadPasswords(pw)
		if err != nil {
			t.Fatal(err)
		}
		for user, password := range c.users {
			if err := p.Check(user, password); err != nil {
				t.Errorf("user %q: %v", user, err)
			}
		}
		if c.initial != nil {
			if st, err := os.Stat(pw); err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("mode of the rewritten file: %v %v, want 0640", st.Mode(), err)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("stray files left: %v", names)
	}
}

func TestMain_Cases(t *testing.T) {
	for _, c := range cliCases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, c, func(dir string, args []string, stdin string) (int, string, string) {
				t.Chdir(dir)
				var stdout, stderr bytes.Buffer
				rc := Main(args, strings.NewReader(stdin), &stdout, &stderr)
				return rc, stdout.String(), stderr.String()
			})
		})
	}
}

// TestMosquittoPasswdCases runs the same table through the real
// mosquitto_passwd: the expectations above are its behaviour.
func TestMosquittoPasswdCases(t *testing.T) {
	bin := testtool.Need(t, "mosquitto_passwd")
	for _, c := range cliCases {
		if c.deviates {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			runCase(t, c, func(dir string, args []string, stdin string) (int, string, string) {
				cmd := exec.Command(bin, args...)
				cmd.Dir = dir
				cmd.Stdin = strings.NewReader(stdin)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				rc := 0
				if ee, ok := err.(*exec.ExitError); ok {
					rc = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return rc, stdout.String(), stderr.String()
			})
		})
	}
}
