package run

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Delivery of the outbox (the transactional-outbox pattern; fsm/delivered.go
// holds the replicated half). A scheduler effect writes its notification in
// the same log entry as the bill change. On each zone's leader, the
// delivery loop reads the oldest undelivered notifications, gives them to
// the Notifier with bounded concurrency and retries with backoff, and
// records the delivered ones with one CmdNotifyDelivered entry, which
// stamps them with the log time. Nothing about delivery lives only in
// memory: a new leader finds what its predecessor had not recorded and
// delivers it again, under the same key. Delivery is therefore at least
// once, and exactly once at a downstream that deduplicates by key.

// Outbox is a node's delivery loop and its metrics.
type Outbox struct {
	h         Host
	cfg       NotifyConfig
	delivered *prometheus.CounterVec
	recorded  prometheus.Counter

	// unrecorded, by zone, holds the keys this leader delivered whose
	// record has not committed yet (a failed apply, a guard mark that
	// waits), so that a later round of the same term records them again
	// without giving them to the notifier twice. Only the loop uses it.
	unrecorded map[string]*unrecorded
}

// unrecorded is the delivered-not-recorded keys of one zone in one term.
type unrecorded struct {
	term uint64
	keys map[string]bool
}

// NewOutbox returns the delivery loop of the node h, its metrics
// registered with h.Registerer(). Run runs it.
func NewOutbox(h Host, cfg NotifyConfig) *Outbox {
	o := &Outbox{h: h, cfg: cfg.withDefaults(h.Logger()), unrecorded: map[string]*unrecorded{},
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rzone_notifications_delivered_total",
			Help: "Deliver calls to the notifier by this node as zone leader, by job and result (ok; error: an attempt failed; deferred: " +
				"given up for this round, delivered in a later one)."}, []string{"job", "result"}),
		recorded: prometheus.NewCounter(prometheus.CounterOpts{Name: "rzone_notifications_recorded_total",
			Help: "Notifications this node, as zone leader, recorded as delivered (first records only)."}),
	}
	h.Registerer().MustRegister(o.delivered, o.recorded,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rzone_notifications_undelivered",
			Help: "Notifications in the own zone's outbox not yet recorded as delivered (replicated state: the same on every replica)."},
			func() float64 { return float64(h.OwnUndelivered()) }))
	return o
}

// Run delivers every Interval until the node stops.
func (o *Outbox) Run() {
	t := time.NewTicker(o.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-o.h.Done():
			return
		case <-t.C:
		}
		o.tick()
	}
}

func (o *Outbox) tick() {
	for _, g := range o.h.LedGroups() {
		o.deliverSome(g)
	}
}

// deliverSome delivers up to Batch of g's undelivered notifications and
// records those delivered.
func (o *Outbox) deliverSome(g Group) {
	pend, err := g.Undelivered(o.cfg.Batch)
	if err != nil || len(pend) == 0 {
		return
	}
	term := g.Term()
	done := o.unrecorded[g.Name()]
	if done == nil || done.term != term {
		done = &unrecorded{term: term, keys: map[string]bool{}}
		o.unrecorded[g.Name()] = done
	}
	if len(pend) < o.cfg.Batch && len(done.keys) > 0 { // every undelivered one is in pend: forget the others (recorded after all)
		listed := map[string]bool{}
		for _, p := range pend {
			listed[p.Key] = true
		}
		maps.DeleteFunc(done.keys, func(k string, _ bool) bool { return !listed[k] })
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-o.h.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	ok := make([]bool, len(pend))
	sem := make(chan struct{}, o.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range pend {
		if done.keys[pend[i].Key] {
			ok[i] = true
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok[i] = o.deliverOne(ctx, pend[i])
		}()
	}
	wg.Wait()
	var notes []fsm.NoteRef
	for i, p := range pend {
		if !ok[i] {
			continue
		}
		cycle, err := api.ParseCycle(p.Cycle)
		if err != nil { // the state machine formats it: cannot happen
			o.h.Logger().Error("outbox notification with a malformed cycle", "key", p.Key, "err", err)
			continue
		}
		notes = append(notes, fsm.NoteRef{User: p.User, Job: p.Job, Cycle: cycle})
		done.keys[p.Key] = true
	}
	if len(notes) == 0 || !g.LeaseValid() { // a round may outlast the lease it began under
		return
	}
	// If this fails, the notifications stay undelivered in the replicated
	// state: this leader records them in a later round of its term without
	// delivering them again; a new leader delivers them again.
	res, err := g.Apply(fsm.Command{Type: fsm.CmdNotifyDelivered, Notes: notes})
	if err != nil {
		o.h.Logger().Debug("record deliveries", "group", g.Name(), "notifications", len(notes), "err", err)
		return
	}
	o.recorded.Add(float64(res[0].Delivered))
	for _, p := range pend {
		delete(done.keys, p.Key)
	}
}

// deliverOne gives p to the notifier, retrying with backoff, and reports
// whether it was delivered.
func (o *Outbox) deliverOne(ctx context.Context, p api.Notification) bool {
	for attempt := 1; ; attempt++ {
		err := o.cfg.Notifier.Deliver(ctx, p)
		if err == nil {
			o.delivered.WithLabelValues(p.Job, "ok").Inc()
			return true
		}
		o.delivered.WithLabelValues(p.Job, "error").Inc()
		wait, again := o.cfg.Retry.Next(attempt)
		if !again || ctx.Err() != nil {
			o.delivered.WithLabelValues(p.Job, "deferred").Inc()
			o.h.Logger().Debug("notification deferred", "key", p.Key, "attempts", attempt, "err", err)
			return false
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			o.delivered.WithLabelValues(p.Job, "deferred").Inc()
			return false
		}
	}
}
