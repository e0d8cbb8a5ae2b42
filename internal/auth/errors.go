package auth

import (
	"errors"
	"fmt"
)

// ParseError is a problem at one line of a password or ACL file. It is
// returned when a file cannot be used and also describes the entries that
// are skipped with a warning.
type ParseError struct {
	File string // the name given to the parser, usually the path
	Line int    // 1-based
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Check results for Passwords.Check. Mosquitto answers both with CONNACK 5
// "not authorised" (v5: 0x87); they are distinct only for logging.
var (
	ErrUnknownUser   = errors.New("auth: unknown user")
	ErrWrongPassword = errors.New("auth: wrong password")
)
