package passwd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/midge-mqtt/midge/internal/auth"
)

type errorfFunc func(format string, a ...any) int

// create is -c: write a file holding only the new user.
func create(o options, path string, p *prompter, errorf errorfFunc) int {
	password := o.password
	if !o.batch {
		var rc int
		if password, rc = p.get(); rc != 0 {
			return rc
		}
	}
	line, err := o.hash(password)
	if err != nil {
		return errorf("Error: Unable to hash password.\n")
	}
	if err := writeAtomic(path, []byte(o.username+":"+line+"\n")); err != nil {
		return errorf("Error: Unable to open file %s for writing. %s.\n", path, strerror(err))
	}
	return 0
}

// modify is every mode but -c: rewrite an existing file.
func modify(o options, path string, p *prompter, errorf errorfFunc) int {
	// Opened for writing, as mosquitto_passwd does ("r+"), so that a file
	// we may not change is reported before any password is asked for.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return errorf("Error: Unable to open password file %s. %s.\n", path, strerror(err))
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return errorf("Error: Unable to open password file %s. %s.\n", path, strerror(err))
	}
	lines, bad := parseFile(string(data))
	if bad > 0 {
		return errorf("Error: Corrupt password file at line %d.\n", bad)
	}
	var out []string
	switch {
	case o.delete:
		found := false
		for _, l := range lines {
			if l.isEntry && l.user == o.username {
				found = true
				continue
			}
			out = append(out, l.raw)
		}
		if !found {
			return errorf("Warning: User %s not found in password file.\n", o.username)
		}
	case o.upgrade:
		for _, l := range lines {
			// mosquitto_passwd -U hashes every entry, even a hash, which
			// makes the file unusable; an entry the broker already accepts
			// is left alone here.
			if !l.isEntry || auth.ValidateHash(l.password) == nil {
				out = append(out, l.raw)
				continue
			}
			h, err := o.hash(l.password)
			if err != nil {
				return errorf("Error: Unable to hash password.\n")
			}
			out = append(out, l.user+":"+h)
		}
	default:
		password := o.password
		if !o.batch {
			var rc int
			if password, rc = p.get(); rc != 0 {
				return rc
			}
		}
		found := false
		for _, l := range lines {
			if !l.isEntry || l.user != o.username {
				out = append(out, l.raw)
				continue
			}
			// Every entry of the user is replaced, each with a new salt,
			// as mosquitto_passwd does.
			found = true
			h, err := o.hash(password)
			if err != nil {
				return errorf("Error: Unable to hash password.\n")
			}
			out = append(out, l.user+":"+h)
		}
		if !found {
			h, err := o.hash(password)
			if err != nil {
				return errorf("Error: Unable to hash password.\n")
			}
			out = append(out, o.username+":"+h)
		}
	}
	var b strings.Builder
	for _, l := range out {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if err := writeAtomic(path, []byte(b.String())); err != nil {
		return errorf("Error occurred updating password file %s: %s.\n", path, strerror(err))
	}
	return 0
}

// line is one line of a password file as mosquitto_passwd reads it.
type line struct {
	raw      string // without the newline, CR kept: written back as is
	isEntry  bool
	user     string
	password string // the hash, or the plain text password for -U
}

// parseFile splits data into lines. An entry is split like strtok(":")
// with the two first fields trimmed; anything after a further ':' is
// dropped when the entry is rewritten and kept otherwise. bad is the
// 1-based number of the first corrupt line: no username or no password.
// mosquitto_passwd 2.0.11 also calls comment and blank lines corrupt,
// though the broker skips them; here they are kept.
func parseFile(data string) (lines []line, bad int) {
	if data == "" {
		return nil, 0
	}
	raw := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	for i, r := range raw {
		l := line{raw: r}
		if strings.HasPrefix(r, "#") || strings.TrimSpace(r) == "" {
			lines = append(lines, l)
			continue
		}
		var f []string
		for _, s := range strings.Split(r, ":") {
			if s != "" {
				f = append(f, s)
			}
		}
		if len(f) < 2 {
			return nil, i + 1
		}
		l.isEntry, l.user, l.password = true, cTrim(f[0]), cTrim(f[1])
		if l.user == "" || l.password == "" {
			return nil, i + 1
		}
		lines = append(lines, l)
	}
	return lines, 0
}

// cTrim trims what C's isspace matches.
func cTrim(s string) string { return strings.Trim(s, " \t\n\v\f\r") }

// resolve is realpath(3) as mosquitto_passwd uses it: the absolute path with
// symlinks resolved when the file exists, the name as given when it does
// not, and an error otherwise. Writing to the resolved path replaces the
// target of a symlink instead of the link.
func resolve(name string) (string, error) {
	p, err := filepath.EvalSymlinks(name)
	if errors.Is(err, fs.ErrNotExist) {
		return name, nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}

// writeAtomic replaces path with data: a temporary file in the same
// directory is written and synced, then renamed over path, so a crash
// leaves the old file or the new one, never half of one. An existing
// file's mode and, where permitted, owner are kept; a new file gets 0666
// less the umask, as fopen gives mosquitto_passwd.
func writeAtomic(path string, data []byte) (err error) {
	mode := os.FileMode(0o666)
	old, statErr := os.Stat(path)
	if statErr == nil {
		mode = old.Mode().Perm()
	}
	tmp, err := createTemp(path, mode)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if statErr == nil {
		if err = tmp.Chmod(mode); err != nil { // the umask may have narrowed it
			return err
		}
		keepOwner(tmp, old)
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system can sync a
	// directory, and the file is already complete, so failures are ignored.
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// createTemp creates a new file next to path. os.CreateTemp is not used
// because it forces mode 0600 and a new password file must get the umask's
// mode, as with mosquitto_passwd.
func createTemp(path string, mode os.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		var r [6]byte
		rand.Read(r[:])
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("cannot create a temporary file next to %s", path)
}

// strerror renders err as C's strerror does for mosquitto_passwd's messages
// ("No such file or directory"), falling back to Go's text.
func strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
