package server

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler"
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

// NotifyConfig tunes the delivery of the outbox. Zero fields take the
// defaults documented on each.
type NotifyConfig struct {
	// Notifier delivers the notifications. Default a LogNotifier on the
	// node's logger.
	Notifier Notifier
	// Off leaves the outbox undelivered: notifications are only read
	// through the API (--notifier none). Default false.
	Off bool
	// Interval is how often the leader looks for undelivered
	// notifications. Default 200ms.
	Interval time.Duration
	// Batch is the most notifications one round delivers and records in
	// one log entry. Default 256.
	Batch int
	// Concurrency is the most Deliver calls in flight per zone. Default 16.
	Concurrency int
	// Retry is the backoff between one notification's attempts within a
	// round; one that fails MaxAttempts times waits for a later round.
	// Default Base 50ms, Cap 1s, MaxAttempts 4.
	Retry scheduler.RetryPolicy
}

func (c NotifyConfig) withDefaults(n *Node) NotifyConfig {
	if c.Notifier == nil {
		c.Notifier = LogNotifier{Log: n.log.With("notifier", "log")}
	}
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.Batch <= 0 {
		c.Batch = 256
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Retry == (scheduler.RetryPolicy{}) {
		c.Retry = scheduler.RetryPolicy{Base: 50 * time.Millisecond, Cap: time.Second, MaxAttempts: 4}
	}
	return c
}

// outbox is a node's delivery loop and its metrics.
type outbox struct {
	n         *Node
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

func newOutbox(n *Node) *outbox {
	o := &outbox{n: n, cfg: n.cfg.Notify.withDefaults(n), unrecorded: map[string]*unrecorded{},
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rzone_notifications_delivered_total",
			Help: "Deliver calls to the notifier by this node as zone leader, by job and result (ok; error: an attempt failed; deferred: " +
				"given up for this round, delivered in a later one)."}, []string{"job", "result"}),
		recorded: prometheus.NewCounter(prometheus.CounterOpts{Name: "rzone_notifications_recorded_total",
			Help: "Notifications this node, as zone leader, recorded as delivered (first records only)."}),
	}
	n.metrics.reg.MustRegister(o.delivered, o.recorded,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rzone_notifications_undelivered",
			Help: "Notifications in the own zone's outbox not yet recorded as delivered (replicated state: the same on every replica)."},
			func() float64 {
				if f := n.FSM(); f != nil {
					return float64(f.UndeliveredCount())
				}
				return 0
			}))
	return o
}

// loop delivers every Interval until the node stops.
func (o *outbox) loop() { o.n.every(o.cfg.Interval, o.tick) }

func (o *outbox) tick() {
	for _, h := range o.n.hostedZones() {
		if h.voter && h.rep.IsLeader() && h.isReady() && o.n.leaseValid(h) {
			o.deliverSome(h)
		}
	}
}

// deliverSome delivers up to Batch of h's undelivered notifications and
// records those delivered.
func (o *outbox) deliverSome(h *hosted) {
	pend, err := h.fsm.Undelivered(o.cfg.Batch)
	if err != nil || len(pend) == 0 {
		return
	}
	term := h.rep.Raft().CurrentTerm()
	done := o.unrecorded[h.zone]
	if done == nil || done.term != term {
		done = &unrecorded{term: term, keys: map[string]bool{}}
		o.unrecorded[h.zone] = done
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
		case <-o.n.stop:
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
			o.n.log.Error("outbox notification with a malformed cycle", "key", p.Key, "err", err)
			continue
		}
		notes = append(notes, fsm.NoteRef{User: p.User, Job: p.Job, Cycle: cycle})
		done.keys[p.Key] = true
	}
	if len(notes) == 0 || !o.n.leaseValid(h) { // a round may outlast the lease it began under
		return
	}
	// If this fails, the notifications stay undelivered in the replicated
	// state: this leader records them in a later round of its term without
	// delivering them again; a new leader delivers them again.
	res, err := o.n.apply(h, fsm.Command{Type: fsm.CmdNotifyDelivered, Notes: notes})
	if err != nil {
		o.n.log.Debug("record deliveries", "group", h.zone, "notifications", len(notes), "err", err)
		return
	}
	o.recorded.Add(float64(res[0].Delivered))
	for _, p := range pend {
		delete(done.keys, p.Key)
	}
}

// deliverOne gives p to the notifier, retrying with backoff, and reports
// whether it was delivered.
func (o *outbox) deliverOne(ctx context.Context, p api.Notification) bool {
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
			o.n.log.Debug("notification deferred", "key", p.Key, "attempts", attempt, "err", err)
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
