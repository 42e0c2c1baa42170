package scheduler

import "errors"

var (
	// ErrInvalidConfig is wrapped by every Validate method; the wrapping message names the
	// field and the value that failed.
	ErrInvalidConfig = errors.New("scheduler: invalid config")

	// ErrFenced is returned to the holder of a lease that no longer owns its task: the
	// lease expired (or was completed already) and its users after the last accepted
	// checkpoint were handed out again. The holder must stop and discard the rest; what
	// it processed after that checkpoint is processed again by someone else.
	ErrFenced = errors.New("scheduler: lease fenced")

	// ErrUnknownLease is returned for a lease id this dispatcher never issued.
	ErrUnknownLease = errors.New("scheduler: unknown lease")

	// ErrProgress is returned when a renewal reports progress that goes backwards or past
	// the end of the lease's range. The lease is left unchanged.
	ErrProgress = errors.New("scheduler: invalid progress")

	// ErrWorkerExists is returned by AddWorker for an id that is already online.
	ErrWorkerExists = errors.New("scheduler: worker already online")

	// ErrUnknownWorker is returned by RemoveWorker for an id that is not online.
	ErrUnknownWorker = errors.New("scheduler: unknown worker")
)
