package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/zone"
)

// ackedWrite is a write a client was told succeeded, and how to find it
// after reconciliation.
type ackedWrite struct {
	what  string
	check func(ctx context.Context, home *client.Client) error
}

// failoverLive plays an operator failover of a zone that is alive and
// writing: B's followers of zone A are held back, the failover of A is
// asked for, and A's leader, whose lease was renewed just before, goes on
// acknowledging a payment, a repayment and a credit-limit change. A is then
// lost (its followers in B never get those writes), the failover store
// takes state-type writes for the same accounts where it may, and A comes
// back and is reconciled. It returns every acknowledged write that is not
// in the zone afterwards.
func failoverLive(t *testing.T, plant func()) []string {
	// A lease long enough that A's leader surely still holds it for the
	// writes after the command.
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 3, func(c *Config) { c.LeaseDuration = 4 * time.Second })
	if plant != nil {
		plant()
	}
	ctx := context.Background()
	cl, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(80), client.WithTimeout(3*time.Second))
	st := mc.nodes[0].metaFSM.State()
	var users []uint64
	for u := uint64(0); len(users) < 3; u++ {
		if z, _ := st.Route(u); z == "A" {
			users = append(users, u)
		}
	}
	payer, repayer, raiser := users[0], users[1], users[2]
	for _, u := range users {
		if _, err := cl.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Pay(ctx, u, client.PayRequest{Key: "k0", Amount: 500, Merchant: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second*slow, "k0 posted and A's marks in B cleared", func() bool {
		for _, u := range users {
			if a, err := cl.GetAccount(ctx, u); err != nil || a.Pending != 0 {
				return false
			}
		}
		return len(mc.marksIn("B", "A")) == 0
	})
	mc.holdFollowers("A", 3, 6)

	// The failover command, answered at once: A is failing over, its
	// lease runs out in the meantime.
	resp, err := http.Post("http://"+mc.apis[6]+"/v1/zones/A/failover?wait=0s&force=true", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var leader *Node
	waitFor(t, 5*time.Second*slow, "A's leader sees A failing over", func() bool {
		for _, nd := range mc.nodes[:3] {
			if h := nd.zones.Own(); h != nil && h.Replica().IsLeader() {
				if z, _ := nd.metaFSM.State().ZoneOf("A"); z.PhaseOf() == fsm.PhaseFailingOver {
					leader = nd
					return true
				}
			}
		}
		return false
	})
	if h := leader.zones.Own(); !leader.zones.LeaseValid(h) {
		t.Fatal("A's leader holds no lease right after the command: the test cannot show writes acknowledged while failing over")
	}
	// Writes acknowledged by A after the command.
	var acked []ackedWrite
	zcl, _ := client.New([]string{leader.cfg.HTTPAddr}, client.WithMaxRetries(0), client.WithTimeout(time.Second))
	if _, err := zcl.Pay(ctx, payer, client.PayRequest{Key: "fo-pay", Amount: 300, Merchant: "m"}); err != nil {
		t.Fatalf("payment in A while failing over: %v", err)
	}
	acked = append(acked, paymentAcked(payer, "fo-pay"))
	if _, err := zcl.Repay(ctx, repayer, client.RepayRequest{Key: "fo-repay", Amount: 200}); err != nil {
		t.Fatalf("repayment in A while failing over: %v", err)
	}
	acked = append(acked, repaymentAcked(repayer, "fo-repay"))
	if _, err := zcl.PutAccount(ctx, raiser, 20_000); err != nil {
		t.Fatalf("limit change in A while failing over: %v", err)
	}
	acked = append(acked, limitAcked(raiser, 20_000))

	// A is lost before B's followers get those writes.
	mc.loseZone(0, 3)
	mc.releaseFollowers("A", 3, 6)
	admin, _ := client.New(mc.apis[3:], client.WithMaxRetries(20))
	zs, err := admin.FailoverZone(ctx, "A", 30*time.Second*slow, client.Forced())
	if err != nil || zs.Phase != fsm.PhaseFailover {
		t.Fatalf("failover: %+v %v", zs, err)
	}
	t.Logf("failed over: blacklist %v", zs.Failover.Isolated)

	// The store takes what it may for the same accounts: payments always,
	// repayments only where the account is not blacklisted.
	scl, _ := client.New(mc.apis[3:], client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	for _, u := range users {
		if _, err := scl.Pay(ctx, u, client.PayRequest{Key: "st-pay", Amount: 100, Merchant: "m"}); err != nil {
			t.Fatalf("payment in the store: %v", err)
		}
		acked = append(acked, paymentAcked(u, "st-pay"))
		_, err := scl.Repay(ctx, u, client.RepayRequest{Key: "st-repay", Amount: 50})
		switch {
		case err == nil:
			acked = append(acked, repaymentAcked(u, "st-repay"))
		case !errors.Is(err, client.ErrAccountIsolated):
			t.Fatalf("repayment in the store: %v", err)
		}
	}

	mc.restartZone(0, 3)
	zs, err = admin.RecoverZone(ctx, "A", 60*time.Second*slow)
	if err != nil || zs.Phase != fsm.PhaseNormal {
		t.Fatalf("recover: %+v %v", zs, err)
	}
	t.Logf("reconciled: %+v", zs.Failover.Report)
	home, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	var lost []string
	for _, w := range acked {
		if err := w.check(ctx, home); err != nil {
			lost = append(lost, fmt.Sprintf("%s: %v", w.what, err))
		}
	}
	for _, u := range users {
		assertMoney(t, home, u)
	}
	return lost
}

func paymentAcked(user uint64, key string) ackedWrite {
	return ackedWrite{what: fmt.Sprintf("payment %d/%s", user, key), check: func(ctx context.Context, home *client.Client) error {
		p, err := home.GetPayment(ctx, user, key)
		if err != nil {
			return err
		}
		if p.Status != "accepted" && p.Status != "posted" {
			return fmt.Errorf("status %s", p.Status)
		}
		return nil
	}}
}

func repaymentAcked(user uint64, key string) ackedWrite {
	return ackedWrite{what: fmt.Sprintf("repayment %d/%s", user, key), check: func(ctx context.Context, home *client.Client) error {
		r, err := home.GetRepayment(ctx, user, key)
		if err != nil {
			return err
		}
		if r.Status != "applied" {
			return fmt.Errorf("status %s", r.Status)
		}
		return nil
	}}
}

func limitAcked(user uint64, limit int64) ackedWrite {
	return ackedWrite{what: fmt.Sprintf("credit limit %d of %d", limit, user), check: func(ctx context.Context, home *client.Client) error {
		a, err := home.GetAccount(ctx, user)
		if err != nil {
			return err
		}
		if a.CreditLimit != limit {
			return fmt.Errorf("credit limit is %d", a.CreditLimit)
		}
		return nil
	}}
}

// TestFailoverOfLiveZoneKeepsAcknowledgedWrites: every write a zone
// acknowledges while failing over is marked in its backup zone, so the
// failover store isolates the account and reconciliation keeps the write;
// and no write the store acknowledged is dropped.
func TestFailoverOfLiveZoneKeepsAcknowledgedWrites(t *testing.T) {
	if lost := failoverLive(t, nil); len(lost) > 0 {
		t.Fatalf("acknowledged writes lost by the failover of a live zone: %v", lost)
	}
}

// TestWriteMarkedAfterLeaseEndIsRefused: a write whose guard mark reaches
// the backup zone only after the zone's lease has ended (and so perhaps
// after the failover read its blacklist) is refused as not applied, and
// never reaches the zone's log.
func TestWriteMarkedAfterLeaseEndIsRefused(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 1)
	ctx := context.Background()
	cl, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(80), client.WithTimeout(3*time.Second))
	st := mc.nodes[0].metaFSM.State()
	var user uint64
	for ; ; user++ {
		if z, _ := st.Route(user); z == "A" {
			break
		}
	}
	if _, err := cl.PutAccount(ctx, user, 10_000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second*slow, "A's marks in B cleared", func() bool { return len(mc.marksIn("B", "A")) == 0 })
	delay := 2 * mc.cfgs[0].LeaseDuration
	zone.TestMarkDelay.Store(&delay)
	t.Cleanup(func() { zone.TestMarkDelay.Store(nil) })
	resp, err := http.Post("http://"+mc.apis[2]+"/v1/zones/A/failover?wait=0s&force=true", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, 5*time.Second*slow, "A sees itself failing over", func() bool {
		z, _ := mc.nodes[0].metaFSM.State().ZoneOf("A")
		return z.PhaseOf() == fsm.PhaseFailingOver
	})
	zcl, _ := client.New([]string{mc.apis[0]}, client.WithMaxRetries(0), client.WithTimeout(3*delay))
	if _, err := zcl.Pay(ctx, user, client.PayRequest{Key: "late", Amount: 10, Merchant: "m"}); !errors.Is(err, client.ErrLeaseExpired) {
		t.Fatalf("a write marked after the lease's end: %v, want lease_expired", err)
	}
	h := mc.nodes[0].zones.Own()
	if err := h.Replica().Raft().Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if p, _ := h.FSM().Payment(user, "late"); p != nil {
		t.Fatalf("the write reached zone A's log: %+v", p)
	}
}
