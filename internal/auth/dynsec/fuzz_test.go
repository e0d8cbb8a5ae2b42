package dynsec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedRequests returns the requests of every script.
func seedRequests(f *testing.F) [][]byte {
	var seeds [][]byte
	files, _ := filepath.Glob("testdata/*/*.txt")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "> "); ok {
				seeds = append(seeds, []byte(line))
			}
		}
	}
	return seeds
}

func initModel(t testing.TB) *model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "init.json")
	if err := InitFile(path, "admin", "admin"); err != nil {
		t.Fatal(err)
	}
	m, err := loadModel(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzHandle: any request gets a JSON response, and whatever state the
// commands leave is saved as a file that reads back to the same state.
func FuzzHandle(f *testing.F) {
	for _, s := range seedRequests(f) {
		f.Add(s)
	}
	base := initModel(f).encode()
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := decodeModel(base, discard())
		if err != nil {
			t.Fatal(err)
		}
		r := &request{m: m, log: discard(), responses: jsonArr()}
		r.run(payload)
		out := jsonObj().set("responses", r.responses).marshal(false)
		if !json.Valid(bytes.ToValidUTF8(out, []byte("?"))) { // names are echoed as they came
			t.Fatalf("response is not JSON: %s", out)
		}
		saved := m.encode()
		again, err := decodeModel(saved, discard())
		if err != nil {
			t.Fatalf("the saved state does not load: %v\n%s", err, saved)
		}
		if !bytes.Equal(again.encode(), saved) {
			t.Fatalf("the saved state changes when read back:\n%s", saved)
		}
		v := compile(m)
		for _, access := range []Access{Read, Write, Subscribe, Unsubscribe} {
			v.authorize("admin", true, "a/b", access)
			v.authorize("", false, "$CONTROL/x", access)
		}
	})
}

// FuzzDecodeFile: any file either is refused or loads to a state that
// saves and loads back unchanged.
func FuzzDecodeFile(f *testing.F) {
	f.Add(initModel(f).encode())
	f.Add([]byte(decisionsSetup))
	f.Add([]byte(`{"clients": [{"username": "u", "roles": [{"rolename": "r", "priority": 2}]}], "roles": [{"rolename": "r", "acls": [{"acltype": "subscribeLiteral", "topic": "t"}]}], "groups": [{"groupname": "g", "clients": [{"username": "u"}]}], "anonymousGroup": "g"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeModel(data, discard())
		if err != nil {
			return
		}
		saved := m.encode()
		again, err := decodeModel(saved, discard())
		if err != nil {
			t.Fatalf("the saved state does not load: %v\n%s", err, saved)
		}
		if !bytes.Equal(again.encode(), saved) {
			t.Fatalf("the saved state changes when read back:\n%s", saved)
		}
		compile(m)
	})
}
