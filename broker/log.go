package broker

import (
	"context"
	"log/slog"
)

// Log levels, one per Mosquitto log type. Mosquitto's types are
// independent switches (log_type subscribe shows subscriptions without
// debug lines), so each type has a slog level of its own and a handler
// can enable any set of them; ordered by severity they still behave as
// ordinary slog levels.
const (
	LevelDebug       = slog.LevelDebug
	LevelWebsockets  = slog.Level(-3)
	LevelUnsubscribe = slog.Level(-2)
	LevelSubscribe   = slog.Level(-1)
	LevelInfo        = slog.LevelInfo
	LevelNotice      = slog.Level(2)
	LevelWarning     = slog.LevelWarn
	LevelError       = slog.LevelError
)

// logger is a thin wrapper giving slog a Notice method and cheap checks
// for levels that are off.
type logger struct{ l *slog.Logger }

func (g logger) log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !g.l.Enabled(ctx, level) {
		return
	}
	g.l.Log(ctx, level, msg, args...)
}

func (g logger) Error(msg string, args ...any)  { g.log(LevelError, msg, args...) }
func (g logger) Warn(msg string, args ...any)   { g.log(LevelWarning, msg, args...) }
func (g logger) Notice(msg string, args ...any) { g.log(LevelNotice, msg, args...) }
func (g logger) Info(msg string, args ...any)   { g.log(LevelInfo, msg, args...) }
func (g logger) Debug(msg string, args ...any)  { g.log(LevelDebug, msg, args...) }

// debugEnabled lets hot paths skip building debug messages.
func (g logger) debugEnabled() bool { return g.l.Enabled(context.Background(), LevelDebug) }

// clip shortens a client-supplied string (a topic or filter can be 64 KB)
// for a log line.
func clip(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
