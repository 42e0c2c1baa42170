// Package logging bridges the hashicorp libraries' loggers into log/slog, so
// a node writes one structured log.
//
// logging imports no other rzone package.
package logging

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"reflect"
	"strconv"

	"github.com/hashicorp/go-hclog"
)

// Rule may change the level of a library's log line before it is written:
// it returns the level to write it at. It must not keep args.
type Rule func(level hclog.Level, msg string, args []any) hclog.Level

// HCLog returns an hclog.Logger that writes to l. Trace goes to slog's debug
// level minus four.
//
// The bridge keeps every field a JSON handler would otherwise lose: an
// hclog.Format is formatted, a fmt.Stringer (that is not an error or a
// marshaler) is written as its String, hclog's Hex, Octal, Binary and Quote
// as hclog writes them, and a value that would marshal to an empty object
// or not at all is written with %+v. A library key that slog or rzone's own
// loggers set (time, level, msg, node, zone, group, ...) gets name and "_"
// in front ("raft_time"), so a line never has a key twice.
func HCLog(l *slog.Logger, name string) hclog.Logger {
	return HCLogRules(l, name, nil)
}

// HCLogRules is HCLog with a Rule that may set each line's level (nil: the
// library's level).
func HCLogRules(l *slog.Logger, name string, rule Rule) hclog.Logger {
	return &hcAdapter{l: l.With("lib", name), name: name, rule: rule}
}

type hcAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
	rule    Rule
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
	if a.rule != nil {
		level = a.rule(level, msg, args)
	}
	lv := toSlog(level)
	if !a.enabled(lv) {
		return
	}
	a.l.Log(context.Background(), lv, msg, a.attrs(args)...)
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
	return &hcAdapter{l: a.l.With(a.attrs(args)...), name: a.name, rule: a.rule,
		implied: append(append([]any{}, a.implied...), args...)}
}
func (a *hcAdapter) Name() string { return a.name }
func (a *hcAdapter) Named(name string) hclog.Logger {
	n := name
	if a.name != "" {
		n = a.name + "." + name
	}
	return &hcAdapter{l: a.l.With("sub", name), name: n, implied: a.implied, rule: a.rule}
}
func (a *hcAdapter) ResetNamed(name string) hclog.Logger {
	return &hcAdapter{l: a.l, name: name, implied: a.implied, rule: a.rule}
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

// ownKeys are the keys rzone's loggers set on the lines a library writes.
// slog's own (time, level, msg, source) included.
var ownKeys = map[string]bool{"node": true, "node_zone": true, "zone": true, "group": true, "lib": true, "part": true,
	"sub": true, "time": true, "level": true, "msg": true, "source": true}

// attrs turns hclog's key, value pairs into slog attributes, as HCLog says.
func (a *hcAdapter) attrs(args []any) []any {
	out := make([]any, 0, len(args)/2+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			if st, ok := args[i].(hclog.CapturedStacktrace); ok {
				out = append(out, slog.String("stacktrace", string(st)))
			} else {
				out = append(out, slog.Any(hclog.MissingKey, value(args[i])))
			}
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		if ownKeys[key] {
			key = a.name + "_" + key
		}
		out = append(out, slog.Any(key, value(args[i+1])))
	}
	return out
}

// value is v as a JSON handler can write it without losing it.
func value(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64:
		return v
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		if f, ok := v[0].(string); ok {
			return fmt.Sprintf(f, v[1:]...)
		}
		return fmt.Sprint(v...)
	case hclog.Hex:
		return "0x" + strconv.FormatUint(uint64(v), 16)
	case hclog.Octal:
		return "0" + strconv.FormatUint(uint64(v), 8)
	case hclog.Binary:
		return "0b" + strconv.FormatUint(uint64(v), 2)
	case hclog.Quote:
		return string(v)
	case hclog.CapturedStacktrace:
		return string(v)
	case error:
		if _, ok := v.(json.Marshaler); !ok {
			return v.Error()
		}
		return v
	case json.Marshaler, encoding.TextMarshaler, slog.LogValuer:
		return v
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil
		}
		return v.String()
	}
	switch k := reflect.ValueOf(v).Kind(); k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "{}" {
		return fmt.Sprintf("%+v", v)
	}
	return json.RawMessage(b)
}
