package auth

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Source is the address a request's failures are counted by: the host of
// its remote address.
func Source(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// Limiter counts failed authentications per source address: it logs at
// most once a second per source, and refuses a source with more than max
// (default MaxFailures) failures in the current second outright, valid
// token or not, for the rest of that second. The zero Limiter is ready.
type Limiter struct {
	mu  sync.Mutex
	max int
	// now is the clock, time.Now if nil (tests set it).
	now func() time.Time
	sec int64
	per map[string]int
}

// MaxFailures is how many failed authentications a source may have in a
// second before it is refused outright.
const MaxFailures = 20

// SetMax sets how many failures a source may have in a second (tests that
// fail on purpose raise it); 0 is MaxFailures.
func (l *Limiter) SetMax(max int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.max = max
}

// Note counts a failure of src and reports whether to log it.
func (l *Limiter) Note(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	l.per[src]++
	return l.per[src] == 1
}

// Limited reports whether src failed too often this second.
func (l *Limiter) Limited(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	limit := l.max
	if limit == 0 {
		limit = MaxFailures
	}
	return l.per[src] > limit
}

func (l *Limiter) roll() {
	clock := l.now
	if clock == nil {
		clock = time.Now
	}
	if now := clock().Unix(); now != l.sec || l.per == nil {
		l.sec, l.per = now, map[string]int{}
	}
}
