package config

import (
	"errors"
	"strings"
	"testing"
)

// parse parses conf as "test.conf" and fails the test on error.
func parse(t *testing.T, conf string) *Config {
	t.Helper()
	c, err := Parse("test.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatalf("Parse(%q): %v", conf, err)
	}
	return c
}

// parseErr parses conf and returns the *Error it must produce.
func parseErr(t *testing.T, conf string) *Error {
	t.Helper()
	c, err := Parse("test.conf", strings.NewReader(conf))
	if err == nil {
		t.Fatalf("Parse(%q) succeeded (listeners %d), want an error", conf, len(c.Listeners))
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse(%q) error %v (%T) is not an *Error", conf, err, err)
	}
	return e
}

// hasWarning reports whether some warning contains every one of parts.
func hasWarning(c *Config, parts ...string) bool {
	for _, w := range c.Warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}
