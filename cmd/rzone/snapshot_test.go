package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rzonedb/rzone/internal/testnet"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/backup"
	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/snapfile"
	"github.com/rzonedb/rzone/internal/testlog"
	"github.com/rzonedb/rzone/server"
)

// testNode is one node of an in-process cluster: its config, and the
// running node (nil when stopped).
type testNode struct {
	cfg  server.Config
	node *server.Node
}

// clusterConfigs makes the configs of nodes (id, zone) in folders under
// dataDir (dataDir/ID), on free loopback ports, gossiping with the first.
func clusterConfigs(t *testing.T, dataDir string, ids, zones []string) []*testNode {
	t.Helper()
	n := len(ids)
	p := testnet.PortRun(t, 3*n)
	log := testlog.New(t, slog.LevelWarn)
	var out []*testNode
	for i := range ids {
		c := server.DefaultConfig()
		c.NodeID, c.Zone, c.DataDir, c.Logger, c.Insecure = ids[i], zones[i], filepath.Join(dataDir, ids[i]), log, true
		c.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", p+i)
		c.RaftAddr = fmt.Sprintf("127.0.0.1:%d", p+n+i)
		c.GossipAddr = fmt.Sprintf("127.0.0.1:%d", p+2*n+i)
		c.GossipFast = true
		if i > 0 {
			c.GossipSeeds = []string{out[0].cfg.GossipAddr}
		}
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
		c.LeaseDuration, c.LeaseRenew = 1500*time.Millisecond, 250*time.Millisecond
		c.PostInterval = 50 * time.Millisecond
		out = append(out, &testNode{cfg: c})
	}
	t.Cleanup(func() {
		for _, tn := range out {
			tn.stop()
		}
	})
	return out
}

func (tn *testNode) start(t *testing.T) {
	t.Helper()
	nd, err := server.Start(tn.cfg)
	if err != nil {
		t.Fatalf("start %s: %v", tn.cfg.NodeID, err)
	}
	tn.node = nd
}

func (tn *testNode) stop() {
	if tn.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tn.node.Shutdown(ctx)
		cancel()
		tn.node = nil
	}
}

func testClient(t *testing.T, nodes []*testNode) *client.Client {
	t.Helper()
	var addrs []string
	for _, tn := range nodes {
		addrs = append(addrs, tn.cfg.HTTPAddr)
	}
	c, err := client.New(addrs, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(40))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replicaDigests reads a node's replicas with their state digests.
func replicaDigests(t *testing.T, addr string) []api.ReplicaState {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/internal/replicas?digest=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs []api.ReplicaState
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

type ackedPayment struct {
	user   uint64
	key    string
	amount int64
	at     time.Time
}

// TestSnapshotSaveUnderLoadAndRestore saves every group of a two-zone,
// four-node cluster with `rzone snapshot save --all` while payments flow,
// restores the files with `rzone snapshot restore` into the folders of a
// new cluster of four other nodes, and starts it:
//   - a restored zone replica, before its group can elect (its zone's other
//     voter not started yet), is at the saved index with the state digest
//     the source's leader had at that index;
//   - the new cluster serves, with a new cluster id, the route table's
//     epoch of the backup, every payment acknowledged before the save
//     began (same amount), and the money identity on every account;
//   - it takes new payments.
func TestSnapshotSaveUnderLoadAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two in-process clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := clusterConfigs(t, t.TempDir(), []string{"a1", "a2", "b1", "b2"}, []string{"A", "A", "B", "B"})
	for _, tn := range src {
		tn.start(t)
	}
	sc := testClient(t, src)
	initCtx, initCancel := context.WithTimeout(ctx, 30*time.Second)
	if _, err := sc.InitCluster(initCtx, []string{"A", "B"}, len(src)); err != nil {
		t.Fatalf("init: %v", err)
	}
	initCancel()
	const users = 24
	for u := uint64(0); u < users; u++ {
		if _, err := sc.PutAccount(ctx, u, 10_000_000); err != nil {
			t.Fatalf("account %d: %v", u, err)
		}
	}

	// Payment load, from before the save until after it.
	var mu sync.Mutex
	var acked []ackedPayment
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := ackedPayment{user: rng.Uint64N(users), key: fmt.Sprintf("w%d-%d", w, i), amount: 100 + rng.Int64N(900)}
				if _, err := sc.Pay(ctx, p.user, client.PayRequest{Key: p.key, Amount: p.amount, Merchant: "m"}); err != nil {
					continue // unknown outcome or refused: not acknowledged
				}
				p.at = time.Now()
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
			}
		}()
	}
	ackedBy := func(before time.Time) []ackedPayment {
		mu.Lock()
		defer mu.Unlock()
		var out []ackedPayment
		for _, p := range acked {
			if p.at.Before(before) {
				out = append(out, p)
			}
		}
		return out
	}
	for wait := time.Now().Add(60 * time.Second); len(ackedBy(time.Now())) < 30; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("only %d payments acknowledged in 60s: no load", len(ackedBy(time.Now())))
		}
	}

	backupDir := filepath.Join(t.TempDir(), "backup")
	saveStart := time.Now()
	var out, errOut bytes.Buffer
	if code := run([]string{"snapshot", "save", "--all", backupDir, "--addr", src[0].cfg.HTTPAddr, "-o", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("snapshot save --all: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	saveEnd := time.Now()
	t.Logf("snapshot save --all:\n%s%s", errOut.String(), out.String())
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	before := ackedBy(saveStart)
	during := len(ackedBy(saveEnd)) - len(before)
	t.Logf("%d payments acknowledged before the save, %d during it", len(before), during)
	if len(before) < 30 {
		t.Fatalf("only %d payments before the save: no load", len(before))
	}
	srcEpoch := func() uint64 {
		rt, err := sc.Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rt.Epoch
	}()

	data, err := os.ReadFile(filepath.Join(backupDir, snapfile.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m snapfile.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	saved := map[string]snapfile.ManifestEntry{}
	for _, g := range m.Groups {
		saved[g.Group] = g
		if _, err := snapfile.Verify(filepath.Join(backupDir, g.File)); err != nil {
			t.Fatalf("%s: %v", g.File, err)
		}
	}
	if len(saved) != 3 || saved["zone/A"].StateDigest == "" || saved["zone/B"].StateDigest == "" || m.ClusterID == "" {
		t.Fatalf("manifest: %s", data)
	}
	// One group at a time, through a node that does not lead it.
	for _, tt := range []struct{ flag, group string }{{"--zone=B", "zone/B"}, {"--meta", "meta"}} {
		file := filepath.Join(t.TempDir(), "one.snap")
		out.Reset()
		errOut.Reset()
		if code := run([]string{"snapshot", "save", file, tt.flag, "--addr", src[1].cfg.HTTPAddr}, &out, &errOut); code != 0 {
			t.Fatalf("snapshot save %s: exit %d\n%s", tt.flag, code, errOut.String())
		}
		h, err := snapfile.Verify(file)
		if err != nil || h.Group != tt.group || h.Index < saved[tt.group].Index || h.ClusterID != m.ClusterID {
			t.Fatalf("snapshot save %s: %+v %v", tt.flag, h, err)
		}
	}
	if code := run([]string{"snapshot", "save", "x.snap", "--zone=A", "--meta", "--addr", src[0].cfg.HTTPAddr}, &out, &errOut); code != exitUsage {
		t.Fatalf("snapshot save with --zone and --meta: exit %d, want %d", code, exitUsage)
	}
	for _, tn := range src {
		tn.stop()
	}

	// Restore into the folders of four new nodes.
	restored := t.TempDir()
	dst := clusterConfigs(t, restored, []string{"ra1", "ra2", "rb1", "rb2"}, []string{"A", "A", "B", "B"})
	args := []string{"snapshot", "restore", "--from", backupDir, "--data-dir", restored, "-o", "json"}
	for _, tn := range dst {
		args = append(args, "--node", strings.Join([]string{tn.cfg.NodeID, tn.cfg.Zone, tn.cfg.RaftAddr, tn.cfg.HTTPAddr}, ","))
	}
	out.Reset()
	errOut.Reset()
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("snapshot restore: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	var res backup.RestoreResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.ClusterID == "" || res.ClusterID == m.ClusterID || res.From != m.ClusterID {
		t.Fatalf("restore result: %v %s", err, out.String())
	}

	// One node of each zone first: its zone cannot elect a leader alone,
	// so its replica stays at the restored index.
	for _, i := range []int{0, 2} {
		dst[i].start(t)
		group := "zone/" + dst[i].cfg.Zone
		found := false
		for _, r := range replicaDigests(t, dst[i].cfg.HTTPAddr) {
			if r.Group != group {
				continue
			}
			found = true
			if r.AppliedIndex != saved[group].Index || r.Digest != saved[group].StateDigest {
				t.Fatalf("%s on %s: restored at %d with digest %.12s; the source's leader was at %d with %.12s",
					group, dst[i].cfg.NodeID, r.AppliedIndex, r.Digest, saved[group].Index, saved[group].StateDigest)
			}
		}
		if !found {
			t.Fatalf("%s does not host %s after the restore", dst[i].cfg.NodeID, group)
		}
	}
	dst[1].start(t)
	dst[3].start(t)

	dc := testClient(t, dst)
	deadline := time.Now().Add(60 * time.Second)
	for u := uint64(0); u < users; {
		_, err := dc.Pay(ctx, u, client.PayRequest{Key: fmt.Sprintf("after-restore-%d", u), Amount: 1, Merchant: "m"})
		if err == nil {
			u++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restored cluster takes no payment for user %d: %v", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rt, err := dc.Routes(ctx)
	if err != nil || rt.Epoch != srcEpoch {
		t.Fatalf("restored route table: %+v %v, want the source's epoch %d", rt, err, srcEpoch)
	}
	for _, p := range before {
		got, err := dc.GetPayment(ctx, p.user, p.key)
		if err != nil {
			if errors.Is(err, client.ErrNotFound) {
				t.Fatalf("payment %s of user %d, acknowledged %s before the save began, is not in the restored cluster",
					p.key, p.user, saveStart.Sub(p.at).Round(time.Millisecond))
			}
			t.Fatal(err)
		}
		if got.Amount != p.amount || got.Status == client.PaymentDeclined {
			t.Fatalf("payment %s restored as %+v, acknowledged with amount %d", p.key, got, p.amount)
		}
	}
	for u := uint64(0); u < users; u++ {
		a, err := dc.GetAccount(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := dc.AllPayments(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, p := range ps {
			if p.Status != client.PaymentDeclined {
				sum += p.Amount
			}
		}
		if a.Used+a.Pending != a.Accepted-a.Repaid || sum != a.Accepted {
			t.Fatalf("user %d: money identity broken after restore: %+v, payments add up to %d", u, a, sum)
		}
	}
}

// snapshotServer is a node that serves snapshots: the meta group's from
// metas in turn (the last one again once they run out), and a small body
// for any zone.
func snapshotServer(t *testing.T, metas ...fsm.MetaState) string {
	t.Helper()
	var mu sync.Mutex
	served := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		group, ok := strings.CutPrefix(r.URL.Path, "/v1/snapshot/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		body := []byte("zone state of " + group)
		if group == "meta" {
			mu.Lock()
			st := metas[min(served, len(metas)-1)]
			served++
			mu.Unlock()
			body, _ = fsm.EncodeMetaSnapshot(9, st)
		}
		sum := sha256.Sum256(body)
		snapfile.Write(w, snapfile.Header{ClusterID: "c", Group: group, Index: 9, Term: 1, Created: time.Now().UTC(),
			Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestSaveAllRefusesAnInconsistentBackup: `rzone snapshot save --all`
// fails, and writes no manifest, when the route table changed while the
// zones were saved, a zone was failing over, or a shard was moving; it
// writes one when nothing changed.
func TestSaveAllRefusesAnInconsistentBackup(t *testing.T) {
	base := fsm.MetaState{Initialized: true, Epoch: 4, ClusterID: "c",
		Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}, Shards: make([]fsm.ShardRoute, 2)}
	moved := base
	moved.Epoch = 5
	failing := base
	failing.Zones = []fsm.ZoneInfo{{Name: "A", Backup: "B", Phase: fsm.PhaseFailingOver}, {Name: "B", Backup: "A"}}
	moving := base
	moving.Shards = []fsm.ShardRoute{{Zone: "A", Target: "B"}, {Zone: "B"}}
	tests := []struct {
		name  string
		metas []fsm.MetaState
		says  string
	}{
		{"consistent", []fsm.MetaState{base}, ""},
		{"route table changed", []fsm.MetaState{base, moved}, "route table changed"},
		{"zone failing over", []fsm.MetaState{failing}, "zone A is failing_over"},
		{"shard moving", []fsm.MetaState{moving}, "shard 0 is moving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "backup")
			var out, errOut bytes.Buffer
			code := run([]string{"snapshot", "save", "--all", dir, "--addr", snapshotServer(t, tt.metas...)}, &out, &errOut)
			_, merr := os.Stat(filepath.Join(dir, snapfile.ManifestFile))
			if tt.says == "" {
				if code != 0 || merr != nil {
					t.Fatalf("exit %d, manifest %v\n%s", code, merr, errOut.String())
				}
				return
			}
			if code == 0 || !strings.Contains(errOut.String(), tt.says) || merr == nil {
				t.Fatalf("exit %d (manifest written: %v), want a failure saying %q:\n%s", code, merr == nil, tt.says, errOut.String())
			}
		})
	}
}
