package timeofday

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:00", 0, true},
		{"09:30", 9*time.Hour + 30*time.Minute, true},
		{"23:59:59", 24*time.Hour - time.Second, true},
		{"24:00", 24 * time.Hour, true},
		{"24:01", 0, false},
		{"9:30", 0, false},
		{"09:60", 0, false},
		{"09", 0, false},
		{"09:30:00:00", 0, false},
		{"-1:00", 0, false},
	} {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Fatalf("Parse(%q) error = %v, want ok %v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseWindow(t *testing.T) {
	from, to, err := ParseWindow(" 22:00 - 06:30 ")
	if err != nil || from != 22*time.Hour || to != 6*time.Hour+30*time.Minute {
		t.Fatalf("ParseWindow = %v %v %v", from, to, err)
	}
	for _, bad := range []string{"22:00", "22:00-", "x-06:00"} {
		if _, _, err := ParseWindow(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWindow(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
}
