package service

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/config"
)

func TestReloadInputsChanged(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	acl := filepath.Join(dir, "acl")
	inc := filepath.Join(dir, "conf.d")
	os.Mkdir(inc, 0o700)
	os.WriteFile(pw, []byte("alice:x1\n"), 0o600)
	os.WriteFile(acl, []byte("topic read #\n"), 0o600)
	conf := filepath.Join(dir, "midge.conf")
	os.WriteFile(conf, []byte("listener 1883\npassword_file "+pw+"\nacl_file "+acl+"\ninclude_dir "+inc+"\n"), 0o600)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	in := newReloadInputs(cfg)
	if len(in.files) != 4 {
		t.Fatalf("watching %d files, want the config, its include_dir, the password and ACL files", len(in.files))
	}
	if c, _ := in.changed(); c {
		t.Fatal("nothing changed, but changed")
	}

	// The same size and modification time, written just after the
	// snapshot: only the content tells.
	mt := in.files[2].info.ModTime()
	os.WriteFile(pw, []byte("alice:x2\n"), 0o600)
	os.Chtimes(pw, mt, mt)
	if c, _ := in.changed(); !c {
		t.Error("password file rewritten in place, same size and time: not seen")
	}
	os.WriteFile(pw, []byte("alice:x1\n"), 0o600)
	os.Chtimes(pw, mt, mt)
	if c, _ := in.changed(); c {
		t.Error("password file written back as loaded: changed")
	}

	// Replaced by a longer file.
	os.WriteFile(pw+".new", []byte("alice:x1\nbob:y\n"), 0o600)
	os.Rename(pw+".new", pw)
	if c, _ := in.changed(); !c {
		t.Error("password file replaced: not seen")
	}
	in = newReloadInputs(cfg)

	// A file added to the include_dir, or the ACL file removed.
	os.WriteFile(filepath.Join(inc, "more.conf"), []byte("max_keepalive 60\n"), 0o600)
	if c, _ := in.changed(); !c {
		t.Error("file added to include_dir: not seen")
	}
	os.Remove(filepath.Join(inc, "more.conf"))
	in = newReloadInputs(cfg)
	os.Remove(acl)
	if c, _ := in.changed(); !c {
		t.Error("ACL file removed: not seen")
	}
}

// A racy snapshot stops reading the files once their times are old
// enough to be trusted.
func TestReloadInputsSettle(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "midge.conf")
	os.WriteFile(conf, []byte("listener 1883\n"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(conf, old, old)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	in := newReloadInputs(cfg)
	if c, settled := in.changed(); c || settled != nil {
		t.Fatalf("old file: changed %v, settled %v", c, settled)
	}
	in.at = old.Add(time.Second) // looked at just after it was written
	c, settled := in.changed()
	if c || settled == nil {
		t.Fatalf("racy old file: changed %v, settled %v", c, settled)
	}
	if settled.files[0].racy(settled.at) {
		t.Fatal("settled snapshot still racy")
	}
}
