package clientflags

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// LockedWriter serialises writes from the client's goroutines (messages,
// debug lines) to one output.
type LockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLockedWriter wraps w.
func NewLockedWriter(w io.Writer) *LockedWriter { return &LockedWriter{w: w} }

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ReportParseError prints the outcome of a failed Parse the way the tools
// do and returns the exit status (always 1): the usage text for --help,
// the version line for --version, otherwise the error and a hint.
func ReportParseError(cfg *Config, err error, usage, version string, stdout, stderr io.Writer) int {
	switch {
	case errors.Is(err, ErrHelp):
		io.WriteString(stdout, usage)
	case errors.Is(err, ErrVersion):
		io.WriteString(stdout, version)
	default:
		var ue *UsageError
		if errors.As(err, &ue) && !(ue.Quietable && cfg.Quiet) {
			io.WriteString(stderr, ue.Msg)
		}
		fmt.Fprintf(stderr, "\nUse '%s --help' to see usage.\n", cfg.Tool.Name())
	}
	return 1
}

// Errorf prints to stderr unless --quiet, like Mosquitto's err_printf.
func (c *Config) Errorf(stderr io.Writer, format string, args ...any) {
	if !c.Quiet {
		fmt.Fprintf(stderr, format, args...)
	}
}

// PrintOptionsError reports an error from Options.
func (c *Config) PrintOptionsError(stderr io.Writer, err error) {
	var ue *UsageError
	if errors.As(err, &ue) {
		if !(ue.Quietable && c.Quiet) {
			io.WriteString(stderr, ue.Msg)
		}
		return
	}
	c.Errorf(stderr, "Error: %v\n", err)
}
