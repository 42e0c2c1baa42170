// Package lease holds the rules of rzone's task leases, the one engine that both the
// cluster and the simulation run: the meta state machine (fsm/meta_sched.go) leases,
// checkpoints, expires, takes back, fences and completes the batch scheduler's tasks
// with these functions, and scheduler.Dispatcher, which `rzone-bench sched` drives,
// makes the same decisions with the same functions. What is not a lease rule stays with
// each caller: the meta state keeps runs, task lists, terms of scheduler leaders and
// gray release; the Dispatcher keeps worker slots, the expiry heap and slicing.
//
// A Lease is a value; every function here is pure: time comes in as an argument, in the
// caller's unit (the meta state machine uses log time in Unix milliseconds, the
// Dispatcher nanoseconds), and nothing is read from a clock, a map or a random source,
// so a replicated state machine may apply them.
//
// The rules:
//
//   - Grant: a lease has a fresh id (the fencing token: ids are never reused), a
//     holder, the term it was granted in, and a deadline TTL after the grant; its
//     checkpoint starts at the task's first user with nothing done.
//   - Expiry: a lease has expired once the time is past its deadline (at the deadline
//     itself it still holds).
//   - Accepts (fencing): a report (checkpoint or completion) is accepted only if it
//     names the task's lease id and term and the lease has not expired; otherwise the
//     holder is fenced and must stop.
//   - Checkpoint: progress may not go back nor past the task; an accepted checkpoint
//     moves the lease's checkpoint and extends the deadline by the TTL from now.
//   - Take-back: an expired (or voided) lease returns the users after its last
//     checkpoint to the pending work; what was checkpointed stays done.
//   - Completion: an accepted completion finishes the task; the users not checkpointed
//     yet count as done with it.
//
// lease imports no other rzone package: it sits below fsm and scheduler, which both
// import it.
package lease

// Lease is one task's lease. The zero Lease is none: the task is pending.
type Lease struct {
	ID       uint64 // fencing token, never reused; 0: no lease
	Holder   string // the worker (slot) it was granted to
	Term     uint64 // the term it was granted in (the meta state's scheduler term; 0 if none)
	Deadline int64  // it has expired once the time is past Deadline
	TTL      int64  // how far a grant or a checkpoint puts the deadline
	Next     uint64 // checkpoint: every user of the task below Next is done…
	Done     int64  // …Done of them
}

// Grant returns the lease id for holder, granted in term at now, on a task whose first
// user is lo.
func Grant(id uint64, holder string, term uint64, now, ttl int64, lo uint64) Lease {
	return Lease{ID: id, Holder: holder, Term: term, Deadline: now + ttl, TTL: ttl, Next: lo}
}

// Expired reports whether l has run out by now: now is past its deadline.
func (l Lease) Expired(now int64) bool { return now > l.Deadline }

// Stale reports whether l was granted in a term older than term: a new scheduler
// leader's term voids it.
func (l Lease) Stale(term uint64) bool { return l.Term < term }

// Accepts reports whether a report (checkpoint or completion) naming lease id of term,
// at now, is the live lease's. If not, the reporter is fenced.
func (l Lease) Accepts(id, term uint64, now int64) bool {
	return l.ID == id && l.Term == term && !l.Expired(now)
}

// Forward reports whether a checkpoint at next with done users is progress for a task
// that ends before end and holds users: neither behind the lease's checkpoint nor past
// the task.
func (l Lease) Forward(next uint64, done int64, end uint64, users int64) bool {
	return next >= l.Next && next <= end && done >= l.Done && done <= users
}

// Checkpoint returns l checkpointed at next with done users at now, and its deadline
// extended by the TTL from now. The caller has checked Accepts and Forward.
func (l Lease) Checkpoint(now int64, next uint64, done int64) Lease {
	l.Next, l.Done, l.Deadline = next, done, now+l.TTL
	return l
}

// TakeBack returns what goes back to the pending work when l is taken back from a task
// whose first user is lo and that holds users: the users after its checkpoint.
func (l Lease) TakeBack(lo uint64, users int64) (uint64, int64) {
	if l.Done > 0 {
		return l.Next, users - l.Done
	}
	return lo, users
}

// Left returns how many of a task's users are not checkpointed under l: those an
// accepted completion finishes.
func (l Lease) Left(users int64) int64 { return users - l.Done }
