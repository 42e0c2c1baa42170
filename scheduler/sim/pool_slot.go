package sim

import (
	"math"
	"math/rand/v2"
	"sort"
)

// slot is one concurrent task of a machine. It pauses (stalls: no progress, while the
// machine's agent still renews its leases) as a Poisson process; pauses are drawn
// lazily from the slot's own random stream, so they are the same for every strategy of
// a seed.
type slot struct {
	m    *machine
	busy *exec

	rng    *rand.Rand
	rate   float64 // pauses per second
	mean   float64 // mean pause, seconds
	next   float64 // arrival of the next pause not drawn yet
	pauses []pause // disjoint, in order
}

type pause struct{ from, to float64 }

func newSlot(m *machine, rng *rand.Rand, perHour, meanSeconds float64) *slot {
	s := &slot{m: m, rng: rng, rate: perHour / 3600, mean: meanSeconds, next: math.Inf(1)}
	if s.rate > 0 {
		s.next = rng.ExpFloat64() / s.rate
	}
	return s
}

// ensure draws every pause that starts at or before t.
func (s *slot) ensure(t float64) {
	for s.next <= t {
		from, to := s.next, s.next+s.rng.ExpFloat64()*s.mean
		if n := len(s.pauses); n > 0 && from <= s.pauses[n-1].to {
			s.pauses[n-1].to = math.Max(s.pauses[n-1].to, to)
		} else {
			s.pauses = append(s.pauses, pause{from, to})
		}
		s.next += s.rng.ExpFloat64() / s.rate
	}
}

// after returns the index of the first pause that ends after t.
func (s *slot) after(t float64) int {
	return sort.Search(len(s.pauses), func(i int) bool { return s.pauses[i].to > t })
}

// active returns the time the slot was not paused in [a, b).
func (s *slot) active(a, b float64) float64 {
	if b <= a {
		return 0
	}
	s.ensure(b)
	paused := 0.0
	for i := s.after(a); i < len(s.pauses) && s.pauses[i].from < b; i++ {
		paused += math.Min(s.pauses[i].to, b) - math.Max(s.pauses[i].from, a)
	}
	return b - a - paused
}

// advance returns the earliest time from a at which the slot has been active for need
// seconds.
func (s *slot) advance(a, need float64) float64 {
	t, left := a, need
	for {
		s.ensure(t + left)
		i := s.after(t)
		if i == len(s.pauses) || s.pauses[i].from >= t+left {
			return t + left
		}
		if p := s.pauses[i]; p.from > t {
			left -= p.from - t
		}
		t = s.pauses[i].to
	}
}

// spread adds, for each active stretch of the n users processed from a at rate per
// active second, rate × the stretch's overlap with each one-second bin.
func (s *slot) spread(bins *[]float64, a float64, n int64, rate float64) {
	end := s.advance(a, float64(n)/rate)
	add := func(from, to float64) {
		for k := int(from); float64(k) < to; k++ {
			lo, hi := math.Max(from, float64(k)), math.Min(to, float64(k+1))
			addAt(bins, k, rate*(hi-lo))
		}
	}
	t := a
	for i := s.after(t); i < len(s.pauses) && s.pauses[i].from < end; i++ {
		add(t, math.Max(t, s.pauses[i].from))
		t = math.Max(t, s.pauses[i].to)
	}
	add(t, end)
}
