package dynsec

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/testtool"
)

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dynsec.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A valid salt and hash, for files written by hand.
const (
	goodSalt = `"salt": "Ezuo4G1TqYtTQDL/"`
	goodHash = `"password": "Rko31yHY12ryMoyZTBNIUsCPb5SDa4WmUP3Xe2+V6P+QOSW3Gj6IDmpl6zQsAjutb476zEYdBeTw9tU7WZ1new=="`
)

func TestOpenRefusesBrokenFiles(t *testing.T) {
	for _, tc := range []struct{ content, reason string }{
		{`{"clients": [`, "not valid JSON"},
		{` `, "not valid JSON"},
		{`[]`, "not a JSON object"},
		{`{"clients": {}}`, "clients: not an array"},
		{`{"groups": "x"}`, "groups: not an array"},
		{`{"roles": 1}`, "roles: not an array"},
		{`{"defaultACLAccess": []}`, "defaultACLAccess: not an object"},
		{`{"defaultACLAccess": {"publishClientSend": "true"}}`, "publishClientSend is not true or false"},
		{`{"clients": [5]}`, "clients[0]: not an object"},
		{`{"clients": [{"name": "x"}]}`, "clients[0]: missing username"},
		{`{"clients": [{"username": "a"}, {"username": "a"}]}`, `client "a": listed twice`},
		{`{"clients": [{"username": "a", "disabled": "yes"}]}`, `client "a": disabled is not true or false`},
		{`{"clients": [{"username": "a", "clientid": 5}]}`, `client "a": clientid is not a string`},
		{`{"clients": [{"username": "a", "password": "x"}]}`, `client "a": password, salt and iterations must be given together`},
		{`{"clients": [{"username": "a", ` + goodHash + `, ` + goodSalt + `, "iterations": 0}]}`, "invalid iterations"},
		{`{"clients": [{"username": "a", ` + goodHash + `, "salt": "c2hvcnQ=", "iterations": 101}]}`, "invalid salt"},
		{`{"clients": [{"username": "a", "password": "!!", ` + goodSalt + `, "iterations": 101}]}`, "invalid password"},
		{`{"clients": [{"username": "a", "roles": [{"priority": 1}]}]}`, "missing rolename"},
		{`{"clients": [{"username": "a", "roles": [{"rolename": "r", "priority": "1"}]}], "roles": [{"rolename": "r"}]}`, "priority is not a number"},
		{`{"roles": [{"rolename": "r"}, {"rolename": "r"}]}`, `role "r": listed twice`},
		{`{"roles": [{"rolename": "r", "acls": [{"acltype": "subscribe", "topic": "t"}]}]}`, `unknown acltype "subscribe"`},
		{`{"roles": [{"rolename": "r", "acls": [{"acltype": "subscribeLiteral"}]}]}`, "missing topic"},
		{`{"roles": [{"rolename": "r", "acls": [{"topic": "t"}]}]}`, "missing acltype"},
		{`{"roles": [{"rolename": "r", "acls": [{"acltype": "subscribeLiteral", "topic": "t", "allow": 1}]}]}`, "allow is not true or false"},
		{`{"roles": [{"rolename": "r", "textname": 5}]}`, "textname is not a string"},
		{`{"groups": [{"groupname": "g", "clients": [{"priority": 1}]}]}`, "missing username"},
		{`{"groups": [{"groupname": "g"}, {"groupname": "g"}]}`, `group "g": listed twice`},
		{`{"anonymousGroup": 5}`, "anonymousGroup: not a string"},
	} {
		path := writeTemp(t, tc.content)
		_, err := Open(path, nil)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: error %v, want one naming the file and %q", tc.content, err, tc.reason)
		}
	}
}

func TestOpenUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a directory: %v", err)
	}
}

// TestMissingAndEmptyFiles: Mosquitto starts with nothing in both cases,
// and the first change writes the file.
func TestMissingAndEmptyFiles(t *testing.T) {
	for _, content := range []*string{nil, new(string)} {
		path := filepath.Join(t.TempDir(), "dynsec.json")
		if content != nil {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := open(t, path)
		if r := s.Authenticate("c", "admin", true, []byte("admin"), true); r != Defer {
			t.Errorf("an empty configuration answers %v to a login", r)
		}
		for _, access := range []Access{Read, Write, Subscribe, Unsubscribe} {
			if r := s.Authorize("c", "", false, "t", access); r != Defer {
				t.Errorf("an empty configuration answers %v to access %d", r, access)
			}
		}
		s.Handle("c", "u", []byte(`{"commands": [{"command": "createClient", "username": "u", "password": "p"}]}`))
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
		}
		if r := open(t, path).Authenticate("c", "u", true, []byte("p"), true); r != Allow {
			t.Errorf("after reopening: %v", r)
		}
	}
}

// TestFileRoundTrip: what midge writes it reads back to the same file, and
// Mosquitto's own layout (the init file) is read as Mosquitto reads it.
func TestFileRoundTrip(t *testing.T) {
	path := newInitFile(t)
	s := open(t, path)
	resp, _ := s.Handle("c", "u", []byte(decisionsSetup))
	if bytes.Contains(resp, []byte(`"error"`)) {
		t.Fatal(string(resp))
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := loadModel(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	if again := m.encode(); !bytes.Equal(again, first) {
		t.Errorf("reading and writing changed the file:\n%s\n----\n%s", first, again)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("files left in the directory: %v", entries)
	}
}

// TestUnknownReferencesDropped: a role, client or group a file refers to
// but does not define is dropped, as Mosquitto drops it.
func TestUnknownReferencesDropped(t *testing.T) {
	path := writeTemp(t, `{"clients": [{"username": "u", "roles": [{"rolename": "gone"}, {"rolename": "r"}]}],
		"groups": [{"groupname": "g", "roles": [{"rolename": "gone"}], "clients": [{"username": "nobody"}, {"username": "u", "priority": 3}]}],
		"roles": [{"rolename": "r"}], "anonymousGroup": "missing"}`)
	s := open(t, path)
	resp, _ := s.Handle("c", "u", []byte(`{"commands": [{"command": "getClient", "username": "u"}, {"command": "getGroup", "groupname": "g"}, {"command": "getAnonymousGroup"}]}`))
	want := `{"responses":[{"command":"getClient","data":{"client":{"username":"u","roles":[{"rolename":"r"}],"groups":[{"groupname":"g","priority":3}]}}},` +
		`{"command":"getGroup","data":{"group":{"groupname":"g","clients":[{"username":"u"}],"roles":[]}}},` +
		`{"command":"getAnonymousGroup","data":{"group":{"groupname":""}}}]}`
	if string(resp) != want {
		t.Errorf("got  %s\nwant %s", resp, want)
	}
}

// TestSaveFailure: a change that cannot be saved is in force anyway, and
// saved with the next request once the file can be written.
func TestSaveFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dynsec.json")
	if err := InitFile(path, "admin", "admin"); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s.Handle("c", "u", []byte(`{"commands": [{"command": "createClient", "username": "u", "password": "p"}]}`))
	if r := s.Authenticate("c", "u", true, []byte("p"), true); r != Allow {
		t.Fatalf("unsaved change not in force: %v", r)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.Handle("c", "u", []byte(`{"commands": [{"command": "listClients"}]}`))
	if r := open(t, path).Authenticate("c", "u", true, []byte("p"), true); r != Allow {
		t.Fatalf("the change was not saved at the next request: %v", r)
	}
}

func TestInitFileRefusesToOverwrite(t *testing.T) {
	path := newInitFile(t)
	if err := InitFile(path, "x", "y"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("InitFile over an existing file: %v", err)
	}
}

// TestInitFileLikeMosquittoCtrl: `mosquitto_ctrl dynsec init` and InitFile
// write the same file, salt and hash aside, and each reads the other's.
func TestInitFileLikeMosquittoCtrl(t *testing.T) {
	ctrl := testtool.Need(t, "mosquitto_ctrl")
	theirs := filepath.Join(t.TempDir(), "ctrl.json")
	if out, err := exec.Command(ctrl, "dynsec", "init", theirs, "boss", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_ctrl: %v\n%s", err, out)
	}
	ours := filepath.Join(t.TempDir(), "ours.json")
	if err := InitFile(ours, "boss", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if g, w := withoutSecrets(t, ours), withoutSecrets(t, theirs); g != w {
		t.Errorf("InitFile wrote\n%s\nmosquitto_ctrl wrote\n%s", g, w)
	}
	s := open(t, theirs)
	if r := s.Authenticate("x", "boss", true, []byte("s3cret"), true); r != Allow {
		t.Errorf("the password mosquitto_ctrl hashed: %v", r)
	}
	if r := s.Authenticate("x", "boss", true, []byte("s3cre"), true); r != Deny {
		t.Errorf("a wrong password: %v", r)
	}
	resp, _ := s.Handle("x", "boss", []byte(`{"commands": [{"command": "getClient", "username": "boss"}]}`))
	if !strings.Contains(string(resp), `"textname":"Dynsec admin user"`) {
		t.Errorf("textName is read as textname: %s", resp)
	}
}

// TestMosquittoReadsOurInitFile: mosquitto accepts the admin InitFile
// creates.
func TestMosquittoReadsOurInitFile(t *testing.T) {
	path := newInitFile(t)
	m := startMosquitto(t, path, "allow_anonymous false\n")
	a := connectAdmin(t, m.addr)
	if resp := a.request(`{"commands": [{"command": "listClients"}]}`); string(resp) != `{"responses":[{"command":"listClients","data":{"totalCount":1,"clients":["admin"]}}]}` {
		t.Errorf("mosquitto: %s", resp)
	}
}
