package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/config"
)

func TestParseLogTypes(t *testing.T) {
	def := parseLogTypes(nil, false)
	for l, want := range map[slog.Level]bool{broker.LevelError: true, broker.LevelNotice: true, broker.LevelInfo: true, broker.LevelSubscribe: false, broker.LevelDebug: false} {
		if got := def&levelBit(l) != 0; got != want {
			t.Errorf("default types: level %v enabled %v", l, got)
		}
	}
	// Types are independent switches: subscribe without debug.
	set := parseLogTypes([]string{"subscribe", "error"}, false)
	if set&levelBit(broker.LevelSubscribe) == 0 || set&levelBit(broker.LevelError) == 0 || set&levelBit(broker.LevelDebug) != 0 || set&levelBit(broker.LevelInfo) != 0 {
		t.Errorf("subscribe,error = %08b", set)
	}
	if parseLogTypes([]string{"none"}, false) != 0 {
		t.Error("none enables something")
	}
	if parseLogTypes([]string{"none"}, true) != allTypes || parseLogTypes([]string{"all"}, false) != allTypes {
		t.Error("-v or all is not everything")
	}
}

func testSink(t *testing.T, cfg *config.Config) (*logSink, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	s, err := newLogSink(cfg, false, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s, &out
}

func logAt(s *logSink, l slog.Level, msg string, when time.Time) {
	r := slog.NewRecord(when, l, msg, 0)
	if s.Enabled(context.Background(), l) {
		s.Handle(context.Background(), r)
	}
}

func TestLogLineFormats(t *testing.T) {
	when := time.Unix(1795338101, 0)
	cfg := config.Default()
	s, out := testSink(t, cfg)
	logAt(s, broker.LevelNotice, "hello", when)
	logAt(s, broker.LevelDebug, "hidden", when)
	if got := out.String(); got != "1795338101: hello\n" {
		t.Errorf("default format: %q", got)
	}

	cfg.LogTimestampFormat = "%Y-%m-%dT%H:%M:%S"
	s, out = testSink(t, cfg)
	logAt(s, broker.LevelError, "x", when.UTC())
	if got := out.String(); got != "2026-11-22T09:01:41: x\n" {
		t.Errorf("strftime format: %q", got)
	}

	cfg.LogTimestamp = false
	s, out = testSink(t, cfg)
	logAt(s, broker.LevelError, "bare", when)
	if got := out.String(); got != "bare\n" {
		t.Errorf("no timestamp: %q", got)
	}

	// A line is cut at 999 bytes, as Mosquitto cuts its lines.
	cfg.LogTimestamp = true
	cfg.LogTimestampFormat = ""
	s, out = testSink(t, cfg)
	logAt(s, broker.LevelNotice, "New client connected as "+strings.Repeat("a", 65000)+".", when)
	if got := out.String(); len(got) != 1000 || !strings.HasPrefix(got, "1795338101: New client connected as aaa") || !strings.HasSuffix(got, "a\n") {
		t.Errorf("long line: %d bytes, %.50q...", len(got), got)
	}
}

func TestLogFileReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.LogDest = []string{"file"}
	cfg.LogFile = filepath.Join(dir, "midge.log")
	s, _ := testSink(t, cfg)
	logAt(s, broker.LevelNotice, "first", time.Unix(1, 0))
	// logrotate moves the file away, then sends SIGHUP.
	if err := os.Rename(cfg.LogFile, cfg.LogFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.reopen(parseLogTypes(nil, false)); err != nil {
		t.Fatal(err)
	}
	logAt(s, broker.LevelNotice, "second", time.Unix(2, 0))
	old, _ := os.ReadFile(cfg.LogFile + ".1")
	cur, _ := os.ReadFile(cfg.LogFile)
	if string(old) != "1: first\n" || string(cur) != "2: second\n" {
		t.Fatalf("rotated %q, current %q", old, cur)
	}
}

func TestLogFileUnwritable(t *testing.T) {
	cfg := config.Default()
	cfg.LogDest = []string{"file"}
	cfg.LogFile = filepath.Join(t.TempDir(), "no", "such", "dir", "midge.log")
	if _, err := newLogSink(cfg, false, os.Stdout, os.Stderr); err == nil || !strings.Contains(err.Error(), cfg.LogFile) {
		t.Fatalf("err = %v", err)
	}
}

func TestLogToTopic(t *testing.T) {
	cfg := config.Default()
	cfg.LogDest = []string{"topic"}
	cfg.LogTypes = []string{"all"}
	s, out := testSink(t, cfg)
	type pub struct{ topic, line string }
	got := make(chan pub, 10)
	s.publishTo(func(topic string, line []byte) { got <- pub{topic, string(line)} })
	when := time.Unix(7, 0)
	logAt(s, broker.LevelDebug, "debug never goes to a topic", when)
	logAt(s, broker.LevelWarning, "careful", when)
	logAt(s, broker.LevelSubscribe, "c1 1 a/b", when)
	for _, want := range []pub{{"$SYS/broker/log/W", "7: careful"}, {"$SYS/broker/log/M/subscribe", "7: c1 1 a/b"}} {
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("published %+v, want %+v", p, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing published")
		}
	}
	if out.Len() != 0 {
		t.Errorf("log_dest topic alone also wrote %q", out.String())
	}
}
