// Package timeofday parses the "HH:MM[:SS]" times and "HH:MM-HH:MM" windows
// of rzone's configuration. It sits below every other rzone package (it
// imports only the standard library), so the state machine and the scheduler
// read windows with the same code.
//
// timeofday imports no other rzone package.
package timeofday

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is the length of the cycle a time of day wraps around.
const Day = 24 * time.Hour

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("invalid time of day")

// Parse reads "HH:MM" or "HH:MM:SS", from "00:00" to "24:00", into the
// offset from midnight.
func Parse(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	bad := fmt.Errorf("parse time of day %q: want HH:MM or HH:MM:SS: %w", s, ErrInvalid)
	if len(parts) < 2 || len(parts) > 3 {
		return 0, bad
	}
	var f [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || len(p) != 2 {
			return 0, bad
		}
		f[i] = v
	}
	if f[1] > 59 || f[2] > 59 {
		return 0, bad
	}
	d := time.Duration(f[0])*time.Hour + time.Duration(f[1])*time.Minute + time.Duration(f[2])*time.Second
	if d > Day {
		return 0, fmt.Errorf("parse time of day %q: past 24:00: %w", s, ErrInvalid)
	}
	return d, nil
}

// ParseWindow reads "HH:MM[:SS]-HH:MM[:SS]" into its two ends; spaces around
// either end are ignored. The window may wrap midnight (from after to).
func ParseWindow(s string) (from, to time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("window %q: want HH:MM-HH:MM: %w", s, ErrInvalid)
	}
	if from, err = Parse(strings.TrimSpace(a)); err != nil {
		return 0, 0, err
	}
	if to, err = Parse(strings.TrimSpace(b)); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}
