package format

import "fmt"

// FormatError is a rejected -F format string; its text is the exact line
// mosquitto prints (without the trailing newline).
type FormatError struct{ msg string }

func (e *FormatError) Error() string { return e.msg }

// Check validates a -F format string the way mosquitto_sub does before it
// connects, returning the same error text.
func Check(f string) error {
	n := len(f)
	incomplete := &FormatError{"Error: Incomplete format specifier."}
	for i := 0; i < n; i++ {
		switch f[i] {
		case '%':
			if i == n-1 {
				return incomplete
			}
			// Only one flag character is accepted here, so "%0-5t" fails on
			// the '-' just as it does in mosquitto.
			if f[i+1] == '0' || f[i+1] == '-' {
				i++
				if i == n-1 {
					return incomplete
				}
			}
			for i+1 < n && isDigit(f[i+1]) {
				i++
				if i == n-1 {
					return incomplete
				}
			}
			if i+1 < n && f[i+1] == '.' {
				i++
				if i == n-1 {
					return incomplete
				}
				for i+1 < n && isDigit(f[i+1]) {
					i++
					if i == n-1 {
						return incomplete
					}
				}
			}
			if !isSpecifier(f[i+1]) {
				return &FormatError{fmt.Sprintf("Error: Invalid format specifier '%c'.", f[i+1])}
			}
			i++
		case '@':
			if i == n-1 {
				return incomplete
			}
			i++
		case '\\':
			if i == n-1 {
				return &FormatError{"Error: Incomplete escape specifier."}
			}
			switch f[i+1] {
			case '\\', '0', 'a', 'e', 'n', 'r', 't', 'v':
			default:
				return &FormatError{fmt.Sprintf("Error: Invalid escape specifier '%c'.", f[i+1])}
			}
			i++
		}
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpecifier(c byte) bool {
	switch c {
	case '%', 'A', 'C', 'D', 'E', 'F', 'I', 'l', 'm', 'P', 'p', 'q', 'R', 'S', 'r', 't', 'j', 'J', 'U', 'x', 'X':
		return true
	}
	return false
}
