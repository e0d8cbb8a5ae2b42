// Package layering holds the test that keeps the package layout of
// DESIGN.md: the codec, topic and config packages stand on the standard
// library alone, and the broker never depends on a concrete listener,
// store or third-party network library.
package layering
