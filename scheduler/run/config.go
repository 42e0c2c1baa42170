package run

import (
	"log/slog"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/scheduler"
)

// Config tunes the batch scheduler of a cluster node. Zero fields take the
// defaults documented on each.
type Config struct {
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
	// Bank is the downstream of the autodebit job. Nil means none: the
	// node refuses to create an auto-debit run and fails the auto-debit
	// tasks it is given, since a repayment must not be recorded for a
	// debit no bank made. rzone dev (and rzone server --bank sim) set a
	// simulated one (NewSimBank).
	Bank Bank
}

func (c Config) withDefaults() Config {
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
	return c
}

// Bank is the downstream of the autodebit job.
type Bank = scheduler.Channel

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

func (c NotifyConfig) withDefaults(log *slog.Logger) NotifyConfig {
	if c.Notifier == nil {
		c.Notifier = LogNotifier{Log: log.With("notifier", "log")}
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

// ConfigLimitPrefix + downstream ("notify", "bank") is the config store key
// of that downstream's time-window table (parseSchedule): at most how many
// tasks of its jobs may be leased at once, by time of day (UTC). The gray
// release a new run takes is under fsm.ConfigGrayWhitelist and
// fsm.ConfigGrayWindow.
const ConfigLimitPrefix = "sched/window/"

// downstream names what a job's effects load: the notifier, or the bank
// channel.
func downstream(job string) string {
	if job == fsm.JobAutodebit {
		return "bank"
	}
	return "notify"
}

var downstreams = []string{"bank", "notify"}
