package tests

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
)

// leaseDuration is the servers' default ownership lease (rzone server
// --lease-duration), which these tests keep.
const leaseDuration = 3 * time.Second

// attempt is one write attempt of a workload: when it was sent, when its
// reply came, and the API code it got ("" for success).
type attempt struct {
	key        string
	send, recv time.Time
	code       string
}

// leaseSample is the lease as one source showed it at a time: its end lies
// between lo and hi in the test's clock (for the leader's metric: request
// sent + remaining, reply received + remaining; for lease_until: both the
// same).
type leaseSample struct {
	at     time.Time // when the reply arrived
	lo, hi time.Time
	valid  bool
}

// TestCutOffZoneStopsWriting cuts one zone (chosen by the seed) off from
// the meta group: iptables drops every packet between the zone's nodes and
// the meta voters outside it, both ways, on their raft and API ports, so
// the zone's leader can neither reach the meta leader to renew its lease
// nor, if it is one, keep a meta voter of its own in the quorum. The zone
// itself stays whole, so its leader keeps committing; gossip is left alone.
// Writers keep paying for users of that zone straight at its leader (one
// attempt per key, no forwarding). The test records the lease's end (from
// the leader's rzone_lease_remaining_seconds and from lease_until in
// /v1/zones) and the last accepted write, checks that no write sent after
// the lease's end was accepted and that writes were refused with
// lease_expired, then heals and checks that writes are accepted again.
//
// Without root or iptables it falls back to SIGSTOP of the meta voters
// outside the zone: the meta group loses its quorum, which stops the
// renewals of every zone, not of this one only (the test says so).
func TestCutOffZoneStopsWriting(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	c := startZones(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	noCut := c.CanPartition()

	zone := zoneNames[rng.IntN(len(zoneNames))]
	leader, err := c.WaitZoneLeader(ctx, zone)
	if err != nil {
		t.Fatal(err)
	}
	voters, err := c.MetaVoters(ctx, c.Up())
	if err != nil {
		t.Fatal(err)
	}
	var outside []*cluster.Node
	for _, v := range voters {
		if v.Zone != zone {
			outside = append(outside, v)
		}
	}
	if len(outside) < 2 {
		t.Fatalf("meta voters %v: want at least two outside zone %s", ids(voters), zone)
	}
	// The observer asks for /v1/zones: a node outside the zone that no rule
	// touches.
	var observer *cluster.Node
	for _, n := range c.Nodes {
		if n.Zone != zone && !slices.Contains(voters, n) {
			observer = n
			break
		}
	}
	rt, err := c.Up().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users := shardUsers(rt, 930_000, 1)[zone][:4]
	admin, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(10))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := admin.PutAccount(ctx, u, 1_000_000_000); err != nil {
			t.Fatalf("create account %d: %v", u, err)
		}
	}
	cut := func() error { return c.Partition(c.ZoneNodes(zone), outside) }
	heal := c.Heal
	how := fmt.Sprintf("iptables drops between zone %s's nodes %v and the meta voters outside it %v, both ways, raft and API ports",
		zone, ids(c.ZoneNodes(zone)), ids(outside))
	if noCut != nil {
		cut = func() error {
			for _, v := range outside {
				if err := v.Pause(); err != nil {
					return err
				}
			}
			return nil
		}
		heal = func() error {
			for _, v := range outside {
				if err := v.Resume(); err != nil {
					return err
				}
			}
			return nil
		}
		how = fmt.Sprintf("SIGSTOP of the meta voters outside zone %s %v, because iptables cannot be used (%v): "+
			"the meta group has no quorum, so every zone's renewals stop, not only zone %s's", zone, ids(outside), noCut, zone)
	}
	t.Logf("zone %s, leader %s; meta voters %v; observer %s; users %v", zone, leader.ID, ids(voters), observer.ID, users)
	t.Logf("the cut: %s", how)

	var (
		mu        sync.Mutex
		attempts  []attempt
		nodeLease []leaseSample // leader's own clock: reply time + rzone_lease_remaining_seconds
		metaLease []leaseSample // lease_until from the observer's /v1/zones/{zone}
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	// Writers: one attempt per key, straight at the leader.
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("cut-%d-%d", w, i)
				a := attempt{key: key, send: time.Now()}
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, _, err := leader.API().Pay(cctx, users[i%len(users)], api.PayRequest{Key: key, Amount: 1, Merchant: "cut"})
				cancel()
				a.recv, a.code = time.Now(), httpapi.Code(err)
				mu.Lock()
				attempts = append(attempts, a)
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	// Lease samplers.
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 10_000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			sent := time.Now()
			m, err := leader.Metrics(ctx)
			at := time.Now()
			if err != nil {
				continue
			}
			if rem, ok := m.Find("rzone_lease_remaining_seconds", "role=zone"); ok {
				d := time.Duration(rem * float64(time.Second))
				mu.Lock()
				nodeLease = append(nodeLease, leaseSample{at: at, lo: sent.Add(d), hi: at.Add(d), valid: rem > 0})
				mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 10_000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			var zs api.ZoneStatus
			err := observer.GetJSON(ctx, "/v1/zones/"+zone, &zs)
			at := time.Now()
			if err != nil || zs.LeaseUntil == "" {
				continue
			}
			until, err := time.Parse(time.RFC3339Nano, zs.LeaseUntil)
			if err != nil {
				t.Errorf("lease_until %q: %v", zs.LeaseUntil, err)
				continue
			}
			mu.Lock()
			metaLease = append(metaLease, leaseSample{at: at, lo: until, hi: until, valid: zs.LeaseValid})
			mu.Unlock()
		}
	}()
	stopAll := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopAll()

	time.Sleep(1500 * time.Millisecond)
	cutStart := time.Now()
	if err := cut(); err != nil {
		t.Fatalf("cut zone %s off: %v", zone, err)
	}
	cutDone := time.Now()
	t.Logf("cut in place %s after it began; times below are relative to its end (\"cut\")", cutDone.Sub(cutStart).Round(time.Millisecond))

	// Write on until the lease is long gone and refusals have been seen.
	deadline := cutDone.Add(2*leaseDuration + time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	healAt := time.Now()
	if err := heal(); err != nil {
		t.Fatalf("heal: %v", err)
	}
	t.Logf("healed %s after the cut", healAt.Sub(cutDone).Round(time.Millisecond))
	var recovered time.Time
	for i := 0; i < 300 && recovered.IsZero(); i++ {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		for _, a := range attempts {
			if a.code == "" && a.send.After(healAt) {
				recovered = a.recv
				break
			}
		}
		mu.Unlock()
	}
	time.Sleep(300 * time.Millisecond)
	stopAll()

	// What the samples say.
	mu.Lock()
	defer mu.Unlock()
	nodeExpiry, nodeLatest := finalExpiry(nodeLease, healAt)
	metaExpiry, _ := finalExpiry(metaLease, healAt)
	var lastOK *attempt
	counts := map[string]int{}
	var refusedAfterCut, acceptedAfterCut int
	var firstRefusal time.Time
	var late []attempt
	for i := range attempts {
		a := &attempts[i]
		if a.send.After(healAt) {
			continue
		}
		name := a.code
		if name == "" {
			name = "ok"
		}
		counts[name]++
		if a.code == "" {
			if lastOK == nil || a.send.After(lastOK.send) {
				lastOK = a
			}
			if a.send.After(cutDone) {
				acceptedAfterCut++
			}
			if (!nodeExpiry.IsZero() && a.send.After(nodeExpiry)) || (!metaExpiry.IsZero() && a.send.After(metaExpiry)) {
				late = append(late, *a)
			}
		}
		if a.code == string(api.CodeLeaseExpired) && a.send.After(cutStart) {
			refusedAfterCut++
			if firstRefusal.IsZero() || a.send.Before(firstRefusal) {
				firstRefusal = a.send
			}
		}
	}
	rel := func(x time.Time) string {
		if x.IsZero() {
			return "never"
		}
		return fmt.Sprintf("cut%+.3fs", x.Sub(cutDone).Seconds())
	}
	t.Logf("attempts before the heal by outcome: %v", counts)
	t.Logf("leader's lease end as it moved (seen at → end): %s", leaseTimeline(nodeLease, cutStart.Add(-time.Second), healAt, rel))
	t.Logf("lease_until in /v1/zones as it moved (seen at → until): %s", leaseTimeline(metaLease, cutStart.Add(-time.Second), healAt, rel))
	t.Logf("lease end: %s by the leader's own clock (%d samples), %s by lease_until in /v1/zones (%d samples)",
		rel(nodeExpiry), len(nodeLease), rel(metaExpiry), len(metaLease))
	if lastOK != nil {
		t.Logf("last accepted write %s: sent %s, acknowledged %s; %d writes accepted after the cut; first lease_expired refusal sent %s, %d in all",
			lastOK.key, rel(lastOK.send), rel(lastOK.recv), acceptedAfterCut, rel(firstRefusal), refusedAfterCut)
	}
	if !recovered.IsZero() {
		t.Logf("after the heal the first write was accepted %s later", recovered.Sub(healAt).Round(time.Millisecond))
	}

	if nodeExpiry.IsZero() || metaExpiry.IsZero() {
		t.Fatalf("no lease samples: %d from the leader's metrics, %d from /v1/zones", len(nodeLease), len(metaLease))
	}
	if nodeLatest.After(cutDone.Add(leaseDuration)) {
		t.Errorf("the leader's lease ran to at least %s, more than the lease duration %s after the cut: the cut did not stop the renewals", rel(nodeLatest), leaseDuration)
	}
	if nodeLatest.After(metaExpiry) {
		t.Errorf("the leader's own lease ran at least to %s, after the meta group's lease_until (%s)", rel(nodeLatest), rel(metaExpiry))
	}
	for _, a := range late {
		t.Errorf("write %s was sent %s, after the lease ended (leader's clock %s, meta %s), and accepted %s",
			a.key, rel(a.send), rel(nodeExpiry), rel(metaExpiry), rel(a.recv))
	}
	if refusedAfterCut == 0 {
		t.Errorf("no write was refused with lease_expired after the cut")
	}
	if lastOK != nil && len(late) == 0 {
		t.Logf("order holds: last accepted write sent %.3fs before the leader's lease end, %.3fs before lease_until",
			nodeExpiry.Sub(lastOK.send).Seconds(), metaExpiry.Sub(lastOK.send).Seconds())
	}
	if recovered.IsZero() {
		t.Errorf("no write was accepted within 30s of the heal")
	}
}

// finalExpiry returns, from the samples taken before the heal, a late
// bound on the end of the last lease (the earliest hi among the samples
// that show it expired, which all describe that last lease; the latest hi
// if none does) and the latest lease end any sample proves (the latest lo).
func finalExpiry(samples []leaseSample, heal time.Time) (end, latest time.Time) {
	var expired, any time.Time
	for _, s := range samples {
		if !s.at.Before(heal) {
			continue
		}
		if s.lo.After(latest) {
			latest = s.lo
		}
		if s.hi.After(any) {
			any = s.hi
		}
		if !s.valid && (expired.IsZero() || s.hi.Before(expired)) {
			expired = s.hi
		}
	}
	if !expired.IsZero() && !expired.Before(latest) {
		return expired, latest
	}
	return any, latest
}

// leaseTimeline lists the samples between from and to whose lease end
// moved by more than 150ms (more than a scrape's noise) since the previous
// one listed.
func leaseTimeline(samples []leaseSample, from, to time.Time, rel func(time.Time) string) string {
	var parts []string
	var prev time.Time
	for _, s := range samples {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		if d := s.hi.Sub(prev); d > 150*time.Millisecond || d < -150*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s→%s", rel(s.at), rel(s.hi)))
			prev = s.hi
		}
	}
	return strings.Join(parts, " ")
}

func ids(nodes []*cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// followerSample is one look at an async follower in /v1/zones/{zone}.
type followerSample struct {
	at        time.Time
	state     string
	applied   uint64
	lag       uint64
	lastIndex uint64 // the zone leader's last index
}

// TestAsyncFollowerCatchesUp pauses (SIGSTOP) one node that hosts an async
// follower of a zone (chosen by the seed) for a few seconds while payments
// to that zone go on, resumes it (SIGCONT), and follows the follower in
// /v1/zones/{zone}: its reported lag_entries rises and falls back to 0.
func TestAsyncFollowerCatchesUp(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 4))
	c := startZones(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	zone := zoneNames[rng.IntN(len(zoneNames))]
	backup := c.Backup(zone)
	voters, err := c.MetaVoters(ctx, c.Up())
	if err != nil {
		t.Fatal(err)
	}
	bl, err := c.WaitZoneLeader(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	// Pause a node of the backup zone that neither leads it nor votes in
	// the meta group, so that only the follower's lag is at stake.
	var candidates []*cluster.Node
	for _, n := range c.ZoneNodes(backup) {
		if n != bl && !slices.Contains(voters, n) {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		for _, n := range c.ZoneNodes(backup) {
			if n != bl {
				candidates = append(candidates, n)
			}
		}
	}
	victim := candidates[rng.IntN(len(candidates))]
	observer := c.ZoneNodes(zone)[rng.IntN(3)]
	rt, err := c.Up().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users := shardUsers(rt, 940_000, 1)[zone][:6]
	cl, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(10),
		client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := cl.PutAccount(ctx, u, 1_000_000_000); err != nil {
			t.Fatalf("create account %d: %v", u, err)
		}
	}
	t.Logf("zone %s has its async followers on zone %s; pausing %s (backup leader %s, meta voters %v); observer %s",
		zone, backup, victim.ID, bl.ID, ids(voters), observer.ID)

	var (
		mu      sync.Mutex
		samples []followerSample
		paid    int
		stopW   = make(chan struct{})
		stopS   = make(chan struct{})
		wgW     sync.WaitGroup
		wgS     sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wgW.Add(1)
		go func() {
			defer wgW.Done()
			for i := 0; i < 100_000; i++ {
				select {
				case <-stopW:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := cl.Pay(cctx, users[(w+i)%len(users)], client.PayRequest{Key: fmt.Sprintf("af-%d-%d", w, i), Amount: 1, Merchant: "af"})
				cancel()
				if err == nil {
					mu.Lock()
					paid++
					mu.Unlock()
				}
			}
		}()
	}
	wgS.Add(1)
	go func() {
		defer wgS.Done()
		for i := 0; i < 100_000; i++ {
			select {
			case <-stopS:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var zs api.ZoneStatus
			if err := observer.GetJSON(ctx, "/v1/zones/"+zone, &zs); err != nil {
				continue
			}
			at := time.Now()
			for _, f := range zs.Followers {
				if f.Node == victim.ID {
					mu.Lock()
					samples = append(samples, followerSample{at: at, state: f.State, applied: f.AppliedIndex, lag: f.LagEntries, lastIndex: zs.LastIndex})
					mu.Unlock()
				}
			}
		}
	}()
	stopAll := func() {
		for _, ch := range []chan struct{}{stopW, stopS} {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		wgW.Wait()
		wgS.Wait()
	}
	defer stopAll()

	time.Sleep(1500 * time.Millisecond)
	if err := victim.Pause(); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	const pauseFor = 4 * time.Second
	time.Sleep(pauseFor)
	if err := victim.Resume(); err != nil {
		t.Fatal(err)
	}
	resumedAt := time.Now()
	time.Sleep(time.Second)
	close(stopW)
	wgW.Wait()
	writesStopped := time.Now()

	// Wait until the follower reports lag 0 at the zone's last index.
	var caughtUp time.Time
	for i := 0; i < 200 && caughtUp.IsZero(); i++ {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		if k := len(samples); k > 0 {
			s := samples[k-1]
			if s.at.After(writesStopped) && s.state != "unreachable" && s.lag == 0 && s.applied > 0 {
				caughtUp = s.at
			}
		}
		mu.Unlock()
	}
	stopAll()

	mu.Lock()
	defer mu.Unlock()
	rel := func(x time.Time) string { return fmt.Sprintf("pause%+.3fs", x.Sub(pausedAt).Seconds()) }
	var baseLag, pauseLag, afterLag uint64
	var frozen, unreachable int
	var appliedAtPause uint64
	var lastIndexAtResume uint64
	for _, s := range samples {
		switch {
		case s.at.Before(pausedAt):
			baseLag = max(baseLag, s.lag)
			appliedAtPause = s.applied
		case s.at.Before(resumedAt):
			pauseLag = max(pauseLag, s.lag)
			lastIndexAtResume = max(lastIndexAtResume, s.lastIndex)
			if s.state == "unreachable" {
				unreachable++
			} else if s.applied == appliedAtPause {
				frozen++
			}
		default:
			afterLag = max(afterLag, s.lag)
		}
	}
	t.Logf("%d payments acknowledged; %d samples of %s's follower of zone %s", paid, len(samples), victim.ID, zone)
	t.Logf("SIGSTOP %s at %s for %s, SIGCONT at %s, writes stopped at %s", victim.ID, rel(pausedAt), pauseFor, rel(resumedAt), rel(writesStopped))
	t.Logf("reported lag_entries: at most %d before the pause, %d during it (%d samples unreachable, %d answering with the applied index frozen at %d while the zone's last index reached %d), %d after SIGCONT",
		baseLag, pauseLag, unreachable, frozen, appliedAtPause, lastIndexAtResume, afterLag)
	logFollowerTimeline(t, samples, pausedAt, resumedAt)
	if !caughtUp.IsZero() {
		t.Logf("lag back to 0 at %s, %s after SIGCONT", rel(caughtUp), caughtUp.Sub(resumedAt).Round(time.Millisecond))
	}

	if lastIndexAtResume <= appliedAtPause {
		t.Errorf("zone %s's last index did not move during the pause (%d → %d): no writes to fall behind on", zone, appliedAtPause, lastIndexAtResume)
	}
	if peak := max(pauseLag, afterLag); peak == 0 || peak <= baseLag {
		t.Errorf("the paused follower's reported lag_entries never rose (peak %d, %d before the pause); while paused it was reported %q %d times with lag_entries 0",
			peak, baseLag, "unreachable", unreachable)
	}
	if caughtUp.IsZero() {
		t.Errorf("%s's follower of zone %s did not report lag 0 within 20s of the writes' end", victim.ID, zone)
	}
}

// logFollowerTimeline logs, compactly, how the follower's reports changed.
func logFollowerTimeline(t *testing.T, samples []followerSample, paused, resumed time.Time) {
	t.Helper()
	var parts []string
	var prev followerSample
	for i, s := range samples {
		if i > 0 && s.state == prev.state && s.lag == prev.lag && (s.lag == 0) == (prev.lag == 0) && s.applied == prev.applied {
			continue
		}
		if s.at.Before(paused.Add(-500*time.Millisecond)) && i < len(samples)-1 {
			prev = s
			continue
		}
		parts = append(parts, fmt.Sprintf("%+.2fs %s applied=%d lag=%d", s.at.Sub(paused).Seconds(), s.state, s.applied, s.lag))
		prev = s
		if len(parts) >= 40 {
			parts = append(parts, "...")
			break
		}
	}
	t.Logf("follower timeline (relative to SIGSTOP; SIGCONT at %+.2fs): %s", resumed.Sub(paused).Seconds(), strings.Join(parts, "; "))
}

// detectionBound is gossip's documented DetectionTime for n live members
// with cfg (internal/gossip's Gossip.DetectionTime, computed here for a
// node the test does not run in its own process).
func detectionBound(cfg gossip.Config, n int) time.Duration {
	pi := cfg.ProbeInterval
	scale := math.Max(1, math.Log10(float64(n)))
	suspicion := time.Duration(float64(cfg.SuspicionMaxTimeoutMult*cfg.SuspicionMult) * scale * float64(pi))
	return time.Duration(2*(n-1)-1)*pi + pi + suspicion + pi
}

// TestKilledNodeReportedDead kill -9s one node (chosen by the seed) and
// polls /v1/members on every other node until each reports it dead; each
// must do so within gossip's documented detection time. `rzone server` has
// no flag for gossip timing, so the nodes run memberlist's LAN defaults.
// The node is then restarted and reported alive again.
func TestKilledNodeReportedDead(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 5))
	c := startZones(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	voters, err := c.MetaVoters(ctx, c.Up())
	if err != nil {
		t.Fatal(err)
	}
	var candidates []*cluster.Node
	for _, n := range c.Nodes {
		if !slices.Contains(voters, n) {
			candidates = append(candidates, n)
		}
	}
	victim := candidates[rng.IntN(len(candidates))]
	var observers []*cluster.Node
	for _, n := range c.Nodes {
		if n != victim {
			observers = append(observers, n)
		}
	}
	// Every observer sees every member alive first, and says how soon it
	// will report a dead one (detection_time_ms, gossip's DetectionTime).
	bound := detectionBound(gossip.DefaultConfig(), len(c.Nodes))
	bounds := map[string]time.Duration{}
	var reported []string
	for _, o := range observers {
		ml, err := o.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ml.Members {
			if m.State != "alive" {
				t.Fatalf("%s reports %s %s before the kill", o.ID, m.ID, m.State)
			}
		}
		bounds[o.ID] = bound
		if ml.DetectionTimeMs > 0 {
			bounds[o.ID] = time.Duration(ml.DetectionTimeMs) * time.Millisecond
		}
		reported = append(reported, fmt.Sprintf("%s:%s", o.ID, bounds[o.ID]))
	}
	typical := time.Duration(gossip.DefaultConfig().SuspicionMult) * gossip.DefaultConfig().ProbeInterval
	t.Logf("kill -9 %s (zone %s, not a meta voter); documented detection time for %d members with the default gossip timing "+
		"(rzone server has no gossip timing flag): at most %s by internal/gossip's formula, detection_time_ms in /v1/members %s; typically about %s after the first failed probe",
		victim.ID, victim.Zone, len(c.Nodes), bound, strings.Join(reported, " "), typical)
	var longest time.Duration
	for _, b := range bounds {
		longest = max(longest, b)
	}

	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	deadAt := map[string]time.Duration{}
	suspectAt := map[string]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, o := range observers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(killed) < longest+2*time.Second {
				ml, err := o.Members(ctx)
				since := time.Since(killed)
				if err == nil {
					for _, m := range ml.Members {
						if m.ID != victim.ID {
							continue
						}
						mu.Lock()
						if _, ok := suspectAt[o.ID]; !ok && m.State == "suspect" {
							suspectAt[o.ID] = since
						}
						if m.State == "dead" {
							deadAt[o.ID] = since
							mu.Unlock()
							return
						}
						mu.Unlock()
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	var lines []string
	var slowest time.Duration
	for _, o := range observers {
		d, ok := deadAt[o.ID]
		s := "never"
		if ok {
			s = d.Round(10 * time.Millisecond).String()
			slowest = max(slowest, d)
		}
		if sus, ok := suspectAt[o.ID]; ok {
			s += fmt.Sprintf(" (suspect at %s)", sus.Round(10*time.Millisecond))
		}
		lines = append(lines, o.ID+": "+s)
	}
	sort.Strings(lines)
	t.Logf("reported dead after the kill: %s", strings.Join(lines, ", "))
	for _, o := range observers {
		if d, ok := deadAt[o.ID]; !ok || d > bounds[o.ID] {
			t.Errorf("%s did not report %s dead within its documented %s", o.ID, victim.ID, bounds[o.ID])
		}
	}
	if len(deadAt) == len(observers) {
		t.Logf("every other node reported %s dead within %s (bound %s)", victim.ID, slowest.Round(10*time.Millisecond), longest)
	}

	// Back from the dead: restarted on its data, it is alive again
	// everywhere and its zones are whole.
	if err := victim.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	const aliveWithin = 45 * time.Second // memberlist may wait for a push/pull (every 30s) to take the new incarnation
	aliveAt := map[string]time.Duration{}
	for len(aliveAt) < len(observers) && time.Since(restarted) < aliveWithin {
		for _, o := range observers {
			if _, ok := aliveAt[o.ID]; ok {
				continue
			}
			if ml, err := o.Members(ctx); err == nil {
				for _, m := range ml.Members {
					if m.ID == victim.ID && m.State == "alive" {
						aliveAt[o.ID] = time.Since(restarted)
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	lines = lines[:0]
	for _, o := range observers {
		if d, ok := aliveAt[o.ID]; ok {
			lines = append(lines, fmt.Sprintf("%s: %s", o.ID, d.Round(10*time.Millisecond)))
		} else {
			lines = append(lines, o.ID+": never")
		}
	}
	t.Logf("restarted %s on its data; reported alive again after: %s", victim.ID, strings.Join(lines, ", "))
	if len(aliveAt) < len(observers) {
		t.Fatalf("restarted %s: only %d of %d nodes report it alive after %s", victim.ID, len(aliveAt), len(observers), aliveWithin)
	}
	if _, err := c.WaitZonesReady(ctx); err != nil {
		t.Fatal(err)
	}
}
