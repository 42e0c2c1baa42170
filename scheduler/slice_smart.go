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
// nothing is pending and slots stand idle, it cuts the tail off running tasks at their
// renewals and hands it to the idle slots. The tail of a run is then one small task long,
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

// Size returns ceil(pending ÷ (Factor × online slots)), raised to MinUsers, capped by
// MaxUsers, and lowered so that the free slots all get a task: at most
// ceil(pending ÷ free slots), unless that would go below MinUsers.
func (s *SmartSlicer) Size(v View) int64 {
	if v.Pending <= 0 {
		return 0
	}
	slots := float64(max(1, v.OnlineSlots))
	size := int64(math.Ceil(float64(v.Pending) / (s.cfg.Factor * slots)))
	size = max(size, s.cfg.MinUsers)
	if s.cfg.MaxUsers > 0 {
		size = min(size, s.cfg.MaxUsers)
	}
	if v.FreeSlots > 0 {
		size = min(size, max(ceilDiv(v.Pending, int64(v.FreeSlots)), s.cfg.MinUsers))
	}
	return min(size, v.Pending)
}

// Keep splits a running task only when nothing is pending and slots are idle: the lease
// keeps its share as if its remaining users were spread over itself and the free slots
// (never less than MinUsers), and the rest goes back to be handed out. A remainder too
// small to give MinUsers away stays whole.
func (s *SmartSlicer) Keep(v View, remaining int64) int64 {
	if v.Pending > 0 || v.FreeSlots == 0 {
		return remaining
	}
	keep := max(s.cfg.MinUsers, ceilDiv(remaining, int64(v.FreeSlots)+1))
	if remaining-keep < s.cfg.MinUsers {
		return remaining
	}
	return keep
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
