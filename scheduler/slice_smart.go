package scheduler

import (
	"fmt"
	"math"
)

// SmartConfig configures a SmartSlicer.
type SmartConfig struct {
	// Factor sets how big a task is against the pending work: each task takes
	// 1/(Factor × online slots) of the users still pending, so the first round of tasks
	// hands out 1/Factor of the work and sizes shrink as the work does (guided
	// self-scheduling). Default 2.
	Factor float64 `yaml:"factor" json:"factor"`
	// MinUsers is the smallest task worth its fixed overhead (loading the list,
	// persisting the task); at 50 ms a user and 0.5 s a task, 100 users keep the overhead
	// near 10 %. A smaller task is cut only when less than MinUsers is pending. Default 100.
	MinUsers int64 `yaml:"min_users" json:"min_users"`
	// MaxUsers caps a task; zero means no cap. Default 0.
	MaxUsers int64 `yaml:"max_users" json:"max_users"`
}

// DefaultSmartConfig returns the defaults documented on each field.
func DefaultSmartConfig() SmartConfig {
	return SmartConfig{Factor: 2, MinUsers: 100}
}

// Validate checks the ranges of the fields.
func (c SmartConfig) Validate() error {
	switch {
	case c.Factor < 1 || math.IsInf(c.Factor, 0) || math.IsNaN(c.Factor):
		return fmt.Errorf("smart slicer factor %v: must be at least 1: %w", c.Factor, ErrInvalidConfig)
	case c.MinUsers < 1:
		return fmt.Errorf("smart slicer min_users %d: must be at least 1: %w", c.MinUsers, ErrInvalidConfig)
	case c.MaxUsers != 0 && c.MaxUsers < c.MinUsers:
		return fmt.Errorf("smart slicer max_users %d: below min_users %d: %w", c.MaxUsers, c.MinUsers, ErrInvalidConfig)
	}
	return nil
}

// SmartSlicer sizes tasks from the online slots and the pending work, so that every
// free slot gets a task while work remains and tasks shrink as the work runs out; once
// slots stand idle that the pending work cannot feed, it cuts the tail off running tasks
// at their renewals, and takes all the rest from stalled ones, for the idle slots. No
// user is processed twice by this: the holder learns its new end in the renewal's answer. The tail of a run is then one small task long,
// not one large task on the slowest machine.
type SmartSlicer struct {
	cfg SmartConfig
}

var _ Slicer = (*SmartSlicer)(nil)

// NewSmartSlicer returns a SmartSlicer configured by cfg.
func NewSmartSlicer(cfg SmartConfig) (*SmartSlicer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &SmartSlicer{cfg: cfg}, nil
}

// Size returns the slot's share of the pending users divided by Factor: its share is
// SlotRate ÷ ClusterRate once rates are known, 1 ÷ online slots before. The size is then
// raised to MinUsers, capped by MaxUsers, and lowered so that the free slots all get a
// task: at most ceil(pending ÷ free slots), unless that would go below MinUsers.
func (s *SmartSlicer) Size(v View) int64 {
	if v.Pending <= 0 {
		return 0
	}
	share := 1 / float64(max(1, v.OnlineSlots))
	if v.SlotRate > 0 && v.ClusterRate > 0 {
		share = math.Min(1, v.SlotRate/v.ClusterRate)
	}
	size := int64(math.Ceil(float64(v.Pending) * share / s.cfg.Factor))
	size = max(size, s.cfg.MinUsers)
	if s.cfg.MaxUsers > 0 {
		size = min(size, s.cfg.MaxUsers)
	}
	if v.FreeSlots > 0 {
		size = min(size, max(ceilDiv(v.Pending, int64(v.FreeSlots)), s.cfg.MinUsers))
	}
	return min(size, v.Pending)
}

// Keep cuts the tail off a running lease in two cases, never leaving it less than
// MinUsers nor giving away less than MinUsers:
//
//   - Slots are idle that the pending work cannot feed with tasks of MinUsers ("hungry"
//     slots): the lease keeps its share as if its remaining users were spread over
//     itself and the hungry slots; a stalled lease (its slot is paused) gives away
//     everything it has not done, and ends at its checkpoint. As the cut tails fill the
//     queue fewer slots are hungry, so renewals that arrive together split only as much
//     as the idle slots can take.
//   - Rates are known and the lease would outlast the cluster: it holds more users than
//     its slot can process in the time the whole cluster needs for all known work
//     ((pending + in flight) ÷ ClusterRate). This takes back the oversized tasks that a
//     slow machine got before its rate was known.
func (s *SmartSlicer) Keep(v View, remaining int64, stalled bool) int64 {
	keep := remaining
	if hungry := int64(v.FreeSlots) - v.Pending/s.cfg.MinUsers; hungry > 0 {
		if stalled {
			return 0
		}
		keep = ceilDiv(remaining, hungry+1)
	} else if v.SlotRate > 0 && v.ClusterRate > 0 {
		horizon := float64(v.Pending+v.InFlight) / v.ClusterRate
		keep = int64(math.Ceil(v.SlotRate * horizon))
	}
	keep = max(keep, s.cfg.MinUsers)
	if remaining-keep < s.cfg.MinUsers {
		return remaining
	}
	return keep
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
