package pebblestore

import (
	"fmt"
	"log"
)

// logger adapts pebble's logging to Options.Logf.
type logger struct {
	dir  string
	logf func(format string, args ...any)
}

func (l *logger) Infof(format string, args ...any) {
	if l.logf != nil {
		l.logf("pebblestore %s: "+format, append([]any{l.dir}, args...)...)
	}
}

func (l *logger) Errorf(format string, args ...any) {
	if l.logf != nil {
		l.logf("pebblestore %s: "+format, append([]any{l.dir}, args...)...)
		return
	}
	log.Printf("pebblestore %s: "+format, append([]any{l.dir}, args...)...)
}

// Fatalf panics instead of exiting: for a commit error or corruption found
// by a read the panic happens in the goroutine of Apply, Open or Load,
// which recover it into an error (see guard). In a background goroutine it
// crashes the process like pebble's default logger would, but with a
// stack trace.
func (l *logger) Fatalf(format string, args ...any) {
	l.Errorf(format, args...)
	panic(pebbleFatal{msg: fmt.Sprintf(format, args...)})
}
