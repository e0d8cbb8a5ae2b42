package auth

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxField is the longest username or password hash Mosquitto keeps; longer
// entries are skipped with a warning.
const maxField = 65535

// Passwords is a parsed password file (Mosquitto's password_file). It is
// immutable and safe for concurrent use.
type Passwords struct {
	users    map[string]*storedHash
	warnings []error
}

// LoadPasswords reads and parses the password file at path.
func LoadPasswords(path string) (*Passwords, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("unable to open password file: %w", err)
	}
	defer f.Close()
	return ParsePasswords(f, path)
}

// ParsePasswords parses a password file; name is used in messages.
//
// Lines are read as Mosquitto 2.0 reads them (pwfile__parse and
// unpwd__decode_passwords in src/security_default.c):
//   - a line starting with '#' in the first column, and a line without ':',
//     is ignored ("  #x:y" is the user "#x");
//   - the line is split at ':' like strtok, so empty fields vanish: the
//     username is the first field and the hash the second, both trimmed of
//     blanks (CR included); anything after a further ':' is ignored;
//   - an entry whose hash is missing or not a valid $6$, $7$ or $argon2id$
//     hash is dropped with a warning, so that user cannot log in. Plain-text
//     passwords are such entries: Mosquitto builds with TLS refuse them and
//     so does midge (mosquitto 2.0.11 logs "Invalid password hash type for
//     user plain, removing entry" and refuses the login with CONNACK 5);
//   - a NUL byte ends the file (see the code for why);
//   - when a username appears more than once, the last valid entry wins
//     (verified with mosquitto 2.0.11: of "dup:<hash of one>" then
//     "dup:<hash of two>" only "two" logs in; a later invalid entry does not
//     hide an earlier valid one).
//
// The returned error is only for read failures: like Mosquitto, a file with
// bad entries still loads, and Warnings describes what was dropped.
func ParsePasswords(r io.Reader, name string) (*Passwords, error) {
	p := &Passwords{users: make(map[string]*storedHash)}
	lineOf := make(map[string]int)
	err := eachLine(r, name, func(n int, line string) error {
		warn := func(format string, args ...any) {
			p.warnings = append(p.warnings, &ParseError{File: name, Line: n, Msg: fmt.Sprintf(format, args...)})
		}
		if strings.IndexByte(line, 0) >= 0 {
			// In Mosquitto 2.0 a NUL hides the rest of the line, and
			// fgets_extending, looking for the newline before the NUL,
			// swallows every following line (checked with 2.0.11: users on
			// the NUL line and after it cannot log in).
			warn("NUL byte: this line and the rest of the file are ignored")
			return errStop
		}
		if strings.HasPrefix(line, "#") || !strings.Contains(line, ":") {
			return nil
		}
		f := fields(line, ':')
		if len(f) == 0 {
			return nil // only colons: strtok finds no username
		}
		user := trimSpace(f[0])
		if len(user) > maxField {
			warn("username too long, entry ignored")
			return nil
		}
		if len(f) < 2 {
			warn("no password hash for user %q, entry ignored", user)
			return nil
		}
		hash := trimSpace(f[1])
		if len(hash) > maxField {
			warn("password too long for user %q, entry ignored", user)
			return nil
		}
		h, err := parseHash(hash)
		if err != nil {
			if err == errHashType && !strings.HasPrefix(hash, "$") {
				warn("plain-text password for user %q is not accepted, entry ignored (hash the file with \"midge passwd -U\")", user)
			} else {
				warn("%v for user %q, entry ignored", err, user)
			}
			return nil
		}
		if prev, ok := lineOf[user]; ok {
			warn("user %q is also defined at line %d; this entry replaces it", user, prev)
		}
		lineOf[user] = n
		p.users[user] = &h
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Check reports whether password is the password of username: nil,
// ErrUnknownUser or ErrWrongPassword. Pass "" for a CONNECT without a
// password: Mosquitto 2.0 reads a zero-length password as no password and
// refuses it even when the stored hash is that of "" (mosquitto_passwd -b
// accepts an empty password; mosquitto 2.0.11 then refuses the login with
// CONNACK 5), and Check does the same.
func (p *Passwords) Check(username, password string) error {
	h, ok := p.users[username]
	if !ok {
		return ErrUnknownUser
	}
	if password == "" || !h.verify(password) {
		return ErrWrongPassword
	}
	return nil
}

// Has reports whether username has a usable entry.
func (p *Passwords) Has(username string) bool {
	_, ok := p.users[username]
	return ok
}

// Len is the number of users who can log in.
func (p *Passwords) Len() int { return len(p.users) }

// Warnings lists the entries that were ignored or overridden, each a
// *ParseError naming the line. Mosquitto logs these and starts anyway.
func (p *Passwords) Warnings() []error { return p.warnings }
