package scheduler

import (
	"fmt"
	"time"

	"github.com/rzonedb/rzone/internal/timeofday"
)

// TimeOfDay is a wall-clock time within a day, stored as the offset from midnight. It
// reads and writes as "HH:MM" or "HH:MM:SS"; "24:00" is accepted as the end of a day.
type TimeOfDay time.Duration

// day is the length of the cycle TimeOfDay wraps around.
const day = timeofday.Day

// TimeOfDayOf returns the time of day of t in t's own location.
func TimeOfDayOf(t time.Time) TimeOfDay {
	h, m, s := t.Clock()
	return TimeOfDay(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(t.Nanosecond()))
}

// ParseTimeOfDay parses "HH:MM" or "HH:MM:SS", from "00:00" to "24:00", with
// timeofday.Parse; its errors wrap ErrInvalidConfig.
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	d, err := timeofday.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, ErrInvalidConfig)
	}
	return TimeOfDay(d), nil
}

// String formats d as "HH:MM", or "HH:MM:SS" when it has seconds.
func (d TimeOfDay) String() string {
	t := time.Duration(d)
	h, m, s := int(t/time.Hour), int(t%time.Hour/time.Minute), int(t%time.Minute/time.Second)
	if s != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

// MarshalText implements encoding.TextMarshaler.
func (d TimeOfDay) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so TimeOfDay reads from JSON and
// YAML config as a string.
func (d *TimeOfDay) UnmarshalText(b []byte) error {
	v, err := ParseTimeOfDay(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// since returns how far d lies after from, going forward around the clock: in [0, 24h).
func (d TimeOfDay) since(from TimeOfDay) time.Duration {
	x := (time.Duration(d) - time.Duration(from)) % day
	if x < 0 {
		x += day
	}
	return x
}
