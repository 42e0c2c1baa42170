// Package logging bridges the hashicorp libraries' loggers into log/slog, so
// a node writes one structured log.
package logging

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// HCLog returns an hclog.Logger that writes to l. Trace goes to slog's debug
// level minus four.
func HCLog(l *slog.Logger, name string) hclog.Logger {
	return &hcAdapter{l: l.With("lib", name), name: name}
}

type hcAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
}

const levelTrace = slog.LevelDebug - 4

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hcAdapter) Log(level hclog.Level, msg string, args ...any) {
	a.l.Log(context.Background(), toSlog(level), msg, args...)
}
func (a *hcAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hcAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hcAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hcAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hcAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hcAdapter) enabled(l slog.Level) bool { return a.l.Enabled(context.Background(), l) }
func (a *hcAdapter) IsTrace() bool             { return a.enabled(levelTrace) }
func (a *hcAdapter) IsDebug() bool             { return a.enabled(slog.LevelDebug) }
func (a *hcAdapter) IsInfo() bool              { return a.enabled(slog.LevelInfo) }
func (a *hcAdapter) IsWarn() bool              { return a.enabled(slog.LevelWarn) }
func (a *hcAdapter) IsError() bool             { return a.enabled(slog.LevelError) }

func (a *hcAdapter) ImpliedArgs() []any { return a.implied }
func (a *hcAdapter) With(args ...any) hclog.Logger {
	return &hcAdapter{l: a.l.With(args...), name: a.name, implied: append(append([]any{}, a.implied...), args...)}
}
func (a *hcAdapter) Name() string { return a.name }
func (a *hcAdapter) Named(name string) hclog.Logger {
	n := name
	if a.name != "" {
		n = a.name + "." + name
	}
	return &hcAdapter{l: a.l.With("sub", name), name: n, implied: a.implied}
}
func (a *hcAdapter) ResetNamed(name string) hclog.Logger {
	return &hcAdapter{l: a.l, name: name, implied: a.implied}
}
func (a *hcAdapter) SetLevel(hclog.Level) {}
func (a *hcAdapter) GetLevel() hclog.Level {
	switch {
	case a.IsTrace():
		return hclog.Trace
	case a.IsDebug():
		return hclog.Debug
	default:
		return hclog.Info
	}
}
func (a *hcAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}
func (a *hcAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(nil).Writer()
}
