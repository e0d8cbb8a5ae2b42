package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/strftime"
)

// logTypes is a set of Mosquitto log types (log_type), one bit per
// broker log level.
type logTypes uint16

// levelBits are the logTypes bits of the broker's levels, by level less
// levelBase: an array, not a map, since every delivery asks whether debug
// lines are wanted.
const levelBase = broker.LevelDebug

var levelBits = [...]logTypes{
	broker.LevelError - levelBase:       1 << 0,
	broker.LevelWarning - levelBase:     1 << 1,
	broker.LevelNotice - levelBase:      1 << 2,
	broker.LevelInfo - levelBase:        1 << 3,
	broker.LevelSubscribe - levelBase:   1 << 4,
	broker.LevelUnsubscribe - levelBase: 1 << 5,
	broker.LevelWebsockets - levelBase:  1 << 6,
	broker.LevelDebug - levelBase:       1 << 7,
}

// levelBit is the logTypes bit of level l, 0 for a level the broker
// does not log at.
func levelBit(l slog.Level) logTypes {
	if i := int(l - levelBase); i >= 0 && i < len(levelBits) {
		return levelBits[i]
	}
	return 0
}

var typeNames = map[string]slog.Level{
	"error":       broker.LevelError,
	"warning":     broker.LevelWarning,
	"notice":      broker.LevelNotice,
	"information": broker.LevelInfo,
	"subscribe":   broker.LevelSubscribe,
	"unsubscribe": broker.LevelUnsubscribe,
	"websockets":  broker.LevelWebsockets,
	"debug":       broker.LevelDebug,
}

const allTypes logTypes = 0xff

// parseLogTypes turns log_type lines into a set; -v means all of them.
// With no log_type lines Mosquitto logs errors, warnings, notices and
// information.
func parseLogTypes(types []string, verbose bool) logTypes {
	if verbose {
		return allTypes
	}
	if len(types) == 0 {
		return levelBit(broker.LevelError) | levelBit(broker.LevelWarning) | levelBit(broker.LevelNotice) | levelBit(broker.LevelInfo)
	}
	var set logTypes
	for _, t := range types {
		switch t {
		case "all":
			set = allTypes
		case "none":
		case "internal":
			// Mosquitto's internal debugging; midge has none to show.
		default:
			set |= levelBit(typeNames[t])
		}
	}
	return set
}

// logSink writes every enabled record to each log_dest: the streams, the
// log file, syslog and $SYS/broker/log topics. It is an slog.Handler.
type logSink struct {
	types  atomic.Uint32 // logTypes; reloadable
	mu     sync.Mutex    // serialises writes and reopening
	stamp  bool
	format string // log_timestamp_format; "" = seconds since the epoch

	streams  []io.Writer
	filePath string
	file     *os.File
	syslog   sysLogger
	// lines, when set, feeds log lines to the goroutine that publishes
	// them to $SYS/broker/log/...
	lines atomic.Pointer[chan topicLine]
	done  chan struct{}
}

type topicLine struct {
	topic string
	line  []byte
}

// newLogSink opens the destinations cfg names.
func newLogSink(cfg *config.Config, verbose bool, stdout, stderr io.Writer) (*logSink, error) {
	s := &logSink{stamp: cfg.LogTimestamp, format: cfg.LogTimestampFormat}
	s.types.Store(uint32(parseLogTypes(cfg.LogTypes, verbose)))
	for _, d := range cfg.LogDest {
		switch d {
		case "stdout":
			s.streams = append(s.streams, stdout)
		case "stderr":
			s.streams = append(s.streams, stderr)
		case "file":
			s.filePath = cfg.LogFile
			if err := s.openFile(); err != nil {
				return nil, err
			}
		case "syslog":
			w, err := openSysLog(cfg.LogFacility)
			if err != nil {
				return nil, err
			}
			s.syslog = w
		}
		// "topic" needs the broker: see publishTo. "dlt" is warned about by
		// the config; "none" adds nothing.
	}
	return s, nil
}

func (s *logSink) openFile() error {
	f, err := os.OpenFile(s.filePath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("unable to open log file %s for writing: %w", s.filePath, err)
	}
	s.file = f
	return nil
}

// reopen reopens the log file (after rotation) and applies new log types.
func (s *logSink) reopen(types logTypes) error {
	s.types.Store(uint32(types))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	old := s.file
	if err := s.openFile(); err != nil {
		s.file = old // keep logging to the old file rather than nowhere
		return err
	}
	old.Close()
	return nil
}

// publishTo starts sending log lines to $SYS/broker/log/... through pub.
// Lines are published from a goroutine of their own: a log call may come
// from code holding a session lock that delivering the line would need.
// If the goroutine falls behind, lines are dropped from the topics (never
// from the other destinations).
func (s *logSink) publishTo(pub func(topic string, line []byte)) {
	ch := make(chan topicLine, 1024)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for l := range ch {
			pub(l.topic, l.line)
		}
	}()
	s.lines.Store(&ch)
}

func (s *logSink) close() {
	if ch := s.lines.Swap(nil); ch != nil {
		s.mu.Lock() // no Handle is between Load and send while we close
		close(*ch)
		s.mu.Unlock()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		s.file.Close()
	}
	if s.syslog.open() {
		s.syslog.Close()
	}
}

func (s *logSink) Enabled(_ context.Context, l slog.Level) bool {
	return logTypes(s.types.Load())&levelBit(l) != 0
}

// maxLogLine is the longest log line, timestamp included, as Mosquitto's.
const maxLogLine = 999

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	var line []byte
	if s.stamp {
		if s.format != "" {
			line = strftime.Format(line, s.format, t)
		} else {
			line = fmt.Appendf(line, "%d", t.Unix())
		}
		line = append(line, ": "...)
	}
	msgStart := len(line)
	line = append(line, r.Message...)
	appendAttr := func(a slog.Attr) bool {
		line = fmt.Appendf(line, " %s=%v", a.Key, a.Value)
		return true
	}
	r.Attrs(appendAttr)
	if len(line) > maxLogLine {
		// Mosquitto formats a line into 1000 bytes and cuts the rest: a
		// 64 KB client id or topic must not become a 64 KB line.
		line = line[:maxLogLine]
	}
	line = append(line, '\n')

	s.mu.Lock()
	var err error
	for _, w := range s.streams {
		if _, werr := w.Write(line); werr != nil && err == nil {
			err = werr
		}
	}
	if s.file != nil {
		if _, werr := s.file.Write(line); werr != nil && err == nil {
			err = werr
		}
	}
	if s.syslog.open() {
		s.syslog.write(r.Level, string(line[msgStart:len(line)-1]))
	}
	// Debug lines never go to topics, as in Mosquitto: delivering them
	// would log more debug lines.
	if ch := s.lines.Load(); ch != nil && r.Level != broker.LevelDebug {
		select {
		case *ch <- topicLine{logTopic(r.Level), line[:len(line)-1]}:
		default:
		}
	}
	s.mu.Unlock()
	return err
}

// logTopic is Mosquitto's $SYS topic for a log type.
func logTopic(l slog.Level) string {
	switch l {
	case broker.LevelError:
		return "$SYS/broker/log/E"
	case broker.LevelWarning:
		return "$SYS/broker/log/W"
	case broker.LevelNotice:
		return "$SYS/broker/log/N"
	case broker.LevelSubscribe:
		return "$SYS/broker/log/M/subscribe"
	case broker.LevelUnsubscribe:
		return "$SYS/broker/log/M/unsubscribe"
	case broker.LevelWebsockets:
		return "$SYS/broker/log/WS"
	}
	return "$SYS/broker/log/I"
}

func (s *logSink) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{parent: s, attrs: attrs}
}

func (s *logSink) WithGroup(string) slog.Handler { return s }

// attrHandler adds attributes to the records it passes to its parent.
type attrHandler struct {
	parent *logSink
	attrs  []slog.Attr
}

func (h *attrHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.parent.Enabled(ctx, l)
}

func (h *attrHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	return h.parent.Handle(ctx, r)
}

func (h *attrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{parent: h.parent, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *attrHandler) WithGroup(string) slog.Handler { return h }
