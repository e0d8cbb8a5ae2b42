package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/midge-mqtt/midge/broker"
)

// mosqHandler writes log records the way Mosquitto does by default:
// "<unix seconds>: <message>", one line each. Attributes, when a record
// has any, follow the message as key=value pairs.
type mosqHandler struct {
	mu        *sync.Mutex
	w         io.Writer
	level     slog.Leveler
	timestamp bool
	attrs     []slog.Attr
}

func newMosqHandler(w io.Writer, level slog.Leveler, timestamp bool) *mosqHandler {
	return &mosqHandler{mu: &sync.Mutex{}, w: w, level: level, timestamp: timestamp}
}

func (h *mosqHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *mosqHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if h.timestamp {
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		fmt.Fprintf(&b, "%d: ", t.Unix())
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *mosqHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *mosqHandler) WithGroup(string) slog.Handler { return h }

// levelFor maps Mosquitto's log_type list to the lowest enabled level.
// Mosquitto's types are independent switches; slog levels are ordered, so
// the lowest requested type wins (debug/subscribe/all enable everything).
func levelFor(types []string, verbose bool) slog.Level {
	if verbose {
		return broker.LevelDebug
	}
	if len(types) == 0 {
		return broker.LevelInfo // error, warning, notice, information
	}
	level := slog.Level(100)
	for _, t := range types {
		var l slog.Level
		switch t {
		case "all", "debug", "subscribe", "unsubscribe", "websockets", "internal":
			l = broker.LevelDebug
		case "information":
			l = broker.LevelInfo
		case "notice":
			l = broker.LevelNotice
		case "warning":
			l = broker.LevelWarning
		case "error":
			l = broker.LevelError
		case "none":
			continue
		}
		level = min(level, l)
	}
	return level
}
