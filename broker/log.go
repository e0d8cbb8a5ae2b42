package broker

import (
	"context"
	"log/slog"
)

// Log levels. Mosquitto has a "notice" level between information and
// warning; midge maps it to a slog level of its own so that handlers can
// print Mosquitto's log types.
const (
	LevelDebug   = slog.LevelDebug
	LevelInfo    = slog.LevelInfo
	LevelNotice  = slog.Level(2)
	LevelWarning = slog.LevelWarn
	LevelError   = slog.LevelError
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
