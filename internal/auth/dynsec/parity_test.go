package dynsec

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "write mosquitto's responses into testdata/scripts")

// TestScriptsAgainstMosquitto runs every script against Debian's mosquitto
// with its plugin and against Handle, each on its own copy of the same
// file, and requires byte-identical responses, and files that differ only
// in the password salts and hashes. This also checks that each reads the
// file the other wrote: after a "restart" mosquitto reads its own file and
// midge's, swapped.
func TestScriptsAgainstMosquitto(t *testing.T) {
	pluginPath(t)
	for _, file := range scripts(t) {
		if strings.HasPrefix(filepath.Base(file), "midge-") {
			continue // where midge departs from Mosquitto 2.0.11 on purpose
		}
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			steps := readScript(t, file)
			var recorded [][]byte
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
				recorded = append(recorded, want)
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
			if *update && strings.HasPrefix(file, "testdata/scripts/") {
				writeResponses(t, file, recorded)
			}
		})
	}
}

// writeResponses puts the responses after the requests of a script,
// replacing those it had.
func writeResponses(t *testing.T, file string, responses [][]byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if strings.HasPrefix(line, "< ") {
			continue
		}
		out = append(out, line)
		if strings.HasPrefix(line, "> ") {
			out = append(out, "< "+string(responses[0]))
			responses = responses[1:]
		}
	}
	if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
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
