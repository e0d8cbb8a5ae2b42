//go:build race

package broker

// raceEnabled: sync.Pool drops items on purpose under the race detector,
// so allocation counts mean nothing there.
const raceEnabled = true

// poisonReleased: race-detector builds, which the tests run under,
// overwrite a wire buffer's bytes when it returns to its pool, so that a
// holder reading bytes it has given back sends garbage a test notices.
const poisonReleased = true
