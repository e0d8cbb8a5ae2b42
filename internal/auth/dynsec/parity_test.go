package dynsec

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScriptsAgainstMosquitto runs every script against Debian's mosquitto
// with its plugin and against Handle, each on its own copy of the same
// file, and requires byte-identical responses, and files that differ only
// in the password salts and hashes. This also checks that each reads the
// file the other wrote: after a "restart" mosquitto reads its own file and
// midge's, swapped.
func TestScriptsAgainstMosquitto(t *testing.T) {
	pluginPath(t)
	for _, file := range scripts(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			steps := readScript(t, file)
			ours := newInitFile(t)
			theirs := filepath.Join(t.TempDir(), "dynamic-security.json")
			copyFile(t, ours, theirs)

			m := startMosquitto(t, theirs, "allow_anonymous false\n")
			a := connectAdmin(t, m.addr)
			s := open(t, ours)
			for _, st := range steps {
				if st.restart {
					a.close()
					m.Stop()
					swapFiles(t, ours, theirs)
					m.Start()
					a = connectAdmin(t, m.addr)
					s = open(t, ours)
					continue
				}
				want := a.request(st.request)
				got, _ := s.Handle("ctrl-test", "admin", []byte(st.request))
				if !bytes.Equal(got, want) {
					t.Errorf("%s:%d: %s\nmidge     %s\nmosquitto %s", file, st.line, st.request, got, want)
				}
			}
			a.close()
			m.Stop()
			if g, w := withoutSecrets(t, ours), withoutSecrets(t, theirs); g != w {
				t.Errorf("the files differ:\nmidge:\n%s\nmosquitto:\n%s", g, w)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// swapFiles exchanges the contents of two files.
func swapFiles(t *testing.T, a, b string) {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, da, 0o600); err != nil {
		t.Fatal(err)
	}
}

var secretField = regexp.MustCompile(`"(password|salt)":\t"[^"]*"`)

// withoutSecrets returns a file with its salts and hashes blanked: they
// are random.
func withoutSecrets(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return secretField.ReplaceAllString(string(data), `"$1":	"-"`)
}
