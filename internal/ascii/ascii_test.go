package ascii

import "testing"

func TestEqualFold(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"listClients", "LISTCLIENTS", true},
		{"", "", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"k", "\u212a", false}, // the Kelvin sign is not k
		{"s", "ſ", false},
		{"@", "`", false}, // neighbours of the letters are not folded
		{"[", "{", false},
	} {
		if got := EqualFold(c.a, c.b); got != c.want {
			t.Errorf("EqualFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
