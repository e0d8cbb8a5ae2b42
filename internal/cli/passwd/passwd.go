// Package passwd is "midge passwd", a drop-in mosquitto_passwd: the same
// flags, messages, exit codes and file format as mosquitto_passwd 2.0, so
// that files and scripts move between the two unchanged.
//
// Where mosquitto_passwd 2.0.11 loses data, midge passwd does not (each
// difference was observed with the real tool and is marked in the code):
// comment and blank lines are kept instead of being reported as corrupt,
// a corrupt file is never rewritten (mosquitto_passwd -b reports the
// corrupt line and then replaces the whole file with the one new entry),
// a last line without a newline is not glued to the added entry, -U skips
// entries that are already hashed instead of hashing the hash, -U honours
// -I, and the file is replaced atomically (temporary file, fsync, rename)
// keeping its mode and, when permitted, its owner.
package passwd

import (
	"fmt"
	"io"
	"strings"

	"github.com/midge-mqtt/midge/internal/auth"
)

// maxLen is the longest username or batch password mosquitto_passwd takes.
const maxLen = 65535

const usage = `mosquitto_passwd is a tool for managing password files for mosquitto.

Usage: mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
       mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
       mosquitto_passwd -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      Mosquitto 1.6 and earlier defaulted to sha512.
 -U : update a plain text password file to use hashed passwords.

See https://mosquitto.org/ for more information.

`

// options is the parsed command line.
type options struct {
	alg        string
	iterations int // 0: the algorithm's default
	batch      bool
	create     bool
	delete     bool
	upgrade    bool
	file       string
	username   string
	password   string // batch mode only
}

// Main runs midge passwd with args (without the program name) and returns
// the exit status: 0 on success, 1 on errors, 2 when the two passwords
// typed differ, as mosquitto_passwd.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	errorf := func(format string, a ...any) int {
		fmt.Fprintf(stderr, format, a...)
		return 1
	}
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 1
	}
	o, msg, showUsage := parseArgs(args)
	switch {
	case showUsage:
		fmt.Fprint(stdout, usage)
		return 1
	case msg != "":
		return errorf("%s\n", msg)
	}
	if !o.upgrade { // -U takes no username
		if msg := checkUsername(o.username); msg != "" {
			return errorf("%s\n", msg)
		}
	}
	if o.batch && len(o.password) > maxLen {
		return errorf("Error: Password must be less than 65536 characters long.\n")
	}
	path, err := resolve(o.file)
	if err != nil {
		return errorf("Error reading password file: %s\n", strerror(err))
	}
	p := newPrompter(stdin, stdout, stderr)
	if o.create {
		return create(o, path, p, errorf)
	}
	return modify(o, path, p, errorf)
}

// parseArgs reads flags the way mosquitto_passwd does: each argument is
// compared whole ("-cb" is not two flags) and the first argument that is
// not a flag starts the positional ones. msg is an error to print;
// showUsage asks for the usage text.
func parseArgs(args []string) (o options, msg string, showUsage bool) {
	o.alg = auth.AlgSHA512PBKDF2
	i := 0
flags:
	for ; i < len(args); i++ {
		switch args[i] {
		case "-H":
			if i+1 == len(args) {
				return o, "Error: -H argument given but not enough other arguments.", false
			}
			switch a := args[i+1]; a {
			case auth.AlgSHA512, auth.AlgSHA512PBKDF2, auth.AlgArgon2id: // argon2id: Mosquitto 2.1
				o.alg = a
			default:
				return o, fmt.Sprintf("Error: Unknown hash type '%s'", a), false
			}
			i++
		case "-b":
			o.batch = true
		case "-c":
			o.create = true
		case "-D":
			o.delete = true
		case "-I":
			if i+1 == len(args) {
				return o, "Error: -I argument given but not enough other arguments.", false
			}
			o.iterations = atoi(args[i+1])
			i++
			if o.iterations < 1 {
				return o, "Error: Number of iterations must be > 0.", false
			}
		case "-U":
			o.upgrade = true
		default:
			break flags
		}
	}
	switch {
	case o.create && o.delete:
		return o, "Error: -c and -D cannot be used together.", false
	case o.create && o.upgrade:
		return o, "Error: -c and -U cannot be used together.", false
	case o.delete && o.upgrade:
		return o, "Error: -D and -U cannot be used together.", false
	case o.delete && o.batch:
		return o, "Error: -b and -D cannot be used together.", false
	}
	pos := args[i:]
	switch {
	case o.create && o.batch:
		if len(pos) < 3 {
			return o, "Error: -c argument given but password file, username, or password missing.", false
		}
		o.file, o.username, o.password = pos[0], pos[1], pos[2]
	case o.create:
		if len(pos) < 2 {
			return o, "Error: -c argument given but password file or username missing.", false
		}
		o.file, o.username = pos[0], pos[1]
	case o.delete:
		if len(pos) < 2 {
			return o, "Error: -D argument given but password file or username missing.", false
		}
		o.file, o.username = pos[0], pos[1]
	case o.upgrade:
		if len(pos) != 1 {
			return o, "Error: -U argument given but password file missing.", false
		}
		o.file = pos[0]
	case o.batch && len(pos) == 3:
		o.file, o.username, o.password = pos[0], pos[1], pos[2]
	case !o.batch && len(pos) == 2:
		o.file, o.username = pos[0], pos[1]
	default:
		return o, "", true
	}
	return o, "", false
}

// checkUsername is mosquitto_passwd's is_username_valid.
func checkUsername(u string) string {
	if len(u) > maxLen {
		return "Error: Username must be less than 65536 characters long."
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x20 || u[i] == 0x7f { // iscntrl in the C locale
			return "Error: Username must not contain control characters."
		}
	}
	if strings.Contains(u, ":") {
		return "Error: Username must not contain the ':' character."
	}
	return ""
}

// atoi is C's atoi, which mosquitto_passwd uses for -I: "12x" is 12 and
// "x" is 0. Values beyond int32 give -1, an error, rather than wrapping.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		if n > 1<<31-1 {
			return -1
		}
	}
	if neg {
		return -n
	}
	return n
}

// hash hashes password with the chosen algorithm and iteration count.
func (o *options) hash(password string) (string, error) {
	return auth.HashPassword(password, o.alg, o.iterations)
}
