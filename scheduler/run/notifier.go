package run

import (
	"context"
	"log/slog"

	"github.com/rzonedb/rzone/internal/api"
)

// Notification is one outbox notification as a Notifier gets it. Its Key,
// derived from (job, cycle, user) (fsm.NotificationKey), is the same on
// every delivery of it.
type Notification = api.Notification

// Notifier delivers outbox notifications to users: an SMS or push gateway,
// e-mail. The zone leader's delivery loop (outbox.go) calls Deliver at
// least once per notification and possibly more: after an error, and when
// a leader delivered but lost its term before the delivery was recorded.
// Every call for a notification carries its Key, so a downstream that
// remembers keys delivers each once. A nil error means delivered; an error
// means not delivered or unknown, and the notification is given again
// later. Implementations are safe for concurrent use.
type Notifier interface {
	Deliver(ctx context.Context, n Notification) error
}

// LogNotifier writes each notification to a structured log: the default
// notifier of a node, which makes the outbox's flow visible without a
// gateway. Its zero value logs to slog.Default().
type LogNotifier struct {
	Log *slog.Logger
}

var _ Notifier = LogNotifier{}

// Deliver logs n at info level.
func (l LogNotifier) Deliver(_ context.Context, n Notification) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("notification", "key", n.Key, "user", n.User, "job", n.Job, "cycle", n.Cycle,
		"amount", n.Amount, "due_date", n.DueDate)
	return nil
}
