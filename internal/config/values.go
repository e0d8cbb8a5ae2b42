package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// call is one option line being applied: the option name as written, the
// words after it, and where it came from. Handlers read their arguments
// through its methods, which produce file:line errors in one style.
type call struct {
	p    *parser
	fs   *fileState
	name string
	args fields
	file string
	line int
}

// errorf returns an *Error located at this line.
func (c *call) errorf(format string, a ...any) error {
	return &Error{File: c.file, Line: c.line, Msg: fmt.Sprintf(format, a...)}
}

// missing is the error for an option given without its value.
func (c *call) missing() error {
	return c.errorf("empty %s value in configuration", c.name)
}

// word returns the next space-separated argument; it is an error if there is none.
func (c *call) word() (string, error) {
	w, ok := c.args.word()
	if !ok {
		return "", c.missing()
	}
	return w, nil
}

// optionalWord returns the next argument, treating a word that starts with
// '#' as the start of a trailing comment (Mosquitto does this for the
// optional words of `listener`, `address` and `topic`).
func (c *call) optionalWord() (string, bool) {
	w, ok := c.args.word()
	if !ok || strings.HasPrefix(w, "#") {
		c.args.pos = len(c.args.s)
		return "", false
	}
	return w, true
}

// str returns the rest of the line as a string value: blanks trimmed, not
// empty, valid UTF-8 without control characters (Mosquitto's string rule).
func (c *call) str() (string, error) {
	v := c.args.rest()
	if v == "" {
		return "", c.missing()
	}
	if err := checkText(v); err != nil {
		return "", c.errorf("%s value: %v", c.name, err)
	}
	return v, nil
}

// checkText applies Mosquitto's UTF-8 rule for configuration strings: valid
// UTF-8, no NUL and no C0 or C1 control characters (a tab inside a value is
// rejected by Mosquitto too).
func checkText(s string) error {
	if len(s) > math.MaxUint16 {
		return fmt.Errorf("value longer than %d bytes", math.MaxUint16)
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Errorf("malformed UTF-8")
			}
		}
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("control character %U not allowed", r)
		}
	}
	return nil
}

// setString stores a string value, refusing a second value for the same
// setting: Mosquitto treats a repeated string option as fatal
// ("Duplicate ... value").
func (c *call) setString(dst *string) error {
	v, err := c.str()
	if err != nil {
		return err
	}
	if c.p.seen[dst] {
		return c.errorf("duplicate %s value in configuration", c.name)
	}
	c.p.seen[dst] = true
	*dst = v
	return nil
}

// boolean reads true|false|1|0; nothing else is accepted, not even "yes".
func (c *call) boolean() (bool, error) {
	w, err := c.word()
	if err != nil {
		return false, err
	}
	b, ok := parseBool(w)
	if !ok {
		return false, c.errorf("invalid %s value (%s): want true, false, 1 or 0", c.name, w)
	}
	return b, nil
}

func parseBool(w string) (v, ok bool) {
	switch w {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// integer reads a whole-number argument.
//
// Deliberately stricter than Mosquitto, which uses atoi(3): there "1O" is 1
// and "abc" is 0, so a typo silently becomes a different setting. Here a
// value that is not a number within the range of a C int is an error.
func (c *call) integer() (int, error) {
	w, err := c.word()
	if err != nil {
		return 0, err
	}
	n, ok := parseInt(w)
	if !ok {
		return 0, c.errorf("invalid %s value (%s): not an integer", c.name, w)
	}
	return n, nil
}

// parseInt accepts what atoi would read in full: optional leading blanks
// (a tab can precede the number, since only spaces separate words), an
// optional sign and decimal digits, within 32 bits.
func parseInt(w string) (int, bool) {
	w = strings.TrimLeftFunc(w, isCSpace)
	if w == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(w, 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// intIn reads an integer and checks it lies in [lo, hi].
func (c *call) intIn(lo, hi int) (int, error) {
	n, err := c.integer()
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, c.errorf("invalid %s value (%d): must be between %d and %d", c.name, n, lo, hi)
	}
	return n, nil
}

// expirationUnit maps a persistent_client_expiration suffix to its length.
// A month is 30 days and a year 365 days, as in Mosquitto.
func expirationUnit(suffix byte) (time.Duration, bool) {
	const day = 24 * time.Hour
	switch suffix {
	case 'h':
		return time.Hour, true
	case 'd':
		return day, true
	case 'w':
		return 7 * day, true
	case 'm':
		return 30 * day, true
	case 'y':
		return 365 * day, true
	}
	return 0, false
}

// parseExpiration reads N{h|d|w|m|y} with N > 0.
func parseExpiration(w string) (time.Duration, error) {
	if w == "" {
		return 0, fmt.Errorf("empty duration")
	}
	unit, ok := expirationUnit(w[len(w)-1])
	if !ok {
		return 0, fmt.Errorf("duration %q must end in h, d, w, m or y", w)
	}
	n, ok := parseInt(w[:len(w)-1])
	if !ok || n <= 0 {
		return 0, fmt.Errorf("duration %q needs a positive whole number before the unit", w)
	}
	if time.Duration(n) > math.MaxInt64/unit {
		return 0, fmt.Errorf("duration %q is too long", w)
	}
	return time.Duration(n) * unit, nil
}

// parseInt64 is parseInt for 64-bit quantities such as memory_limit.
func parseInt64(w string) (int64, bool) {
	w = strings.TrimLeftFunc(w, isCSpace)
	n, err := strconv.ParseInt(w, 10, 64)
	return n, err == nil
}
