//go:build unix

package passwd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// TestFilesInterchangeable edits one file in turns with midge passwd and
// mosquitto_passwd; each must read what the other wrote.
func TestFilesInterchangeable(t *testing.T) {
	bin := testtool.Need(t, "mosquitto_passwd")
	pw := filepath.Join(t.TempDir(), "pw")
	midge := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if rc := Main(args, strings.NewReader(""), &out, &out); rc != 0 {
			t.Fatalf("midge passwd %v: exit %d: %s", args, rc, out.String())
		}
	}
	mosq := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v: %s", args, err, out)
		}
	}
	midge("-c", "-b", pw, "m1", "one")
	mosq("-b", pw, "q1", "two")
	midge("-H", "sha512", "-b", pw, "m2", "three")
	mosq("-b", pw, "m1", "one-changed")  // mosquitto_passwd updates a midge entry
	midge("-b", pw, "q1", "two-changed") // and midge a mosquitto_passwd one
	mosq("-D", pw, "m2")
	midge("-I", "2000", "-b", pw, "m3", "four")
	mosq("-b", pw, "q2", "five")
	midge("-D", pw, "q2")

	p, err := auth.LoadPasswords(pw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"m1": "one-changed", "q1": "two-changed", "m3": "four"}
	if p.Len() != len(want) {
		data, _ := os.ReadFile(pw)
		t.Fatalf("%d users, want %d:\n%s", p.Len(), len(want), data)
	}
	for u, pass := range want {
		if err := p.Check(u, pass); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	data, _ := os.ReadFile(pw)
	var users []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		users = append(users, strings.SplitN(l, ":", 2)[0])
	}
	if got := strings.Join(users, ","); got != "m1,q1,m3" {
		t.Errorf("order of users %s, want m1,q1,m3 (edits keep their lines in place)", got)
	}
}

// TestPlainFileUpgradedByEither checks that a plain-text file upgraded by
// midge passwd -U is as usable as one upgraded by mosquitto_passwd -U.
func TestPlainFileUpgradedByEither(t *testing.T) {
	bin := testtool.Need(t, "mosquitto_passwd")
	dir := t.TempDir()
	plain := "alice:wonderland\nbob:builder\n"
	for _, tool := range []string{"midge", "mosquitto"} {
		pw := filepath.Join(dir, tool)
		if err := os.WriteFile(pw, []byte(plain), 0o600); err != nil {
			t.Fatal(err)
		}
		if tool == "midge" {
			var out bytes.Buffer
			if rc := Main([]string{"-U", pw}, nil, &out, &out); rc != 0 {
				t.Fatalf("exit %d: %s", rc, out.String())
			}
		} else if out, err := exec.Command(bin, "-U", pw).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		p, err := auth.LoadPasswords(pw)
		if err != nil {
			t.Fatal(err)
		}
		if p.Check("alice", "wonderland") != nil || p.Check("bob", "builder") != nil || len(p.Warnings()) != 0 {
			t.Errorf("%s -U: %v %v %v", tool, p.Check("alice", "wonderland"), p.Check("bob", "builder"), p.Warnings())
		}
	}
}

func TestSymlinkTargetIsRewritten(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("a:"+h7+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if rc := Main([]string{"-b", link, "b", "x"}, nil, &out, &out); rc != 0 {
		t.Fatalf("exit %d: %s", rc, out.String())
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	p, err := auth.LoadPasswords(target)
	if err != nil || p.Check("b", "x") != nil || p.Check("a", "secret") != nil {
		t.Fatalf("target not updated: %v", err)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode())
	}
}

func TestParseArgsOrder(t *testing.T) {
	// Flags after the first positional argument are positional, as with
	// mosquitto_passwd: here "-c" is the username.
	o, msg, usage := parseArgs([]string{"-b", "pw", "-c", "pass"})
	if msg != "" || usage || o.username != "-c" || o.password != "pass" || o.create {
		t.Errorf("got %+v %q %v", o, msg, usage)
	}
}

func TestNewFileModeFollowsUmask(t *testing.T) {
	mask := syscall.Umask(0o022)
	defer syscall.Umask(mask)
	pw := filepath.Join(t.TempDir(), "pw")
	var out bytes.Buffer
	if rc := Main([]string{"-c", "-b", pw, "a", "x"}, nil, &out, &out); rc != 0 {
		t.Fatalf("exit %d: %s", rc, out.String())
	}
	// mosquitto_passwd -c creates the file with fopen: 0666 less the umask.
	if st, err := os.Stat(pw); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v, want 0644", st.Mode(), err)
	}
}
