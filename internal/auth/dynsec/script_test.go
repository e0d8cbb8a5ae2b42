package dynsec

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A script is a conversation with the control API, one step a line:
//
//	> PAYLOAD     a request, as published to $CONTROL/dynamic-security/v1
//	< RESPONSE    the response expected (compared as JSON values)
//	kick A B      the clients the request disconnects: usernames, and
//	              "(anonymous)" for the clients without one; "kick" alone
//	              means none. Without the line, the kicks are not checked.
//	restart       the broker restarts: the configuration is read again
//	# ...         a comment
//
// Every script starts from the file `mosquitto_ctrl dynsec init` writes
// for the user "admin" with the password "admin".
type step struct {
	line      int
	restart   bool
	request   string
	response  string
	kicks     []Kick
	kickCheck bool
}

func readScript(t *testing.T, path string) []step {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "restart":
			steps = append(steps, step{line: n, restart: true})
		case strings.HasPrefix(line, "> "):
			steps = append(steps, step{line: n, request: line[2:]})
		case strings.HasPrefix(line, "< ") && len(steps) > 0 && steps[len(steps)-1].request != "":
			steps[len(steps)-1].response = line[2:]
		case (line == "kick" || strings.HasPrefix(line, "kick ")) && len(steps) > 0:
			s := &steps[len(steps)-1]
			s.kickCheck = true
			for _, name := range strings.Fields(line)[1:] {
				if name == "(anonymous)" {
					s.kicks = append(s.kicks, Kick{Anonymous: true})
				} else {
					s.kicks = append(s.kicks, Kick{Username: name})
				}
			}
		default:
			t.Fatalf("%s:%d: bad line %q", path, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

func scripts(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"testdata/vectors/*.txt", "testdata/scripts/*.txt"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	return files
}

// newInitFile writes, in a new directory, the file every script starts
// from, and returns its path.
func newInitFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dynamic-security.json")
	if err := InitFile(path, "admin", "admin"); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, path string) *Security {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

// TestScripts runs Mosquitto's test vectors and our own scripts against
// Handle.
func TestScripts(t *testing.T) {
	for _, file := range scripts(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			path := newInitFile(t)
			s := open(t, path)
			for _, st := range readScript(t, file) {
				if st.restart {
					s = open(t, path)
					continue
				}
				got, kicks := s.Handle("ctrl-test", "admin", []byte(st.request))
				if st.response != "" && !sameJSON(t, string(got), st.response) {
					t.Errorf("%s:%d: %s\n got %s\nwant %s", file, st.line, st.request, got, st.response)
				}
				if st.kickCheck && !slices.Equal(kicks, st.kicks) {
					t.Errorf("%s:%d: %s\nkicks %v, want %v", file, st.line, st.request, kicks, st.kicks)
				}
			}
		})
	}
}
