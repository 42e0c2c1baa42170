//go:build faultinject

package server

import (
	"context"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
)

// TestFlakyDueIsCaught plants flaky-due (a third of the zones' due-user
// pages come back one user short) under a statement run on three zones:
// generation's whole-shard loads, checked against the zones' counts, and
// the tasks' loads, asked without a count and checked against the tasks'
// numbers of users, both refuse short pages, so the run still reaches
// every due user exactly once, after failed generation attempts.
func TestFlakyDueIsCaught(t *testing.T) {
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 1, schedTune)
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(60))
	const users, due = 330, 300
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatal(err)
		}
		if u < due {
			batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 100 + int64(u), Merchant: "m"})
		}
	}
	if _, err := c.PayBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second, "every payment posted into a bill", func() bool { return len(mc.tryDueUsers(t, cycle)) == due })
	// After the start: a node's start sets the faults of its config.
	if err := inject.Set(inject.FlakyDue); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inject.Set("") })
	run, _, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, c, run.ID, 90*time.Second, func(r *client.Run) bool { return r.State != "running" })
	t.Logf("run: %+v", r)
	if r.State != "done" || r.UsersDone != due || r.UsersTotal != due || r.TasksDone != r.TasksTotal {
		t.Fatalf("run under flaky-due: %+v", r)
	}
	if r.GenFailures == 0 {
		t.Errorf("flaky-due cut a third of the pages short, yet no generation attempt failed: %+v", r)
	}
	inject.Set("")
	if n := mc.checkOncePerDueUser(t, users, fsm.JobStatement, cycle); n != due {
		t.Fatalf("%d due users, want %d", n, due)
	}
}
