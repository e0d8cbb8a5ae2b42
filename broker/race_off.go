//go:build !race

package broker

// raceEnabled and poisonReleased: see race_on.go.
const (
	raceEnabled    = false
	poisonReleased = false
)
