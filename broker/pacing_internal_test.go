package broker

import "testing"

// A publisher is held back when all its live receivers lag, or more than
// one and more than a quarter of them; never for one slow receiver among
// others.
func TestHoldsBack(t *testing.T) {
	for _, c := range []struct {
		n, live int
		want    bool
	}{
		{0, 0, false}, {0, 5, false},
		{1, 1, true}, {2, 2, true}, {3, 3, true},
		{1, 2, false}, {1, 3, false}, {1, 51, false},
		{2, 3, true}, {2, 8, false}, {3, 8, true},
		{12, 50, false}, {13, 50, true},
	} {
		if got := holdsBack(c.n, c.live); got != c.want {
			t.Errorf("holdsBack(%d, %d) = %v, want %v", c.n, c.live, got, c.want)
		}
	}
}
