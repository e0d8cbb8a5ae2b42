// Package ascii holds the C library's string comparisons that Mosquitto's
// behaviour rests on, for the places midge must match them exactly.
package ascii

// EqualFold reports whether a and b are equal under C's strcasecmp in the
// C locale: only A-Z and a-z are folded (strings.EqualFold would also
// fold, say, the Kelvin sign to k, or "ſ" to s).
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
