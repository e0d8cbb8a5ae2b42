// Package harness is what the benchmark programs under bench/ share:
// starting and stopping broker processes on free loopback ports with
// generated config files, building midge from the tree, finding
// Mosquitto, probing that messages cross between brokers, describing the
// machine, and rendering result tables as text and markdown.
package harness
