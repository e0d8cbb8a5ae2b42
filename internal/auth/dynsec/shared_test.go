package dynsec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func openIn(t *testing.T, dir string) *Security {
	t.Helper()
	s, err := Open(filepath.Join(dir, "dynsec.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A change gives the configuration a higher version, which the file
// keeps as its modification time, so that it survives a restart.
func TestVersionGrowsAndIsKept(t *testing.T) {
	dir := t.TempDir()
	s := openIn(t, dir)
	if v := s.Version(); v != 0 {
		t.Fatalf("a configuration without a file has version %d, want 0", v)
	}
	handle(t, s, `{"command": "createClient", "username": "u", "password": "p"}`)
	v1 := s.Version()
	if v1 <= 0 {
		t.Fatalf("version %d after a change", v1)
	}
	handle(t, s, `{"command": "getClient", "username": "u"}`)
	if v := s.Version(); v != v1 {
		t.Fatalf("a request that changes nothing moved the version from %d to %d", v1, v)
	}
	handle(t, s, `{"command": "disableClient", "username": "u"}`)
	v2 := s.Version()
	if v2 <= v1 {
		t.Fatalf("version %d after %d", v2, v1)
	}
	again := openIn(t, dir)
	if v := again.Version(); v != v2 {
		t.Fatalf("reopened at version %d, want %d", v, v2)
	}
	if sv, doc := again.Snapshot(); sv != v2 || !slices.Equal(doc, s.model.encode()) {
		t.Fatalf("snapshot at version %d differs from the configuration saved", sv)
	}
}

// Adopt takes a newer configuration as a whole, saves it with its
// version, refuses an older one or a broken one, and names whose rights
// changed.
func TestAdopt(t *testing.T) {
	a, b := openIn(t, t.TempDir()), openIn(t, t.TempDir())
	setup := `{"command": "createRole", "rolename": "r"},
		{"command": "addRoleACL", "rolename": "r", "acltype": "publishClientSend", "topic": "x/#", "allow": true},
		{"command": "createClient", "username": "same", "password": "p"},
		{"command": "createClient", "username": "moved", "password": "p"},
		{"command": "createClient", "username": "gone", "password": "p"},
		{"command": "createClient", "username": "roled", "password": "p"},
		{"command": "createGroup", "groupname": "anon"},
		{"command": "setAnonymousGroup", "groupname": "anon"}`
	handle(t, a, setup)
	if _, err := b.Adopt(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if b.Version() != a.Version() {
		t.Fatalf("adopted version %d, want %d", b.Version(), a.Version())
	}
	if got := b.Authenticate("c", "moved", true, []byte("p"), true); got != Allow {
		t.Fatalf("adopted configuration: moved's password gives %v", got)
	}
	if v := versionOf(b.Path()); v != a.Version() {
		t.Fatalf("adopted file stamped %d, want %d", v, a.Version())
	}
	reopened := openIn(t, filepath.Dir(b.Path()))
	if reopened.Authenticate("c", "moved", true, []byte("p"), true) != Allow {
		t.Fatal("the adopted configuration was not saved")
	}

	handle(t, a, `{"command": "setClientPassword", "username": "moved", "password": "q"},
		{"command": "deleteClient", "username": "gone"},
		{"command": "createClient", "username": "new"},
		{"command": "addClientRole", "username": "roled", "rolename": "r"},
		{"command": "addGroupRole", "groupname": "anon", "rolename": "r"}`)
	kicks, err := b.Adopt(a.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	want := []Kick{{Username: "gone"}, {Username: "moved"}, {Username: "roled"}, {Username: "new"}, {Anonymous: true}}
	if !slices.Equal(kicks, want) {
		t.Fatalf("kicks %v, want %v", kicks, want)
	}
	if b.Authenticate("c", "moved", true, []byte("q"), true) != Allow || b.Authenticate("c", "moved", true, []byte("p"), true) != Deny {
		t.Fatal("the new password is not in force")
	}

	// The same or an older version changes nothing.
	v, doc := a.Snapshot()
	if _, err := b.Adopt(v, doc); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("the same version again: %v, want ErrNotNewer", err)
	}
	handle(t, b, `{"command": "createClient", "username": "later", "password": "p"}`)
	if _, err := b.Adopt(b.Version(), doc); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("an older version: %v, want ErrNotNewer", err)
	}
	if b.Authenticate("c", "later", true, []byte("p"), true) != Allow {
		t.Fatal("an older configuration replaced a later change")
	}

	// A broken document is refused, and the file stays as it was.
	before, _ := os.ReadFile(b.Path())
	if _, err := b.Adopt(b.Version()+1, []byte(`{"clients": 3}`)); err == nil {
		t.Fatal("a broken configuration adopted")
	}
	after, _ := os.ReadFile(b.Path())
	if !slices.Equal(before, after) || b.Authenticate("c", "later", true, []byte("p"), true) != Allow {
		t.Fatal("a broken configuration changed the one in force")
	}
}

// Adopting what differs only in the order of addition of equal rights
// disconnects nobody.
func TestAdoptSameRightsKicksNobody(t *testing.T) {
	a, b := openIn(t, t.TempDir()), openIn(t, t.TempDir())
	handle(t, a, `{"command": "createRole", "rolename": "r"},
		{"command": "addRoleACL", "rolename": "r", "acltype": "subscribeLiteral", "topic": "t", "allow": true},
		{"command": "createClient", "username": "u", "password": "p", "roles": [{"rolename": "r"}]}`)
	if _, err := b.Adopt(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	handle(t, a, `{"command": "setDefaultACLAccess", "acls": [{"acltype": "publishClientSend", "allow": true}]},
		{"command": "modifyClient", "username": "u", "textname": "a name"}`)
	kicks, err := b.Adopt(a.Snapshot())
	if err != nil || len(kicks) != 0 {
		t.Fatalf("kicks %v, %v; want none", kicks, err)
	}
}
