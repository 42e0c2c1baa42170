package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// memberlistLogger returns the *log.Logger memberlist writes to, bridged
// into l with slog.NewLogLogger. memberlist puts the level in front of each
// line ("[DEBUG] memberlist: ..."); levelHandler moves it into the record's
// level, so its chatter stays at debug.
func memberlistLogger(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(levelHandler{l.With("lib", "memberlist").Handler()}, slog.LevelInfo)
}

// levelHandler passes records to h with the level named by their "[LEVEL] "
// prefix, which it strips.
type levelHandler struct{ h slog.Handler }

var _ slog.Handler = levelHandler{}

// Enabled is true: the level is known only once the line is read.
func (levelHandler) Enabled(context.Context, slog.Level) bool { return true }

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	level, msg := parseLevel(r.Message)
	if level == slog.LevelError && strings.Contains(msg, "use of closed network connection") {
		// memberlist's own sockets closed under it: this node is leaving.
		level = slog.LevelDebug
	}
	if !l.h.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return l.h.Handle(ctx, out)
}

func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{l.h.WithAttrs(as)}
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{l.h.WithGroup(name)}
}

// parseLevel splits memberlist's "[LEVEL] " prefix off msg. Lines without
// one are info.
func parseLevel(msg string) (slog.Level, string) {
	if !strings.HasPrefix(msg, "[") {
		return slog.LevelInfo, msg
	}
	end := strings.Index(msg, "] ")
	if end < 0 {
		return slog.LevelInfo, msg
	}
	rest := msg[end+2:]
	switch msg[1:end] {
	case "TRACE", "DEBUG":
		return slog.LevelDebug, rest
	case "INFO":
		return slog.LevelInfo, rest
	case "WARN":
		return slog.LevelWarn, rest
	case "ERR", "ERROR":
		return slog.LevelError, rest
	}
	return slog.LevelInfo, msg
}
