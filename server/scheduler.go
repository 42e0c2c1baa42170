package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/timeofday"
	"github.com/rzonedb/rzone/scheduler"
)

// SchedConfig tunes the batch scheduler of a cluster node. Zero fields take
// the defaults documented on each.
type SchedConfig struct {
	// Slots is how many tasks this node's worker runs at once. Default 4.
	Slots int
	// LeaseTTL is how long a task lease lives without a checkpoint; workers
	// checkpoint at a third of it. Default 10s.
	LeaseTTL time.Duration
	// Interval is the tick of the scheduler's loops and of the worker's
	// polling for tasks. Default 200ms.
	Interval time.Duration
	// PageUsers is how many users one generation read loads from a zone.
	// Default 20000.
	PageUsers int
	// BatchUsers is how many users' effects go into one zone log entry.
	// Default 200.
	BatchUsers int
	// Generators is how many ranges are generated at once. Default 4.
	Generators int
	// Slicing sizes tasks (scheduler.SmartSlicer). Default
	// scheduler.DefaultSmartConfig().
	Slicing scheduler.SmartConfig
	// Bank is the downstream of the autodebit job; nil means a simulated
	// bank channel of 200 slots (NewSimBank).
	Bank Bank
}

func (c SchedConfig) withDefaults() SchedConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Slots, 4)
	def(&c.PageUsers, 20000)
	def(&c.BatchUsers, 200)
	def(&c.Generators, 4)
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.Slicing == (scheduler.SmartConfig{}) {
		c.Slicing = scheduler.DefaultSmartConfig()
	}
	if c.Bank == nil {
		c.Bank = NewSimBank(SimConfig{})
	}
	return c
}

// Config store keys the scheduler reads.
const (
	// ConfigGrayWhitelist and ConfigGrayWindow hold the gray release a new
	// run takes (fsm.ConfigGrayWhitelist).
	ConfigGrayWhitelist = fsm.ConfigGrayWhitelist
	ConfigGrayWindow    = fsm.ConfigGrayWindow
	// ConfigLimitPrefix + downstream ("notify", "bank") holds that
	// downstream's time-window table (parseSchedule): at most how many tasks
	// of its jobs may be leased at once, by time of day (UTC).
	ConfigLimitPrefix = "sched/window/"
)

// downstream names what a job's effects load: the notifier, or the bank
// channel.
func downstream(job string) string {
	if job == fsm.JobAutodebit {
		return "bank"
	}
	return "notify"
}

var downstreams = []string{"bank", "notify"}

// scheduler is the batch scheduler of one node: the leader part (resume,
// expiry, generation, leasing under the concurrency limits) acts only while
// this node leads the meta group; the worker part (sched_worker.go) runs
// tasks of its own zone on every node. All the state that matters is in the
// meta group (fsm/meta_sched.go); what is here is soft — limiters, counters
// — and rebuilt by a new leader.
type sched struct {
	n   *Node
	cfg SchedConfig

	mu       sync.Mutex
	term     uint64 // meta term this node resumed as scheduler leader; 0 = not leading
	limiters map[string]*downLimit
	genBusy  map[genKey]bool
	genNext  map[genKey]time.Time // no new attempt of a failed range before
	leaseMu  sync.Mutex           // one lease decision at a time

	// worker
	wmu     sync.Mutex
	running int

	m schedMetrics
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
}

func newSched(n *Node) *sched {
	s := &sched{n: n, cfg: n.cfg.Sched.withDefaults(), limiters: map[string]*downLimit{}, genBusy: map[genKey]bool{}, genNext: map[genKey]time.Time{}}
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
	}
	n.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rzone_sched_leader",
		Help: "1 while this node is the scheduler leader (it leads the meta group and has resumed the runs)."}, func() float64 {
		if s.leaderTerm() != 0 {
			return 1
		}
		return 0
	}))
	n.metrics.reg.MustRegister(s.m.limit, s.m.leased, s.m.users, s.m.effects, s.m.reports, s.m.gen, s.m.resumes, s.m.tasksRun)
	return s
}

// run is the scheduler's main loop on every cluster node: the leader part
// while this node leads the meta group, and the worker always. Generation
// runs in goroutines of its own, so that it overlaps execution.
func (s *sched) run() {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.n.stop:
			return
		case <-t.C:
		}
		if !s.n.metaFSM.State().Initialized {
			continue
		}
		s.lead()
		s.work()
	}
}

// lead does one round of the leader's part: resume once per term, take back
// expired leases, update the limiters, start generation of ranges.
func (s *sched) lead() {
	if !s.n.meta.IsLeader() {
		s.setTerm(0)
		return
	}
	term := s.n.meta.Raft().CurrentTerm()
	if s.leaderTerm() != term {
		if !s.resume(term) {
			return
		}
	}
	st := s.n.metaFSM.State()
	if st.Sched == nil {
		return
	}
	now := clock.Now().UTC()
	if s.anyExpired(st.Sched, now.UnixMilli()) {
		s.apply(fsm.MetaSchedExpire, fsm.SchedCmd{})
	}
	s.updateLimits(st, now)
	s.generate(st)
}

func (s *sched) leaderTerm() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term
}

func (s *sched) setTerm(t uint64) {
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
func (s *sched) resume(term uint64) bool {
	res, err := s.apply(fsm.MetaSchedResume, fsm.SchedCmd{Term: term})
	if err != nil || res.Err != "" {
		s.n.log.Debug("scheduler resume", "term", term, "err", err, "refused", res.Err)
		return false
	}
	s.setTerm(term)
	s.m.resumes.Inc()
	if res.Sched != nil && res.Sched.Expired > 0 {
		s.n.log.Info("scheduler resumed; leases of older terms voided", "term", term, "voided", res.Sched.Expired)
	}
	return true
}

// apply commits a scheduler command on this node, the meta leader.
func (s *sched) apply(typ byte, c fsm.SchedCmd) (fsm.MetaResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.n.cfg.ApplyTimeout)
	defer cancel()
	return s.n.metaApply(ctx, fsm.MetaCmd{Type: typ, Sched: &c})
}

func (s *sched) anyExpired(ss *fsm.SchedState, now int64) bool {
	for _, r := range ss.Runs {
		if r.State != fsm.RunRunning {
			continue
		}
		for _, t := range r.Tasks {
			if t.Lease != 0 && now > t.Expires {
				return true
			}
		}
	}
	return false
}

// limiter returns the limiter of a downstream, rebuilt when its schedule in
// the config store changed. A bad schedule is logged and the downstream runs
// unlimited by window (the adaptive part still applies).
func (s *sched) limiter(st fsm.MetaState, down string) *downLimit {
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
			s.n.log.Warn("bad limit schedule in the config store; using no window", "key", ConfigLimitPrefix+down, "err", err)
		}
	}
	// A zone's commit latency and a bank's answer vary far more than the
	// simulated channel's: only a doubled mean latency or 10 % failed calls
	// count as congestion, and the floor keeps two tasks going.
	ac := scheduler.DefaultAdaptiveConfig()
	ac.Initial, ac.Min = 16, 2
	ac.LatencyTolerance, ac.FailureTolerance = 1.0, 0.1
	lim, err := scheduler.NewLimiter(sc, ac)
	if err != nil {
		panic(fmt.Sprintf("server: default limiter config: %v", err))
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

func (s *sched) updateLimits(st fsm.MetaState, now time.Time) {
	for _, d := range downstreams {
		eff, win, ad := s.limiter(st, d).update(now)
		s.m.limit.WithLabelValues(d, "effective").Set(float64(eff))
		s.m.limit.WithLabelValues(d, "window").Set(float64(win))
		s.m.limit.WithLabelValues(d, "adaptive").Set(float64(ad))
		s.m.leased.WithLabelValues(d).Set(float64(leased(st.Sched, d)))
	}
}

// currentLimit is the limit in force for job's downstream, for progress
// reports; 0 when this node does not lead.
func (s *sched) currentLimit(job string) int {
	if s.leaderTerm() == 0 {
		return 0
	}
	return s.limiter(s.n.metaFSM.State(), downstream(job)).limit(clock.Now().UTC())
}

// onlineSlots is the number of worker slots in the cluster: live members
// times the slots of one worker.
func (s *sched) onlineSlots() int {
	alive := 1
	if s.n.gossip != nil {
		alive = max(1, len(s.n.gossip.Alive()))
	}
	return alive * s.cfg.Slots
}

// --- lease and report endpoints, on the meta leader ---

// leaseRequest is a worker's ask for tasks of its zone.
type leaseRequest struct {
	Worker string `json:"worker"`
	Zone   string `json:"zone"`
	Max    int    `json:"max"`
}

// lease grants up to max tasks of zone to worker, downstream by downstream,
// each within its concurrency limit: leased tasks never exceed min(window,
// adaptive).
func (s *sched) lease(ctx context.Context, req leaseRequest) ([]fsm.Grant, error) {
	term := s.leaderTerm()
	if term == 0 || !s.n.meta.IsLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s is not the scheduler leader", s.n.cfg.NodeID)
	}
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	var out []fsm.Grant
	now := clock.Now().UTC()
	for _, d := range downstreams {
		st := s.n.metaFSM.State()
		if st.Sched == nil || len(out) >= req.Max || !pendingFor(st, req.Zone) {
			break
		}
		limit := s.limiter(st, d).limit(now)
		budget := min(req.Max-len(out), limit-leased(st.Sched, d))
		if budget <= 0 {
			continue
		}
		var jobs []string
		for _, j := range []string{fsm.JobStatement, fsm.JobReminder, fsm.JobAutodebit} {
			if downstream(j) == d {
				jobs = append(jobs, j)
			}
		}
		res, err := s.n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaSchedLease, Sched: &fsm.SchedCmd{
			Worker: req.Worker, Zone: req.Zone, Max: budget, TTLMs: s.cfg.LeaseTTL.Milliseconds(), Term: term, Jobs: jobs,
			Take: s.share(st, limit)}})
		if err != nil {
			return out, err
		}
		if res.Err != "" {
			return out, api.Errorf(api.CodeUnavailable, "lease refused: %s", res.Err)
		}
		out = append(out, res.Sched.Grants...)
	}
	return out, nil
}

// share is the share of a task one lease should process now: the smart
// slicer's size for the pending users of every running run and the slots
// that can work at once, the slots online capped by the downstream's limit
// in force (a cluster of 36 slots under a limit of 2 tasks works as 2
// slots, and cutting its work for 36 would only multiply the tasks and
// their overhead). As the pending work shrinks so do the shares, so the
// end of a run is many small leases over every slot rather than a few
// large tasks on a few.
func (s *sched) share(st fsm.MetaState, limit int) int64 {
	var pending int64
	leasedAll := 0
	for _, r := range st.Sched.Runs {
		if r.State != fsm.RunRunning {
			continue
		}
		for _, t := range r.Tasks {
			if t.Lease == 0 {
				pending += t.Users
			} else {
				leasedAll++
			}
		}
	}
	if pending == 0 {
		return 0
	}
	sl, err := scheduler.NewSmartSlicer(s.cfg.Slicing)
	if err != nil {
		panic(fmt.Sprintf("server: slicer config: %v", err))
	}
	slots := max(1, min(s.onlineSlots(), limit))
	return sl.Size(scheduler.View{Pending: pending, OnlineSlots: slots, FreeSlots: max(1, slots-leasedAll)})
}

// reportRequest is a worker's checkpoint or completion of a lease, with what
// its calls to the downstream saw, for the adaptive limit.
type reportRequest struct {
	Complete bool         `json:"complete"`
	Job      string       `json:"job"`
	Cmd      fsm.SchedCmd `json:"cmd"`
	Calls    int          `json:"calls"`    // calls since the last report
	Failed   int          `json:"failed"`   // of which failed
	RTTUs    int64        `json:"rtt_us"`   // mean latency of those calls, microseconds
	SentMs   int64        `json:"sent_ms"`  // when the first of them was sent (Unix ms)
	InFlight int          `json:"inflight"` // tasks the worker ran meanwhile
}

func (s *sched) report(ctx context.Context, req reportRequest) (*fsm.SchedResult, error) {
	if s.leaderTerm() == 0 || !s.n.meta.IsLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s is not the scheduler leader", s.n.cfg.NodeID)
	}
	typ, kind := fsm.MetaSchedRenew, "renew"
	if req.Complete {
		typ, kind = fsm.MetaSchedComplete, "complete"
	}
	s.observe(req)
	res, err := s.n.metaApply(ctx, fsm.MetaCmd{Type: typ, Sched: &req.Cmd})
	switch {
	case err != nil:
		return nil, err
	case res.Err != "":
		s.m.reports.WithLabelValues(kind, "refused").Inc()
		return nil, api.Errorf(api.CodeInvalidArgument, "%s", res.Err)
	case res.Sched.Fenced:
		s.m.reports.WithLabelValues(kind, "fenced").Inc()
	default:
		s.m.reports.WithLabelValues(kind, "ok").Inc()
	}
	return res.Sched, nil
}

// observe feeds a report's calls to its downstream's adaptive limit.
func (s *sched) observe(req reportRequest) {
	if req.Calls <= 0 {
		return
	}
	st := s.n.metaFSM.State()
	lim := s.limiter(st, downstream(req.Job))
	// In flight is the downstream's, not the worker's: the leased tasks.
	req.InFlight = max(1, leased(st.Sched, downstream(req.Job)))
	sent := time.UnixMilli(req.SentMs)
	rtt := time.Duration(req.RTTUs) * time.Microsecond
	if ok := req.Calls - req.Failed; ok > 0 {
		lim.observe(scheduler.Sample{Sent: sent, RTT: rtt, InFlight: req.InFlight, Count: ok})
	}
	if req.Failed > 0 {
		lim.observe(scheduler.Sample{Sent: sent, RTT: rtt, InFlight: req.InFlight, Failed: true, Count: req.Failed})
	}
}

func (n *Node) handleInternalLease(w http.ResponseWriter, r *http.Request) {
	var req leaseRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	grants, err := n.sched.lease(r.Context(), req)
	if err != nil && len(grants) == 0 {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": grants})
}

func (n *Node) handleInternalReport(w http.ResponseWriter, r *http.Request) {
	var req reportRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	res, err := n.sched.report(r.Context(), req)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// metaLeaderAddr is the API address of the meta group's leader.
func (n *Node) metaLeaderAddr() (string, error) {
	_, id := n.meta.Raft().LeaderWithID()
	if id == "" {
		return "", fmt.Errorf("%w: meta group has no leader", ErrNoLeader)
	}
	if string(id) == n.cfg.NodeID {
		return n.cfg.httpAdvertise(), nil
	}
	addr := n.httpAddrOf(string(id))
	if addr == "" {
		addr = n.gossipHTTPAddr(string(id))
	}
	if addr == "" {
		return "", fmt.Errorf("%w: meta leader %s has no known address", ErrNoLeader, id)
	}
	return addr, nil
}

// parseSchedule reads a time-window table: either scheduler.Schedule as
// JSON ({"windows":[{"from":"00:30","to":"06:00","limit":800}],"default":250})
// or the short form "00:30-06:00=800,06:00-08:00=800..250,default=250", where
// "A..B" ramps from A to B across the window. Times are UTC; outside every
// window the default applies, unlimited when none is given.
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
		from, to, err := parseWindow(span)
		if err != nil {
			return sc, err
		}
		w := scheduler.Window{From: from, To: to, Limit: l}
		if ramp {
			if w.LimitTo, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return sc, fmt.Errorf("window %q: ramp target: %w", part, err)
			}
		}
		sc.Windows = append(sc.Windows, w)
	}
	return sc, sc.Validate()
}

// parseWindow reads "HH:MM[:SS]-HH:MM[:SS]" into times of day.
func parseWindow(s string) (from, to scheduler.TimeOfDay, err error) {
	f, t, err := timeofday.ParseWindow(s)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", err, scheduler.ErrInvalidConfig)
	}
	return scheduler.TimeOfDay(f), scheduler.TimeOfDay(t), nil
}

// rate returns users per second over the run's life so far.
func rate(r *fsm.Run, now int64) float64 {
	end := now
	if r.Finished != 0 {
		end = r.Finished
	}
	secs := float64(end-r.Created) / 1000
	if secs <= 0 {
		return 0
	}
	return math.Round(float64(r.UsersDone)/secs*10) / 10
}
