package run

import (
	"testing"
	"time"

	"github.com/rzonedb/rzone/scheduler"
)

func TestParseSchedule(t *testing.T) {
	at := func(hhmm string) time.Time {
		tm, _ := time.Parse("15:04", hhmm)
		return tm
	}
	tests := []struct {
		name  string
		value string
		want  map[string]int // time of day -> limit
		bad   bool
	}{
		{name: "short form with ramp and default", value: "00:30-06:00=800, 06:00-08:00=800..250, default=250",
			want: map[string]int{"01:00": 800, "07:00": 525, "12:00": 250, "00:10": 250}},
		{name: "wraps midnight, no default is unlimited", value: "23:30-00:30=50",
			want: map[string]int{"23:45": 50, "00:15": 50, "12:00": scheduler.Unlimited.Default}},
		{name: "whole day", value: "00:00-24:00=3", want: map[string]int{"00:00": 3, "23:59": 3}},
		{name: "json", value: `{"windows":[{"from":"01:00","to":"02:00","limit":7}],"default":2}`,
			want: map[string]int{"01:30": 7, "03:00": 2}},
		{name: "no limit", value: "01:00-02:00", bad: true},
		{name: "bad time", value: "25:00-02:00=5", bad: true},
		{name: "zero limit", value: "01:00-02:00=0", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := parseSchedule(tc.value)
			if (err != nil) != tc.bad {
				t.Fatalf("parse %q: %v", tc.value, err)
			}
			for tod, want := range tc.want {
				if got := sc.At(at(tod)); got != want {
					t.Errorf("%s: limit %d, want %d", tod, got, want)
				}
			}
		})
	}
}
