package money

import (
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"19.99", 1999, false}, {"5", 500, false}, {"0.5", 50, false}, {".75", 75, false},
		{"0.01", 1, false}, {"-3.10", -310, false}, {"92233720368547758.07", math.MaxInt64, false},
		{"92233720368547758.08", 0, true}, {"1.999", 0, true}, {"1e3", 0, true}, {"", 0, true},
		{"+1", 0, true}, {"1.", 0, true}, {".", 0, true}, {"1,00", 0, true}, {" 1", 0, true}, {"--1", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Parse(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 99, 100, 1999, -1999, math.MaxInt64, math.MinInt64 + 1} {
		got, err := Parse(Format(v))
		if err != nil || got != v {
			t.Fatalf("Parse(Format(%d)) = %d, %v (Format %q)", v, got, err, Format(v))
		}
	}
	if Format(math.MinInt64) != "-92233720368547758.08" {
		t.Fatalf("Format(MinInt64) = %s", Format(math.MinInt64))
	}
}
