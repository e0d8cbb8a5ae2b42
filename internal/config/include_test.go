package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIncludeOrder checks the documented load order: case-insensitive first,
// upper case before lower case of the same letter. Mosquitto 2.0.11 loads
// 00 01 A Ab a aB B b _x for these names (checked by running it); plain
// byte order would put B before a.
func TestIncludeOrder(t *testing.T) {
	dir := t.TempDir()
	names := []string{"b", "B", "a", "A", "01", "00", "_x", "Ab", "aB"}
	for _, n := range names {
		// Each file adds one origin to the listener, so their order shows.
		writeFile(t, dir, n+".conf", "websockets_origin "+n+"\n")
	}
	writeFile(t, dir, "skip.txt", "bogus\n")   // not *.conf
	writeFile(t, dir, ".conf", "bogus\n")      // nothing before .conf
	writeFile(t, dir, "upper.CONF", "bogus\n") // the suffix is case-sensitive
	writeFile(t, dir, ".hidden.conf", "websockets_origin .hidden\n")
	c := parse(t, "listener 1883\ninclude_dir "+dir+"\n")
	// Each included file starts at the default listener, so the origins go
	// there (and are warned about, since that listener is not created).
	got := c.template.WebsocketsOrigins
	want := []string{".hidden", "00", "01", "A", "Ab", "a", "aB", "B", "b", "_x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("load order %v, want %v", got, want)
	}
}

func TestIncludeMultipleDirs(t *testing.T) {
	one, two := t.TempDir(), t.TempDir()
	writeFile(t, one, "B.conf", "listener 2\n")
	writeFile(t, one, "C.conf", "listener 3\n")
	writeFile(t, two, "A.conf", "listener 1\n")
	writeFile(t, two, "D.conf", "listener 4\n")
	c := parse(t, "include_dir "+one+"\ninclude_dir "+two+"\n")
	if got := addrs(c); !reflect.DeepEqual(got, []string{"2", "3", "1", "4"}) {
		t.Errorf("listeners %v", got)
	}
}

func TestIncludeRelativeToWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.conf", "listener 1999\n")
	t.Chdir(filepath.Dir(dir))
	c := parse(t, "include_dir "+filepath.Base(dir)+"\n")
	if got := addrs(c); !reflect.DeepEqual(got, []string{"1999"}) {
		t.Errorf("listeners %v", got)
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "b.conf", "\nlistener 1883\nnot_an_option 1\n")
	writeFile(t, dir, "a.conf", "sys_interval 5\n")

	// The error names the included file and its line (Mosquitto prints both
	// that and the include_dir line of the main file).
	e := parseErr(t, "listener 1883\ninclude_dir "+dir+"\n")
	if e.File != bad || e.Line != 3 || !strings.Contains(e.Msg, "not_an_option") {
		t.Errorf("error %v", e)
	}

	// include_dir inside an included file: Mosquitto 2.0.11 skips the line
	// silently; midge reports it.
	nested := t.TempDir()
	inc := writeFile(t, nested, "n.conf", "sys_interval 5\ninclude_dir "+dir+"\n")
	e = parseErr(t, "include_dir "+nested+"\n")
	if e.File != inc || e.Line != 2 || !strings.Contains(e.Msg, "only allowed in the main configuration file") {
		t.Errorf("error %v", e)
	}

	// Mosquitto: Error: Unable to open include_dir 'nodir'.
	e = parseErr(t, "\ninclude_dir "+filepath.Join(dir, "missing")+"\n")
	if e.File != "test.conf" || e.Line != 2 || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("error %v", e)
	}
	e = parseErr(t, "include_dir\n")
	if e.Line != 1 || !strings.Contains(e.Msg, "empty include_dir") {
		t.Errorf("error %v", e)
	}

	// A directory named *.conf is read like a file, and fails, as in Mosquitto.
	d := t.TempDir()
	if err := os.Mkdir(filepath.Join(d, "sub.conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	e = parseErr(t, "include_dir "+d+"\n")
	if !strings.Contains(e.Error(), "is a directory") {
		t.Errorf("error %v", e)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "mosquitto.conf", "listener 1883\nallow_anonymous true\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != p || c.LocalOnly || !c.AnonymousAllowed(c.Listeners[0]) || c.Listeners[0].File != p {
		t.Errorf("loaded %+v", c)
	}

	p = writeFile(t, dir, "bad.conf", "listener 1883\nallow_anonymous maybe\n")
	_, err = Load(p)
	var e *Error
	if !errors.As(err, &e) || e.File != p || e.Line != 2 || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Errorf("error %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.conf"))
	if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) || e.Line != 0 {
		t.Errorf("error %v", err)
	}
	// Mosquitto: Error: Config file ... is a directory.
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("error %v", err)
	}
}
