package auth

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/testtool"
)

// TestMosquittoPasswdOutputVerifies hashes passwords with the real
// mosquitto_passwd and checks that Passwords accepts its file.
func TestMosquittoPasswdOutputVerifies(t *testing.T) {
	bin := testtool.Need(t, "mosquitto_passwd")
	path := filepath.Join(t.TempDir(), "pw")
	users := []struct {
		name, password string
		args           []string
	}{
		{"pbkdf2", "secret", nil},
		{"sha512", "pässwörd", []string{"-H", "sha512"}},
		{"iter", "with space ", []string{"-I", "1000"}},
		{"empty", "", nil},
	}
	for i, u := range users {
		args := append([]string{}, u.args...)
		if i == 0 {
			args = append(args, "-c")
		}
		args = append(args, "-b", path, u.name, u.password)
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
		}
	}
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings()) != 0 {
		t.Errorf("warnings: %v", p.Warnings())
	}
	for _, u := range users {
		if u.password == "" {
			// Stored, but an empty password never logs in (see Check).
			if err := p.Check(u.name, ""); err != ErrWrongPassword || !p.Has(u.name) {
				t.Errorf("%s: %v", u.name, err)
			}
			continue
		}
		if err := p.Check(u.name, u.password); err != nil {
			t.Errorf("%s: %v", u.name, err)
		}
		if err := p.Check(u.name, u.password+"x"); err != ErrWrongPassword {
			t.Errorf("%s with a wrong password: %v", u.name, err)
		}
	}
}

// TestMosquittoAcceptsOurHashes writes HashPassword output to a password
// file and logs in to mosquitto 2.0 with it.
func TestMosquittoAcceptsOurHashes(t *testing.T) {
	testtool.Need(t, "mosquitto")
	path := filepath.Join(readableTempDir(t), "pw")
	type entry struct {
		user, password, alg string
		iter                int
	}
	entries := []entry{
		{"pbkdf2", "secret", AlgSHA512PBKDF2, 0},
		{"pbkdf2-1000", "pässwörd", AlgSHA512PBKDF2, 1000},
		{"sha512", "with space ", AlgSHA512, 0},
		{"empty", "", AlgSHA512PBKDF2, 0},
	}
	var file strings.Builder
	for _, e := range entries {
		h, err := HashPassword(e.password, e.alg, e.iter)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&file, "%s:%s\n", e.user, h)
	}
	if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startMosquitto(t, "allow_anonymous false", "password_file "+path)
	for i, e := range entries {
		for _, pw := range []string{e.password, e.password + "x"} {
			c, rc := connect(t, addr, login{clientID: fmt.Sprint("h", i), username: e.user, hasUsername: true, password: pw, hasPassword: true})
			if c != nil {
				c.conn.Close()
			}
			if want := pw == e.password && pw != ""; (rc == 0) != want {
				t.Errorf("%s/%q: CONNACK %d, want accepted=%v", e.user, pw, rc, want)
			}
		}
	}
}
