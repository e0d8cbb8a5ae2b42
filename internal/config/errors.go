package config

import "fmt"

// Error is a configuration problem tied to the place it was found.
//
// Mosquitto reports such a problem as two log lines ("Error: ..." followed by
// "Error found at file:line."); Error carries both parts so a caller can print
// them in either form. Line is 0 when the problem concerns the file as a whole
// (it cannot be opened, for example).
type Error struct {
	File string
	Line int
	Msg  string
	Err  error // underlying cause, if any (e.g. an *os.PathError)
}

// Error formats the problem as "file:line: msg" (or "file: msg" without a line).
func (e *Error) Error() string {
	msg := e.Msg
	if e.Err != nil {
		msg = msg + ": " + e.Err.Error()
	}
	switch {
	case e.File == "" && e.Line == 0:
		return msg
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, msg)
	default:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
}

// Unwrap returns the underlying cause so errors.Is and errors.As see it.
func (e *Error) Unwrap() error { return e.Err }
