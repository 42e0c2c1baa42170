// Package money converts between decimal amount strings ("19.99") and
// int64 minor units (1999), exactly, with two decimal places.
//
// money imports no other rzone package.
package money

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Scale is the number of minor units in one major unit.
const Scale = 100

// Parse converts a decimal string with at most two decimals into minor
// units: "19.99" → 1999, "5" → 500, "0.5" → 50. It refuses signs other than
// a leading '-', exponents, more than two decimals and overflow.
func Parse(s string) (int64, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") || len(frac) > 2 || (hasDot && frac == "") {
		return 0, fmt.Errorf("amount %q: want a decimal like 19.99 with at most two decimals", orig)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("amount %q: want a decimal like 19.99 with at most two decimals", orig)
			}
		}
	}
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil || w > math.MaxInt64/Scale {
			return 0, fmt.Errorf("amount %q is too large", orig)
		}
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseUint(frac, 10, 64)
	v := int64(w)*Scale + int64(f)
	if v < 0 {
		return 0, fmt.Errorf("amount %q is too large", orig)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// Format renders minor units as a decimal string: 1999 → "19.99".
func Format(v int64) string {
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign = "-"
		u = uint64(-(v + 1)) + 1
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/Scale, u%Scale)
}
