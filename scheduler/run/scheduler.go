package run

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/scheduler"
)

// Scheduler is the batch scheduler of one node: the leader part (resume,
// expiry, generation, leasing under the concurrency limits) acts only while
// this node leads the meta group; the worker part (worker.go) runs tasks of
// its own zone on every node. All the state that matters is in the meta
// group (fsm/meta_sched.go); what is here is soft — limiters, counters —
// and rebuilt by a new leader.
type Scheduler struct {
	h   Host
	cfg Config

	mu       sync.Mutex
	term     uint64 // meta term this node resumed as scheduler leader; 0 = not leading
	limiters map[string]*downLimit
	genBusy  map[genKey]bool
	genNext  map[genKey]time.Time // no new attempt of a failed range before
	leaseMu  sync.Mutex           // one lease decision at a time
	reserved map[string]int       // per downstream, the budgets of lease commands not applied yet; under leaseMu

	// worker
	wmu     sync.Mutex
	running int
	// freed is signalled when a task of this worker ends: the worker asks
	// for the next one at once rather than at its next tick.
	freed chan struct{}

	// wg holds the goroutines of generation and of tasks; Run waits for
	// them before it returns.
	wg sync.WaitGroup

	m schedMetrics
	// noBank logs once that an auto-debit task met no bank.
	noBank sync.Once
}

type genKey struct {
	run   uint64
	shard int
}

// downLimit is one downstream's limiter with the config version it was
// built from. The loop, the lease and report handlers and progress reads
// all use it; scheduler.Limiter is not safe for concurrent use, so every
// use goes through these methods, under mu.
type downLimit struct {
	mu      sync.Mutex
	lim     *scheduler.Limiter
	version uint64
}

// limit is the limit in force at now.
func (d *downLimit) limit(now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lim.Limit(now)
}

// update lets the adaptive part decide and returns the limit in force, the
// window's and the adaptive part's.
func (d *downLimit) update(now time.Time) (limit, window, adaptive int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lim.Update(now)
	return d.lim.Limit(now), d.lim.Window(now), d.lim.Adaptive()
}

// observe feeds outcomes of calls to the adaptive part.
func (d *downLimit) observe(samples ...scheduler.Sample) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range samples {
		d.lim.Observe(s)
	}
}

type schedMetrics struct {
	limit    *prometheus.GaugeVec
	leased   *prometheus.GaugeVec
	users    *prometheus.CounterVec
	effects  *prometheus.CounterVec
	reports  *prometheus.CounterVec
	gen      *prometheus.CounterVec
	resumes  prometheus.Counter
	tasksRun prometheus.Gauge
	phase    *prometheus.HistogramVec
}

// The phases of a task rzone_sched_task_phase_seconds times. On the worker:
// lease (asking the meta leader for tasks, and getting some; lease_none
// when the answer had none: the limit was full or others took them), load (the task's due users from
// the zone leader), effects (one batch's POST to the zone leader), report
// (a checkpoint or the completion) and task (a task end to end, from the
// lease request that got it). On the zone leader: check (CheckEffects,
// which may wait for the lease to reach the meta replica) and apply (the
// effects). On the meta leader: generate (one range).
const (
	phaseLease     = "lease"
	phaseLeaseNone = "lease_none"
	phaseLoad      = "load"
	phaseEffects   = "effects"
	phaseReport    = "report"
	phaseTask      = "task"
	phaseCheck     = "check"
	phaseApply     = "apply"
	phaseGenerate  = "generate"
)

// observePhase records how long a phase took since start.
func (s *Scheduler) observePhase(phase string, start time.Time) {
	s.m.phase.WithLabelValues(phase).Observe(time.Since(start).Seconds())
}

// New returns the scheduler of the node h, its metrics registered with
// h.Registerer(). Run runs it.
func New(h Host, cfg Config) *Scheduler {
	s := &Scheduler{h: h, cfg: cfg.withDefaults(), limiters: map[string]*downLimit{}, genBusy: map[genKey]bool{}, genNext: map[genKey]time.Time{}, reserved: map[string]int{}, freed: make(chan struct{}, 1)}
	s.m = schedMetrics{
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rzone_sched_limit",
			Help: "Concurrency limit in force per downstream (min of window and adaptive), on the scheduler leader."}, []string{"downstream", "part"}),
		leased: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rzone_sched_leased_tasks",
			Help: "Tasks leased to workers per downstream, on the scheduler leader."}, []string{"downstream"}),
		users: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rzone_sched_worker_users_total",
			Help: "Users this node's worker processed, by job."}, []string{"job"}),
		effects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rzone_sched_effects_total",
			Help: "Effects applied by this node as zone leader, by job and result (ok, replay, not_due, failed)."}, []string{"job", "result"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rzone_sched_reports_total",
			Help: "Worker reports on the scheduler leader, by kind and outcome (ok, fenced, refused)."}, []string{"kind", "outcome"}),
		gen: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rzone_sched_generation_total",
			Help: "Range generation attempts on the scheduler leader, by outcome (ok, mismatch, error)."}, []string{"outcome"}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{Name: "rzone_sched_resumes_total",
			Help: "Times this node resumed the runs as the new scheduler leader."}),
		tasksRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rzone_sched_worker_tasks",
			Help: "Tasks this node's worker is running."}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rzone_sched_task_phase_seconds",
			Help:    "Time of the phases of tasks on this node: lease, lease_none, load, effects, report and task on the worker; check and apply on the zone leader; generate on the scheduler leader.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"phase"}),
	}
	reg := h.Registerer()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rzone_sched_leader",
		Help: "1 while this node is the scheduler leader (it leads the meta group and has resumed the runs)."}, func() float64 {
		if s.leaderTerm() != 0 {
			return 1
		}
		return 0
	}))
	reg.MustRegister(s.m.limit, s.m.leased, s.m.users, s.m.effects, s.m.reports, s.m.gen, s.m.resumes, s.m.tasksRun, s.m.phase)
	return s
}

// Run is the scheduler's main loop on every cluster node, until the node
// stops: the leader part while this node leads the meta group, and the
// worker always, in a loop of its own, so that neither waits
// for the other's requests. Generation runs in goroutines of its own, so
// that it overlaps execution. Run returns once those and the tasks have
// ended.
func (s *Scheduler) Run() {
	defer s.wg.Wait()
	s.goTracked(func() { s.loop(s.freed, s.work) })
	s.loop(nil, s.lead)
}

// loop runs fn every Interval, and at once when now fires (nil: never),
// while the cluster is initialized, until the node stops. The worker's
// loop passes the channel a task's end fires, so that a slot freed under
// the limit does not stand idle until the next tick.
func (s *Scheduler) loop(now <-chan struct{}, fn func()) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.h.Done():
			return
		case <-t.C:
		case <-now:
		}
		select {
		case <-s.h.Done():
			// Stopping: the tasks that just ended fired now; asking for
			// more would lease tasks this node can no longer run.
			return
		default:
		}
		if s.h.MetaState().Initialized {
			fn()
		}
	}
}

// goTracked runs fn in a goroutine Run waits for.
func (s *Scheduler) goTracked(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// lead does one round of the leader's part: resume once per term, take back
// expired leases, update the limiters, start generation of ranges.
func (s *Scheduler) lead() {
	if !s.h.IsMetaLeader() {
		s.setTerm(0)
		return
	}
	term := s.h.MetaTerm()
	if s.leaderTerm() != term {
		if !s.resume(term) {
			return
		}
	}
	st := s.h.MetaState()
	if st.Sched == nil {
		return
	}
	now := s.h.Now().UTC()
	if s.anyExpired(st.Sched, now.UnixMilli()) {
		s.apply(fsm.MetaSchedExpire, fsm.SchedCmd{})
	}
	s.updateLimits(st, now)
	s.generate(st)
}

func (s *Scheduler) leaderTerm() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term
}

func (s *Scheduler) setTerm(t uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.term != 0 && t == 0 {
		s.limiters = map[string]*downLimit{}
	}
	s.term = t
}

// resume makes this node the scheduler leader of term: it commits
// MetaSchedResume, which voids every lease of an older term, after which
// the persisted state alone says what is left to do.
func (s *Scheduler) resume(term uint64) bool {
	res, err := s.apply(fsm.MetaSchedResume, fsm.SchedCmd{Term: term})
	if err != nil || res.Err != "" {
		s.h.Logger().Debug("scheduler resume", "term", term, "err", err, "refused", res.Err)
		return false
	}
	s.setTerm(term)
	s.m.resumes.Inc()
	if res.Sched != nil && res.Sched.Expired > 0 {
		s.h.Logger().Info("scheduler resumed; leases of older terms voided", "term", term, "voided", res.Sched.Expired)
	}
	return true
}

// apply commits a scheduler command on this node, the meta leader.
func (s *Scheduler) apply(typ byte, c fsm.SchedCmd) (fsm.MetaResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.ApplyTimeout())
	defer cancel()
	return s.h.MetaApply(ctx, fsm.MetaCmd{Type: typ, Sched: &c})
}

func (s *Scheduler) anyExpired(ss *fsm.SchedState, now int64) bool {
	for _, r := range ss.Runs {
		if r.State != fsm.RunRunning {
			continue
		}
		for _, t := range r.Tasks {
			if t.LeaseExpired(now) {
				return true
			}
		}
	}
	return false
}

// limiter returns the limiter of a downstream, rebuilt when its schedule in
// the config store changed. A bad schedule is logged and the downstream runs
// unlimited by window (the adaptive part still applies).
func (s *Scheduler) limiter(st fsm.MetaState, down string) *downLimit {
	it, _ := st.ConfigValue(ConfigLimitPrefix + down)
	s.mu.Lock()
	defer s.mu.Unlock()
	if dl, ok := s.limiters[down]; ok && dl.version == it.Version {
		return dl
	}
	sc := scheduler.Unlimited
	if it.Value != "" {
		if parsed, err := parseSchedule(it.Value); err == nil {
			sc = parsed
		} else {
			s.h.Logger().Warn("bad limit schedule in the config store; using no window", "key", ConfigLimitPrefix+down, "err", err)
		}
	}
	// A zone's commit latency and a bank's answer vary far more than the
	// simulated channel's: only a doubled mean latency or 10 % failed calls
	// count as congestion, and the floor keeps two tasks going. A call of
	// the notify downstream is one zone log entry (applyEffects), whose
	// latency on busy machines ranges over 5× with nothing queued: its
	// baseline is the lowest interval mean, not the luckiest entry.
	ac := scheduler.DefaultAdaptiveConfig()
	ac.Initial, ac.Min = 16, 2
	ac.LatencyTolerance, ac.FailureTolerance = 1.0, 0.1
	ac.BaselineMean = down == "notify"
	lim, err := scheduler.NewLimiter(sc, ac)
	if err != nil {
		panic(fmt.Sprintf("run: default limiter config: %v", err))
	}
	dl := &downLimit{lim: lim, version: it.Version}
	s.limiters[down] = dl
	return dl
}

// leased counts the leased tasks of runs whose job loads down.
func leased(ss *fsm.SchedState, down string) int {
	if ss == nil {
		return 0
	}
	n := 0
	for _, r := range ss.Runs {
		if r.State != fsm.RunRunning || downstream(r.Job) != down {
			continue
		}
		for _, t := range r.Tasks {
			if t.Lease != 0 {
				n++
			}
		}
	}
	return n
}

func (s *Scheduler) updateLimits(st fsm.MetaState, now time.Time) {
	for _, d := range downstreams {
		eff, win, ad := s.limiter(st, d).update(now)
		s.m.limit.WithLabelValues(d, "effective").Set(float64(eff))
		s.m.limit.WithLabelValues(d, "window").Set(float64(win))
		s.m.limit.WithLabelValues(d, "adaptive").Set(float64(ad))
		s.m.leased.WithLabelValues(d).Set(float64(leased(st.Sched, d)))
	}
}

// CurrentLimit is the limit in force for job's downstream, for progress
// reports; 0 when this node does not lead.
func (s *Scheduler) CurrentLimit(job string) int {
	if s.leaderTerm() == 0 {
		return 0
	}
	return s.limiter(s.h.MetaState(), downstream(job)).limit(s.h.Now().UTC())
}

// onlineSlots is the number of worker slots in the cluster: live members
// times the slots of one worker.
func (s *Scheduler) onlineSlots() int {
	return s.h.AliveNodes() * s.cfg.Slots
}
