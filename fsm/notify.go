package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	bolt "go.etcd.io/bbolt"
)

// The scheduler's effects on one user: a statement closes a cycle's bill and
// tells the user what is due; a reminder tells the user of an unpaid bill
// before its due date. Each is done at most once per (job, cycle, user): the
// effects bucket remembers it, so a task retried after a crash, a lost
// lease or a new scheduler leader changes nothing the second time.

var (
	bucketEffects = []byte("effects") // job 0x00 be32(cycle) be64(user) -> empty
	bucketOutbox  = []byte("outbox")  // be64(user) be64(index) -> notificationRec
	// bucketUndelivered indexes the outbox entries the notifier has not
	// delivered yet, oldest first (see delivered.go).
	bucketUndelivered = []byte("undelivered") // be64(index) be64(user) -> empty
)

// Jobs whose effects the state machine applies.
const (
	JobStatement = "statement"
	JobReminder  = "reminder"
)

type notificationRec struct {
	Job     string `json:"job"`
	Cycle   uint32 `json:"cycle"`
	Amount  int64  `json:"amount"`
	DueDate string `json:"due_date"`
	Created int64  `json:"created"`
	// Delivered is the log time the notifier's delivery was recorded
	// (CmdNotifyDelivered); 0 while it is undelivered.
	Delivered int64 `json:"delivered,omitempty"`
}

func effectKey(job string, cycle uint32, user uint64) []byte {
	k := make([]byte, 0, len(job)+13)
	k = append(k, job...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint32(k, cycle)
	return binary.BigEndian.AppendUint64(k, user)
}

// notify applies a scheduler effect (Key names the job) for User on Cycle.
// It returns OK the first time, OK with Replay after, NotFound when the user
// has no bill for the cycle (nothing is due: the effect is not recorded).
func (a *applier) notify(c *Command) Result {
	if ok, epoch := owns(a.tx, c.User); !ok {
		return wrongZone(c.User, epoch)
	}
	if r := refuseIsolated(a.tx, c.User, "a scheduled bill action"); r != nil {
		return *r
	}
	if c.Key != JobStatement && c.Key != JobReminder {
		return Result{Code: Invalid, Msg: fmt.Sprintf("unknown job %q", c.Key)}
	}
	effects := a.tx.Bucket(bucketEffects)
	ek := effectKey(c.Key, c.Cycle, c.User)
	if has(effects, ek) && !inject.On(inject.DoubleNotify) {
		return Result{Code: OK, Replay: true}
	}
	bills := a.tx.Bucket(bucketBills)
	bk := billKey(c.User, c.Cycle)
	var b billRec
	if !get(bills, bk, &b) {
		return Result{Code: NotFound, Msg: fmt.Sprintf("user %d has no bill for %s", c.User, api.FormatCycle(c.Cycle))}
	}
	n := notificationRec{Job: c.Key, Cycle: c.Cycle, Amount: b.outstanding(), DueDate: DueDate(c.Cycle), Created: c.Time}
	if c.Key == JobStatement {
		b.Statement = b.outstanding()
		b.Statemented = c.Time
		b.Updated = c.Time
		put(bills, bk, b)
	}
	if c.Key == JobReminder && b.outstanding() == 0 {
		n.Amount = 0 // paid meanwhile: the effect is recorded, nobody is reminded
	} else {
		a.addOutbox(c.User, a.index, n)
	}
	if err := effects.Put(ek, nil); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: record effect: %v", err))
	}
	return Result{Code: OK}
}

// NotificationKey is the idempotency key of the notification of job for
// user on cycle, e.g. "statement-202611-42": the notifier hands it to the
// downstream, which delivers a key once however often it is given it.
func NotificationKey(job string, cycle uint32, user uint64) string {
	return fmt.Sprintf("%s-%s-%d", job, api.FormatCycle(cycle), user)
}

func (n *notificationRec) view(user, index uint64) api.Notification {
	v := api.Notification{User: user, Key: NotificationKey(n.Job, n.Cycle, user), Job: n.Job, Cycle: api.FormatCycle(n.Cycle),
		Amount: n.Amount, DueDate: n.DueDate, CreatedAt: api.FormatTime(n.Created), Index: index}
	if n.Delivered != 0 {
		v.DeliveredAt = api.FormatTime(n.Delivered)
	}
	return v
}

// Notifications lists a user's outbox, oldest first.
func (f *FSM) Notifications(user uint64) ([]api.Notification, error) {
	out := []api.Notification{}
	err := f.viewLatest(func(tx *bolt.Tx) error {
		prefix := be64(user)
		cur := tx.Bucket(bucketOutbox).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var n notificationRec
			decode(v, &n)
			out = append(out, n.view(user, binary.BigEndian.Uint64(k[8:])))
		}
		return nil
	})
	return out, err
}

// DueUsers returns, in user order, the users of shard that have a bill for
// cycle: the users a statement or reminder run must reach. The count is the
// zone's own, against which a run checks the list it generated.
func (f *FSM) DueUsers(shard int, cycle uint32) ([]uint64, error) {
	var out []uint64
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBills).ForEach(func(k, _ []byte) error {
			u := binary.BigEndian.Uint64(k[:8])
			if int(u%NumShards) == shard && cycleFromBillKey(k) == cycle {
				out = append(out, u)
			}
			return nil
		})
	})
	return out, err
}
