package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler/run"
)

// TestOutboxDeliveredAtLeastOnceAcrossLeaderStop runs a statement job over
// three zones whose leaders deliver the outbox through one simulated SMS
// gateway that is slow and fails a fifth of its calls. Mid-delivery, the
// leader of a zone with notifications still undelivered is stopped. In the
// end every due user's statement reached the gateway under its key
// (statement-CYCLE-USER), no other key did, every outbox entry is recorded
// as delivered in the zones' replicated state and shows delivered_at in the
// API; a key given twice (the stopped leader delivered it but had not
// recorded it) is allowed, and counted.
func TestOutboxDeliveredAtLeastOnceAcrossLeaderStop(t *testing.T) {
	gw := run.NewSimGateway(run.SimConfig{Slots: 4, Latency: 30 * time.Millisecond, BaseFailure: 0.2})
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 3, func(c *Config) {
		schedTune(c)
		c.Notify = run.NotifyConfig{Notifier: gw, Interval: 50 * time.Millisecond, Batch: 8, Concurrency: 2}
	})
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(60))
	const users, due = 160, 150
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		if u < due {
			batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 100 + int64(u), Merchant: "m"})
		}
	}
	if _, err := c.PayBatch(ctx, batch); err != nil {
		t.Fatalf("pay: %v", err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second, "every payment posted into a bill", func() bool { return len(mc.tryDueUsers(t, cycle)) == due })
	run, _, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil {
		t.Fatal(err)
	}

	// Stop a zone leader while its zone has notifications to deliver and
	// the gateway has taken some.
	victim := -1
	waitFor(t, 30*time.Second, "a zone leader in the middle of delivering", func() bool {
		if _, keys, _ := gw.Stats(); keys < 10 {
			return false
		}
		meta := mc.metaLeader()
		for i, nd := range mc.nodes {
			if i != meta && nd.IsLeader() && nd.FSM().UndeliveredCount() > 0 {
				victim = i
				return true
			}
		}
		return false
	})
	calls, keys, _ := gw.Stats()
	t.Logf("stopping %s (zone %s leader, %d undelivered) after %d gateway calls, %d keys", mc.cfgs[victim].NodeID,
		mc.cfgs[victim].Zone, mc.nodes[victim].FSM().UndeliveredCount(), calls, keys)
	mc.nodes[victim].Shutdown(ctx)

	if r := waitRun(t, c, run.ID, 60*time.Second, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" || r.UsersDone != due {
		t.Fatalf("statement run: %+v", r)
	}
	want := map[string]bool{}
	for u := range mc.dueUsers(t, cycle) {
		want[fsm.NotificationKey(fsm.JobStatement, cycle, u)] = true
	}
	if len(want) != due {
		t.Fatalf("%d due users, want %d", len(want), due)
	}
	waitFor(t, 60*time.Second, "every statement delivered and recorded", func() bool {
		for k := range want {
			if gw.Sent(k) == 0 {
				return false
			}
		}
		for _, nd := range mc.nodes { // every live replica: the record is replicated
			if !nd.stopping.Load() && nd.FSM().UndeliveredCount() != 0 {
				return false
			}
		}
		return true
	})
	if got := gw.Keys(); len(got) != len(want) {
		t.Fatalf("the gateway got %d keys, want the %d statements: %v", len(got), len(want), got)
	}
	calls, keys, dups := gw.Stats()
	t.Logf("gateway: %d calls, %d keys, %d repeated deliveries (same key)", calls, keys, dups)
	for u := uint64(0); u < users; u++ {
		list, err := c.Notifications(ctx, u)
		if err != nil {
			t.Fatalf("notifications of %d: %v", u, err)
		}
		if u >= due {
			if len(list) != 0 {
				t.Fatalf("user %d has no bill but notifications %+v", u, list)
			}
			continue
		}
		if len(list) != 1 || list[0].Key != fsm.NotificationKey(fsm.JobStatement, cycle, u) || list[0].DeliveredAt == "" {
			t.Fatalf("user %d's outbox: %+v", u, list)
		}
	}
}

// TestOutboxStandalone: a standalone zone's leader delivers its outbox
// (each key once: no fault here), records it (delivered_at through the
// API, the undelivered gauge back to 0, the delivery counter), and with
// the notifier off leaves the outbox alone.
func TestOutboxStandalone(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			gw := run.NewSimGateway(run.SimConfig{Slots: 2, Latency: time.Millisecond})
			tc := setupWith(t, 1, func(c *Config) {
				c.Notify = run.NotifyConfig{Notifier: gw, Off: off, Interval: 20 * time.Millisecond, Batch: 3, Concurrency: 2}
			})
			ctx := context.Background()
			nd := tc.nodes[0]
			const users = 7
			for u := uint64(1); u <= users; u++ {
				if _, err := tc.client.PutAccount(ctx, u, 1000); err != nil {
					t.Fatal(err)
				}
				if _, err := tc.client.Pay(ctx, u, client.PayRequest{Key: "p", Amount: 10 * int64(u), Merchant: "m"}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "posting", func() bool {
				refs, _ := nd.FSM().Unposted(100)
				return len(refs) == 0
			})
			cycle := fsm.CycleOf(time.Now().UnixMilli())
			var cmds []fsm.Command
			for u := uint64(1); u <= users; u++ {
				cmds = append(cmds, fsm.Command{Type: fsm.CmdNotify, User: u, Key: fsm.JobStatement, Cycle: cycle})
			}
			if _, err := nd.apply(nd.zones.Own(), cmds...); err != nil {
				t.Fatal(err)
			}
			if off {
				time.Sleep(300 * time.Millisecond) // ten rounds, were the loop running
				if calls, _, _ := gw.Stats(); calls != 0 || nd.FSM().UndeliveredCount() != users {
					t.Fatalf("notifier off: %d calls, %d undelivered", calls, nd.FSM().UndeliveredCount())
				}
				return
			}
			waitFor(t, 10*time.Second, "every notification delivered and recorded", func() bool {
				return nd.FSM().UndeliveredCount() == 0
			})
			if calls, keys, dups := gw.Stats(); calls != users || keys != users || dups != 0 {
				t.Fatalf("gateway: %d calls, %d keys, %d repeated", calls, keys, dups)
			}
			list, err := tc.client.Notifications(ctx, 3)
			if err != nil || len(list) != 1 || list[0].DeliveredAt == "" || list[0].Key != fsm.NotificationKey(fsm.JobStatement, cycle, 3) {
				t.Fatalf("user 3's notifications: %+v %v", list, err)
			}
			resp, err := http.Get("http://" + nd.HTTPAddr() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`rzone_notifications_delivered_total{job="statement",result="ok"} 7`,
				"rzone_notifications_recorded_total 7", "rzone_notifications_undelivered 0"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("metrics lack %q", want)
				}
			}
		})
	}
}
