package api

// RunRequest is the body of POST /v1/jobs/{job}/runs.
type RunRequest struct {
	// Cycle is the billing cycle, YYYYMM.
	Cycle string `json:"cycle"`
}

// Validate checks the cycle.
func (r *RunRequest) Validate() error {
	_, err := ParseCycle(r.Cycle)
	return err
}

// Run is a batch run's state and progress (GET /v1/runs/{id}).
type Run struct {
	ID    uint64 `json:"id"`
	Job   string `json:"job"`
	Cycle string `json:"cycle"`
	// State is running, done or cancelled.
	State      string `json:"state"`
	CreatedAt  string `json:"created_at"`
	FinishedAt string `json:"finished_at,omitempty"`
	// Ranges is the number of ranges (shards) to scan; Generated how many of
	// them have been loaded, verified and cut into tasks.
	Ranges    int `json:"ranges"`
	Generated int `json:"generated"`
	// TasksDone and TasksTotal count tasks of the generated ranges.
	TasksDone   int64 `json:"tasks_done"`
	TasksTotal  int64 `json:"tasks_total"`
	TasksOpen   int   `json:"tasks_open"`
	TasksLeased int   `json:"tasks_leased"`
	// UsersDone and UsersTotal count due users of the generated ranges.
	UsersDone  int64 `json:"users_done"`
	UsersTotal int64 `json:"users_total"`
	// Skipped users were found not due when their effect ran.
	Skipped int64 `json:"skipped"`
	// Failures counts failed effect attempts (each was retried);
	// GenFailures failed generation attempts; Expired leases that ran out or
	// were voided by a new scheduler leader; Fenced refused late reports.
	Failures    int64 `json:"failures"`
	GenFailures int64 `json:"gen_failures"`
	Expired     int64 `json:"expired"`
	Fenced      int64 `json:"fenced"`
	// Limit is the concurrency limit in force for the run's downstream, in
	// leased tasks (0 when the scheduler leader is unknown).
	Limit int `json:"limit"`
	// UsersPerSecond is the run's throughput over its life so far.
	UsersPerSecond float64 `json:"users_per_second"`
	// Gray says the run has a gray release (whitelist and window).
	Gray       bool `json:"gray,omitempty"`
	GrayActive bool `json:"gray_active,omitempty"`
}

// RunList is the body of GET /v1/runs, newest first.
type RunList struct {
	Runs []Run `json:"runs"`
}
