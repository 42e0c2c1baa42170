package api

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// formatTimeByLayout is FormatTime as time.Format gives it.
func formatTimeByLayout(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(timeLayout)
}

// TestFormatTimeIsTimeFormat: FormatTime writes the bytes time.Format
// writes, at the edges (the epoch, before it, leap days, the last
// millisecond of year 9999 and the first of 10000, year 0 and before) and
// at a million random milliseconds.
func TestFormatTimeIsTimeFormat(t *testing.T) {
	edges := []int64{0, 1, -1, 999, 1000, -1000, 1_796_000_000_000, 951_782_400_000, 4_107_542_399_999,
		time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli(), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli(),
		math.MaxInt64, math.MinInt64, math.MaxInt64 / 1000, math.MinInt64 / 1000}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 1_000_000 {
		edges = append(edges, rng.Int64N(400_000_000_000_000)-200_000_000_000_000)
	}
	for _, ms := range edges {
		if got, want := FormatTime(ms), formatTimeByLayout(ms); got != want {
			t.Fatalf("FormatTime(%d) = %q, time.Format gives %q", ms, got, want)
		}
	}
}

func FuzzFormatTime(f *testing.F) {
	f.Add(int64(1_796_000_000_000))
	f.Add(int64(-1))
	f.Fuzz(func(t *testing.T, ms int64) {
		if got, want := FormatTime(ms), formatTimeByLayout(ms); got != want {
			t.Fatalf("FormatTime(%d) = %q, time.Format gives %q", ms, got, want)
		}
	})
}

// BenchmarkFormatTime: the digits written directly against time.Format.
func BenchmarkFormatTime(b *testing.B) {
	const ms = 1_796_000_123_456
	for _, c := range []struct {
		name string
		fn   func(int64) string
	}{{"direct", FormatTime}, {"time.Format", formatTimeByLayout}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.fn(ms)
			}
		})
	}
}
