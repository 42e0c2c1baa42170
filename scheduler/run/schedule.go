package run

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/rzonedb/rzone/internal/timeofday"
	"github.com/rzonedb/rzone/scheduler"
)

// parseSchedule reads a time-window table: either scheduler.Schedule as
// JSON ({"windows":[{"from":"00:30","to":"06:00","limit":800}],"default":250})
// or the short form "00:30-06:00=800,06:00-08:00=800..250,default=250", where
// "A..B" ramps from A to B across the window. Times are UTC; outside every
// window the default applies, unlimited when none is given. Windows read
// with timeofday.ParseWindow, as the gray release's window in fsm does.
func parseSchedule(v string) (scheduler.Schedule, error) {
	v = strings.TrimSpace(v)
	sc := scheduler.Schedule{Default: scheduler.Unlimited.Default}
	if strings.HasPrefix(v, "{") {
		if err := json.Unmarshal([]byte(v), &sc); err != nil {
			return sc, err
		}
		return sc, sc.Validate()
	}
	for _, part := range strings.Split(v, ",") {
		span, limit, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sc, fmt.Errorf("window %q: want FROM-TO=LIMIT or default=LIMIT", part)
		}
		lo, hi, ramp := strings.Cut(limit, "..")
		l, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return sc, fmt.Errorf("window %q: limit: %w", part, err)
		}
		if strings.TrimSpace(span) == "default" {
			sc.Default = l
			continue
		}
		from, to, err := timeofday.ParseWindow(span)
		if err != nil {
			return sc, fmt.Errorf("%w: %w", err, scheduler.ErrInvalidConfig)
		}
		w := scheduler.Window{From: scheduler.TimeOfDay(from), To: scheduler.TimeOfDay(to), Limit: l}
		if ramp {
			if w.LimitTo, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return sc, fmt.Errorf("window %q: ramp target: %w", part, err)
			}
		}
		sc.Windows = append(sc.Windows, w)
	}
	return sc, sc.Validate()
}
