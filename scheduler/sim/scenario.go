package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rzonedb/rzone/scheduler"
)

// ErrScenario is wrapped by every error about a scenario file's content.
var ErrScenario = errors.New("sim: invalid scenario")

//go:embed scenarios/*.yaml
var defaultFS embed.FS

// Scenario is one parameter set of the benchmark: a model of the world (a bank channel,
// or a worker pool) and the strategies to run against it. Scenarios are read from YAML
// or JSON; every model parameter is spelled out in the file, nothing is defaulted, so a
// file reads as the scenario it runs. Only the scheduler's own configs (adaptive limit,
// smart slicer) start from the scheduler's defaults.
type Scenario struct {
	// Name is short, for tables and file names ("A1").
	Name string `yaml:"name"`
	// Title says what the scenario is, in a line.
	Title string `yaml:"title"`
	// Channel is set for a concurrency scenario against a downstream (scenario A).
	Channel *ChannelModel `yaml:"channel"`
	// Pool is set for a slicing scenario on a worker pool (scenario B).
	Pool *PoolModel `yaml:"pool"`
	// Strategies are run in order, each with every seed.
	Strategies []Strategy `yaml:"strategies"`
	// Baseline and Candidate name the strategies compared by the targets: the status quo
	// and rzone's.
	Baseline  string `yaml:"baseline"`
	Candidate string `yaml:"candidate"`
	// Headline is "makespan" or "drain": which ratio (baseline ÷ candidate) of this
	// scenario goes on the benchmark's last line. Empty for none.
	Headline string `yaml:"headline"`
	// Targets are the goals of docs/scheduler-scenarios.md for this scenario.
	Targets Targets `yaml:"targets"`
}

// ChannelModel is scenario A's downstream: a bank channel whose capacity K(t) follows
// the time of day, with latency and failures that grow past K, retried by the
// scheduler's retry policy.
type ChannelModel struct {
	// Start is the time of day the run starts.
	Start scheduler.TimeOfDay `yaml:"start"`
	// Calls is the number of calls to make (auto-debits).
	Calls int64 `yaml:"calls"`
	// Latency is a call's latency with n ≤ K in flight; past K it is Latency × n/K.
	Latency time.Duration `yaml:"latency"`
	// FailureTimeout is how long a failed call holds its slot.
	FailureTimeout time.Duration `yaml:"failure_timeout"`
	// MaxFailure caps the failure probability.
	MaxFailure float64 `yaml:"max_failure"`
	// NoiseSigma is the σ of the multiplicative lognormal noise on K (median 1).
	NoiseSigma float64 `yaml:"noise_sigma"`
	// NoisePeriod is how often the noise is redrawn, aligned to the clock.
	NoisePeriod time.Duration `yaml:"noise_period"`
	// Tick is the channel's and the limiter's step: K(t) is read and the limiter
	// decides once per tick.
	Tick time.Duration `yaml:"tick"`
	// Resolution is the grid call latencies are rounded to (to the nearest point), so
	// that calls finishing together are simulated together; zero keeps them exact. It
	// must divide Latency, FailureTimeout and Tick.
	Resolution time.Duration `yaml:"resolution"`
	// DefaultK is K outside every segment (daytime).
	DefaultK float64 `yaml:"default_k"`
	// Segments give K(t) and the base failure rate by time of day; the first match wins.
	Segments []Segment `yaml:"segments"`
	// Retry is the retry policy the scheduler applies to failed calls.
	Retry scheduler.RetryPolicy `yaml:"retry"`
	// Windows is the time-window table known to the scheduler: K(t) without noise, as
	// operations would configure it.
	Windows scheduler.Schedule `yaml:"windows"`
	// MaxDuration stops a run that has not finished by then, as an error.
	MaxDuration time.Duration `yaml:"max_duration"`
}

// Segment is one row of K(t): from From to To (wrapping past midnight when To is not
// after From), K slots, ramping linearly to KTo when set, with a base failure rate.
type Segment struct {
	From        scheduler.TimeOfDay `yaml:"from"`
	To          scheduler.TimeOfDay `yaml:"to"`
	K           float64             `yaml:"k"`
	KTo         float64             `yaml:"k_to"`
	BaseFailure float64             `yaml:"base_failure"`
}

// PoolModel is scenario B's world: users to process on an uneven, churning pool of
// worker machines, each with a number of slots.
type PoolModel struct {
	// Users is the number of users to process.
	Users int64 `yaml:"users"`
	// UserCost is the time one user takes on a machine of speed 1.
	UserCost time.Duration `yaml:"user_cost"`
	// SliceOverhead is the fixed time a slice (task) takes on top: loading the list,
	// persisting the task.
	SliceOverhead time.Duration `yaml:"slice_overhead"`
	// SliceJitter is the σ of a per-slice lognormal factor (median 1) on its time.
	SliceJitter float64 `yaml:"slice_jitter"`
	// Machines is the number of machines at the start.
	Machines int `yaml:"machines"`
	// Slots is the number of concurrent tasks per machine.
	Slots int `yaml:"slots"`
	// SpeedSigma is the σ of each machine's lognormal speed (median 1).
	SpeedSigma float64 `yaml:"speed_sigma"`
	// SlowShare of the machines (rounded, chosen at random) run at SlowSpeed times their
	// speed; a machine that joins later is slow with that probability.
	SlowShare float64 `yaml:"slow_share"`
	SlowSpeed float64 `yaml:"slow_speed"`
	// PauseRate is the rate of a slot's pauses (a stall: no progress, lease still
	// renewed), per slot-hour, as a Poisson process.
	PauseRate float64 `yaml:"pause_rate"`
	// PauseMean is the mean of a pause's exponential length.
	PauseMean time.Duration `yaml:"pause_mean"`
	// LeaseTTL is the dispatcher's lease timeout.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// RenewEvery is how often a worker renews a lease, reporting its progress.
	RenewEvery time.Duration `yaml:"renew_every"`
	// Churn lists machines leaving (their in-flight slices return when their leases
	// expire) and joining, by time from the start.
	Churn []Churn `yaml:"churn"`
	// MaxDuration stops a run that has not finished by then, as an error.
	MaxDuration time.Duration `yaml:"max_duration"`
}

// Churn is a change of the pool at At from the start: Leave machines, chosen at
// random among those online, disappear; Join new machines come online.
type Churn struct {
	At    time.Duration `yaml:"at"`
	Leave int           `yaml:"leave"`
	Join  int           `yaml:"join"`
}

// Strategy is one way of running the scenario: for a channel, a fixed concurrency or
// rzone's window + adaptive limiter; for a pool, a fixed slice size or rzone's smart
// slicing.
type Strategy struct {
	Name string `yaml:"name"`
	// Fixed is a constant concurrency (channel).
	Fixed int `yaml:"fixed"`
	// Adaptive, when set, runs rzone's limiter: the channel's Windows with an adaptive
	// limit (channel). Fields left out take scheduler.DefaultAdaptiveConfig's values.
	Adaptive *AdaptiveSpec `yaml:"adaptive"`
	// SliceUsers is a fixed slice size (pool).
	SliceUsers int64 `yaml:"slice_users"`
	// Smart, when set, runs rzone's smart slicer (pool). Fields left out take
	// scheduler.DefaultSmartConfig's values.
	Smart *SmartSpec `yaml:"smart"`
}

// AdaptiveSpec is a scheduler.AdaptiveConfig read from a scenario, defaults first.
type AdaptiveSpec scheduler.AdaptiveConfig

// UnmarshalYAML starts from the scheduler's defaults and applies the fields given.
func (a *AdaptiveSpec) UnmarshalYAML(n *yaml.Node) error {
	*a = AdaptiveSpec(scheduler.DefaultAdaptiveConfig())
	return n.Decode((*scheduler.AdaptiveConfig)(a))
}

// SmartSpec is a scheduler.SmartConfig read from a scenario, defaults first.
type SmartSpec scheduler.SmartConfig

// UnmarshalYAML starts from the scheduler's defaults and applies the fields given.
func (s *SmartSpec) UnmarshalYAML(n *yaml.Node) error {
	*s = SmartSpec(scheduler.DefaultSmartConfig())
	return n.Decode((*scheduler.SmartConfig)(s))
}

// Targets are a scenario's goals, checked against the medians over seeds. A zero
// field is not checked. "Candidate" and "baseline" are the scenario's strategies.
type Targets struct {
	// MakespanRatio: baseline makespan ÷ candidate makespan at least this.
	MakespanRatio float64 `yaml:"makespan_ratio"`
	// DeadLettered: the candidate dead-letters at most this many calls.
	DeadLettered *int64 `yaml:"dead_lettered"`
	// FailedVs: the candidate's failed calls at most Share × those of strategy Of.
	FailedVs *FailedVs `yaml:"failed_vs"`
	// OverloadMinutes: the candidate spends less than this with n > K.
	OverloadMinutes float64 `yaml:"overload_minutes"`
	// WindowRespected: between From and To, the candidate never dispatches a call that
	// takes the calls in flight beyond the window.
	WindowRespected *Span `yaml:"window_respected"`
	// DrainRatio: baseline drain ÷ candidate drain at least this.
	DrainRatio float64 `yaml:"drain_ratio"`
	// Last5Ratio: baseline last-5 % ÷ candidate last-5 % at least this.
	Last5Ratio float64 `yaml:"last5_ratio"`
	// MakespanOverIdeal: candidate makespan at most this × the ideal (work ÷ capacity).
	MakespanOverIdeal float64 `yaml:"makespan_over_ideal"`
	// SlicesRatio: candidate slices at most this × the baseline's.
	SlicesRatio float64 `yaml:"slices_ratio"`
	// DrainMax: the candidate's drain under this.
	DrainMax time.Duration `yaml:"drain_max"`
	// TwiceOnlyFenced: the candidate processes a user twice only when an execution
	// was fenced (its lease expired, as a departed machine's does: the users it did
	// past its last checkpoint are redone by the execution that takes the task
	// over), and counts those users; a user processed twice by two executions that
	// were both never fenced misses it.
	TwiceOnlyFenced bool `yaml:"twice_only_fenced"`
}

// FailedVs compares the candidate's failed calls with another strategy's.
type FailedVs struct {
	Of    string  `yaml:"of"`
	Share float64 `yaml:"share"`
}

// Span is a stretch of the day, from From to To (wrapping past midnight).
type Span struct {
	From scheduler.TimeOfDay `yaml:"from"`
	To   scheduler.TimeOfDay `yaml:"to"`
}

func (s Span) contains(t time.Time) bool {
	w := scheduler.Schedule{Windows: []scheduler.Window{{From: s.From, To: s.To, Limit: 1}}}
	return w.At(t) == 1
}

// Parse reads a scenario from YAML or JSON (JSON is read as YAML) and validates it.
// name is used in errors.
func Parse(data []byte, name string) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse scenario %s: %w: %w", name, ErrScenario, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return &s, nil
}

// Load reads and validates the scenario file at path.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(data, path)
}

// Defaults returns the scenarios of docs/scheduler-scenarios.md that ship with the binary,
// in file-name order.
func Defaults() ([]*Scenario, error) {
	names, err := fs.Glob(defaultFS, "scenarios/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list default scenarios: %w", err)
	}
	slices.Sort(names)
	var out []*Scenario
	for _, n := range names {
		data, err := defaultFS.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read default scenario %s: %w", n, err)
		}
		s, err := Parse(data, path.Base(n))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Strategy returns the strategy called name, or nil.
func (s *Scenario) Strategy(name string) *Strategy {
	for i := range s.Strategies {
		if s.Strategies[i].Name == name {
			return &s.Strategies[i]
		}
	}
	return nil
}

// Validate checks that the scenario is complete and consistent.
func (s *Scenario) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, ErrScenario)...)
	}
	if s.Name == "" {
		return bad("no name")
	}
	if (s.Channel == nil) == (s.Pool == nil) {
		return bad("want exactly one of channel and pool")
	}
	if len(s.Strategies) == 0 {
		return bad("no strategies")
	}
	seen := map[string]bool{}
	for _, st := range s.Strategies {
		if st.Name == "" || seen[st.Name] {
			return bad("strategy name %q empty or repeated", st.Name)
		}
		seen[st.Name] = true
		if err := st.validate(s.Channel != nil); err != nil {
			return err
		}
	}
	for _, n := range []string{s.Baseline, s.Candidate} {
		if n != "" && !seen[n] {
			return bad("baseline or candidate %q is not a strategy", n)
		}
	}
	if f := s.Targets.FailedVs; f != nil && !seen[f.Of] {
		return bad("failed_vs.of %q is not a strategy", f.Of)
	}
	switch s.Headline {
	case "", "makespan", "drain":
	default:
		return bad("headline %q: want makespan or drain", s.Headline)
	}
	if s.Headline != "" && (s.Baseline == "" || s.Candidate == "") {
		return bad("headline needs a baseline and a candidate")
	}
	if s.Channel != nil {
		return s.Channel.validate()
	}
	return s.Pool.validate()
}

func (st Strategy) validate(channel bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("strategy %q: "+format+": %w", append([]any{st.Name}, append(args, ErrScenario)...)...)
	}
	if channel {
		if st.SliceUsers != 0 || st.Smart != nil {
			return bad("slicing fields in a channel scenario")
		}
		if (st.Fixed > 0) == (st.Adaptive != nil) {
			return bad("want exactly one of fixed and adaptive")
		}
		if st.Adaptive != nil {
			return scheduler.AdaptiveConfig(*st.Adaptive).Validate()
		}
		return nil
	}
	if st.Fixed != 0 || st.Adaptive != nil {
		return bad("limit fields in a pool scenario")
	}
	if (st.SliceUsers > 0) == (st.Smart != nil) {
		return bad("want exactly one of slice_users and smart")
	}
	if st.Smart != nil {
		return scheduler.SmartConfig(*st.Smart).Validate()
	}
	return nil
}

func (m *ChannelModel) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("channel: "+format+": %w", append(args, ErrScenario)...)
	}
	switch {
	case m.Calls <= 0:
		return bad("calls %d", m.Calls)
	case m.Latency <= 0 || m.FailureTimeout <= 0 || m.Tick <= 0 || m.NoisePeriod <= 0 || m.MaxDuration <= 0:
		return bad("latency, failure_timeout, tick, noise_period and max_duration must be positive")
	case m.MaxFailure <= 0 || m.MaxFailure > 1:
		return bad("max_failure %v", m.MaxFailure)
	case m.NoiseSigma < 0:
		return bad("noise_sigma %v", m.NoiseSigma)
	case m.Resolution < 0 || (m.Resolution > 0 && (m.Latency%m.Resolution != 0 || m.FailureTimeout%m.Resolution != 0 || m.Tick%m.Resolution != 0)):
		return bad("resolution %s must divide latency, failure_timeout and tick", m.Resolution)
	case m.DefaultK <= 0:
		return bad("default_k %v", m.DefaultK)
	}
	for i, g := range m.Segments {
		if g.K <= 0 || g.KTo < 0 || g.BaseFailure < 0 || g.BaseFailure >= 1 || g.From == g.To {
			return bad("segment %d (%s-%s): k %v, k_to %v, base_failure %v", i, g.From, g.To, g.K, g.KTo, g.BaseFailure)
		}
	}
	if err := m.Retry.Validate(); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if err := m.Windows.Validate(); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	return nil
}

func (m *PoolModel) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("pool: "+format+": %w", append(args, ErrScenario)...)
	}
	switch {
	case m.Users <= 0:
		return bad("users %d", m.Users)
	case m.UserCost <= 0 || m.SliceOverhead < 0:
		return bad("user_cost %s, slice_overhead %s", m.UserCost, m.SliceOverhead)
	case m.Machines <= 0 || m.Slots <= 0:
		return bad("machines %d, slots %d", m.Machines, m.Slots)
	case m.SliceJitter < 0 || m.SpeedSigma < 0:
		return bad("slice_jitter %v, speed_sigma %v", m.SliceJitter, m.SpeedSigma)
	case m.SlowShare < 0 || m.SlowShare > 1 || m.SlowSpeed <= 0:
		return bad("slow_share %v, slow_speed %v", m.SlowShare, m.SlowSpeed)
	case m.PauseRate < 0 || (m.PauseRate > 0 && m.PauseMean <= 0):
		return bad("pause_rate %v, pause_mean %s", m.PauseRate, m.PauseMean)
	case m.LeaseTTL <= 0 || m.RenewEvery <= 0 || m.RenewEvery >= m.LeaseTTL:
		return bad("want 0 < renew_every (%s) < lease_ttl (%s)", m.RenewEvery, m.LeaseTTL)
	case m.MaxDuration <= 0:
		return bad("max_duration %s", m.MaxDuration)
	}
	for i, c := range m.Churn {
		if c.At < 0 || c.Leave < 0 || c.Join < 0 || (i > 0 && c.At < m.Churn[i-1].At) {
			return bad("churn %d: at %s, leave %d, join %d (in time order)", i, c.At, c.Leave, c.Join)
		}
	}
	return nil
}
