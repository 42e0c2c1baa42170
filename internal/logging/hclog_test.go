package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

type addr struct{ host string }

func (a *addr) String() string { return "addr " + a.host }

type opaque struct{ n int }

type server struct {
	ID      string
	Address string
}

// decodeLine decodes one JSON line and fails on a key written twice, which
// encoding/json would silently collapse.
func decodeLine(t *testing.T, line string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	seen := map[string]bool{}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	out := map[string]any{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if seen[k.(string)] {
			t.Errorf("key %q written twice in %s", k, line)
		}
		seen[k.(string)] = true
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out[k.(string)] = v
	}
	return out
}

func TestHCLogKeepsEveryField(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", "a1", "group", "zone/A")
	h := HCLog(base, "raft").With("peer", &addr{"b"})
	h.Info("initial configuration",
		"servers", hclog.Fmt("%+v", []server{{ID: "a1", Address: "127.0.0.1:1"}}),
		"follower", &addr{"a"},
		"node", &addr{"c"},
		"opaque", opaque{n: 7},
		"srv", server{ID: "a2"},
		"err", errors.New("boom"),
		"hex", hclog.Hex(255),
		"quote", hclog.Quote("q"),
		"n", 3,
		"nilptr", (*addr)(nil),
	)
	got := decodeLine(t, strings.TrimSpace(buf.String()))
	want := map[string]any{
		"servers":   "[{ID:a1 Address:127.0.0.1:1}]",
		"follower":  "addr a",
		"peer":      "addr b",
		"raft_node": "addr c",
		"node":      "a1",
		"opaque":    "{n:7}",
		"srv":       map[string]any{"ID": "a2", "Address": ""},
		"err":       "boom",
		"hex":       "0xff",
		"quote":     "q",
		"n":         float64(3),
		"nilptr":    nil,
	}
	for k, w := range want {
		g, _ := json.Marshal(got[k])
		wj, _ := json.Marshal(w)
		if string(g) != string(wj) {
			t.Errorf("%s = %s, want %s", k, g, wj)
		}
	}
}

func TestHCLogRuleSetsTheLevel(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := HCLogRules(base, "raft", func(level hclog.Level, msg string, args []any) hclog.Level {
		if msg == "expected" {
			return hclog.Debug
		}
		return level
	})
	h.Error("expected")
	h.Error("real")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || decodeLine(t, lines[0])["msg"] != "real" || decodeLine(t, lines[0])["level"] != "ERROR" {
		t.Fatalf("got %q, want only the real error at ERROR", lines)
	}
}
