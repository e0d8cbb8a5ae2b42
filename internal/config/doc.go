// Package config reads mosquitto.conf files into a typed, validated Config.
//
// The parser reproduces Mosquitto 2.0's file format so an existing
// configuration can be pointed at midge unchanged: a line is a comment only
// when '#' is its first byte, options are split on spaces (never tabs),
// string values run to the end of the line (so "a # b" keeps "# b"), and
// options written before the first `listener` configure the implicit default
// listener. Every option Mosquitto 2.0 knows (plus the 2.1 additions) is
// recognised; an unknown option is an error naming file and line, as it is
// in Mosquitto.
//
// Options that are parsed but not acted on by the broker yet are listed in
// Config.Warnings, one "file:line: ..." entry per use, so an operator is never
// silently given less than the file asks for. Which options those are is
// decided in one place, the option table in options.go.
//
// Where this package is deliberately stricter than Mosquitto (integers that
// are not numbers, missing values that Mosquitto only logs, include_dir in an
// included file) the code says so next to the check.
package config
