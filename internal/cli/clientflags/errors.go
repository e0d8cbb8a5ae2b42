package clientflags

import (
	"errors"
	"fmt"
)

var (
	// ErrHelp is returned for --help: print the usage to stdout, exit 1.
	ErrHelp = errors.New("help requested")
	// ErrVersion is returned for --version: print the version line, exit 1.
	ErrVersion = errors.New("version requested")
)

// UsageError is a rejected command line. Msg is printed to stderr verbatim
// (it carries Mosquitto's own newlines), unless Quietable and --quiet was
// given; the tool then adds "\nUse 'mosquitto_xxx --help' to see usage.\n".
type UsageError struct {
	Msg       string
	Quietable bool // printed with err_printf in Mosquitto, so --quiet hides it
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) *UsageError {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}
