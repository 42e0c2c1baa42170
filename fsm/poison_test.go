package fsm

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// replicas are three copies of one state machine fed the same log: a and b
// apply each poison entry, noop applies an empty entry at its index. After
// every step all three must hold the same state: the poison entry changed
// nothing, identically on every replica.
type replicas struct {
	t          *testing.T
	a, b, noop *harness
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	return &replicas{t: t, a: setup(t), b: setup(t), noop: setup(t)}
}

// all applies c to every replica and wants OK.
func (r *replicas) all(c Command) {
	r.t.Helper()
	for _, h := range []*harness{r.a, r.b, r.noop} {
		if res := h.one(c); res.Code != OK {
			r.t.Fatalf("%s: %v %s", c.Type, res.Code, res.Msg)
		}
	}
}

// poison applies c to a and b (recovering a panic as a failure) and an
// empty entry to noop, and checks the result is Invalid and the states
// equal.
func (r *replicas) poison(name string, c Command) {
	r.t.Helper()
	ra, rb := r.apply(r.a, c), r.apply(r.b, c)
	r.noop.do() // an entry with no command
	if ra.Code != Invalid || rb.Code != Invalid || ra.Msg != rb.Msg {
		r.t.Errorf("%s: results %v %q / %v %q, want invalid on both", name, ra.Code, ra.Msg, rb.Code, rb.Msg)
	}
	r.same(name)
}

func (r *replicas) apply(h *harness, c Command) (res Result) {
	r.t.Helper()
	defer func() {
		if p := recover(); p != nil {
			r.t.Fatalf("%s panicked: %v", c.Type, p)
		}
	}()
	return h.one(c)
}

func (r *replicas) same(name string) {
	r.t.Helper()
	ia, da, _ := r.a.f.Digest()
	ib, db, _ := r.b.f.Digest()
	in, dn, _ := r.noop.f.Digest()
	if da != db || da != dn || ia != ib || ia != in {
		r.t.Fatalf("%s: replicas differ after it (applied %d/%d/%d)", name, ia, ib, in)
	}
}

// shardOwner is a zone owning every shard, with users 7 and 107 (shard 7)
// holding posted and accepted payments, a bill and a repayment.
func shardOwner(t testing.TB) *harness {
	t.Helper()
	src := setup(t)
	src.one(Command{Type: CmdSetShards, Epoch: 1, Own: true, Shards: allShards()})
	for _, u := range []uint64{7, 107} {
		src.one(putAcc(u, 100_000))
		src.one(pay(u, "p1", 1000))
		src.one(pay(u, "p2", 2000))
	}
	src.postAll()
	src.one(repay(7, "r1", 500))
	src.one(pay(7, "p3", 300))   // stays accepted
	src.one(pay(7, "p4", 1<<40)) // declined
	return src
}

func exportShard(t testing.TB, h *harness, shard int) []Record {
	t.Helper()
	recs, err := h.f.ExportShard(shard)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// mutate returns a copy of recs with the record of bucket whose key has the
// given suffix changed by fn (the value), or dropped when fn returns nil.
func mutate(recs []Record, bucket string, user uint64, fn func(v []byte) []byte) []Record {
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if r.Bucket == bucket && binary.BigEndian.Uint64(r.Key[:8]) == user {
			v := fn(slices.Clone(r.Value))
			if v == nil {
				continue
			}
			r.Value = v
		}
		out = append(out, r)
	}
	return out
}

// edit rewrites a JSON record value with fn applied to its fields.
func edit(fn func(m map[string]any)) func([]byte) []byte {
	return func(v []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			panic(err)
		}
		fn(m)
		out, _ := json.Marshal(m)
		return out
	}
}

func TestApplyRefusesMalformedZoneCommands(t *testing.T) {
	src := shardOwner(t)
	valid := exportShard(t, src, 7)
	r := newReplicas(t)
	r.all(Command{Type: CmdSetShards, Epoch: 1, Own: true, Shards: allShards()})
	r.all(Command{Type: CmdSetShards, Epoch: 2, Own: false, Shards: []byte{7}})
	r.all(putAcc(8, 5000))
	r.all(pay(8, "x", 100))

	ingest := func(recs []Record) Command { return Command{Type: CmdIngest, Records: recs} }
	u7 := userKey(7, "k")
	tests := []struct {
		name string
		cmd  Command
	}{
		{"the poison import of issue 10", ingest([]Record{{Bucket: "payments", Key: u7, Value: []byte("x")}})},
		{"no records", ingest(nil)},
		{"account value not JSON", ingest(mutate(valid, "accounts", 7, func([]byte) []byte { return []byte("{") }))},
		{"account breaks the money identity", ingest(mutate(valid, "accounts", 7, edit(func(m map[string]any) { m["used"] = m["used"].(float64) + 1 })))},
		{"account with an unknown field", ingest(mutate(valid, "accounts", 7, edit(func(m map[string]any) { m["bonus"] = 1 })))},
		{"pending not covered by accepted payments", ingest(mutate(valid, "accounts", 7, edit(func(m map[string]any) {
			m["pending"], m["used"] = 0.0, m["used"].(float64)+m["pending"].(float64)
		})))},
		{"payments without their account", ingest(mutate(valid, "accounts", 7, func([]byte) []byte { return nil }))},
		{"payment status unknown", ingest(mutate(valid, "payments", 107, edit(func(m map[string]any) { m["status"] = "maybe" })))},
		{"payment amount negative", ingest(mutate(valid, "payments", 107, edit(func(m map[string]any) { m["amount"] = -5.0 })))},
		{"bill outstanding beyond credit used", ingest(mutate(valid, "bills", 7, edit(func(m map[string]any) { m["principal"] = 1e9 })))},
		{"bill paid beyond principal", ingest(mutate(valid, "bills", 7, edit(func(m map[string]any) { m["paid"] = 1e12 })))},
		{"record of another shard", ingest(append(slices.Clone(valid), Record{Bucket: "accounts", Key: be64(8), Value: valid[0].Value}))},
		{"record for a bucket outside shard data", ingest(append(slices.Clone(valid), Record{Bucket: "marks", Key: be64(7), Value: nil}))},
		{"short key", ingest(append(slices.Clone(valid), Record{Bucket: "payments", Key: []byte{1, 2}, Value: nil}))},
		{"payment key not printable", ingest(append(slices.Clone(valid), Record{Bucket: "payments", Key: append(be64(7), 0), Value: nil}))},
		{"bill key with no cycle", ingest(append(slices.Clone(valid), Record{Bucket: "bills", Key: append(be64(7), 0, 0, 0, 0), Value: []byte("{}")}))},
		{"record repeated", ingest(append(slices.Clone(valid), valid[0]))},
		{"ingest of an owned shard", ingest(exportShard(t, r.a, 8))},
		{"pay of zero", pay(8, "z", 0)},
		{"pay with an empty key", pay(8, "", 5)},
		{"pay with a long merchant", Command{Type: CmdPay, User: 8, Time: t0, Key: "m", Amount: 1, Merchant: string(make([]byte, 200))}},
		{"credit limit negative", putAcc(8, -1)},
		{"repay of cycle 13", Command{Type: CmdRepay, User: 8, Time: t0, Key: "r", Amount: 1, Cycle: 202613}},
		{"post of an empty key", Command{Type: CmdPost, Time: t0, Posts: []PostRef{{User: 8, Key: ""}}}},
		{"register a nameless node", Command{Type: CmdRegisterNode}},
		{"shard 200", Command{Type: CmdSetShards, Epoch: 9, Own: true, Shards: []byte{200}}},
		{"mark for a nameless zone", Command{Type: CmdMark, Marks: []Mark{{User: 1}}}},
		{"clear for a zone with a 0 byte", Command{Type: CmdGuardClear, NodeID: "A\x00", Epoch: 5}},
		{"notify of an unknown job", Command{Type: CmdNotify, User: 8, Time: t0, Key: "spam", Cycle: 202611}},
		{"notify of cycle 0", Command{Type: CmdNotify, User: 8, Time: t0, Key: JobStatement}},
		{"delivery of an unknown job", Command{Type: CmdNotifyDelivered, Time: t0, Notes: []NoteRef{{User: 8, Job: "x", Cycle: 202611}}}},
		{"failover with a stand-in of 101%", Command{Type: CmdFailover, NodeID: "A", Amount: 101}},
		{"merge of no shard", Command{Type: CmdMerge, NodeID: "A-f2"}},
		{"merge of a nameless group", Command{Type: CmdMerge, Shards: []byte{7}, Records: valid}},
	}
	for _, tc := range tests {
		r.poison(tc.name, tc.cmd)
	}
	// The state goes on as before: posting and paying apply everywhere.
	for _, h := range []*harness{r.a, r.b, r.noop} {
		h.postAll()
		h.one(pay(8, "after", 10))
	}
	r.same("after the poison")
	// The valid export still ingests, on every replica alike.
	r.all(Command{Type: CmdIngest, Records: valid})
	r.same("valid ingest")
	if got := r.a.account(7); got.Pending != 300 || got.Used != 2500 {
		t.Fatalf("ingested account 7: %+v", got)
	}
}

func TestIngestRefusedInStandaloneZone(t *testing.T) {
	src := shardOwner(t)
	r := newReplicas(t)
	r.all(putAcc(7, 5000)) // a standalone zone owns every user
	r.poison("ingest into a standalone zone", Command{Type: CmdIngest, Records: exportShard(t, src, 7)})
	if got := r.a.account(7); got.CreditLimit != 5000 {
		t.Fatalf("account 7 overwritten: %+v", got)
	}
}

func TestIngestReplacesTheUsersCopy(t *testing.T) {
	src := shardOwner(t)
	dst := setup(t)
	dst.one(Command{Type: CmdSetShards, Epoch: 1, Own: false, Shards: []byte{7}})
	// A copy of user 7 from an earlier ownership, with a payment the
	// source does not hold.
	stale := exportShard(t, src, 7)
	stale = append(stale, Record{Bucket: "payments", Key: userKey(7, "zz-stale"), Value: []byte(`{"amount":5,"merchant":"m","status":"accepted","created":1,"index":1}`)})
	stale = mutate(stale, "accounts", 7, edit(func(m map[string]any) {
		m["pending"], m["accepted"] = m["pending"].(float64)+5, m["accepted"].(float64)+5
	}))
	if res := dst.one(Command{Type: CmdIngest, Records: stale}); res.Code != OK {
		t.Fatalf("ingest: %v %s", res.Code, res.Msg)
	}
	if res := dst.one(Command{Type: CmdIngest, Records: exportShard(t, src, 7)}); res.Code != OK {
		t.Fatalf("ingest: %v %s", res.Code, res.Msg)
	}
	if _, err := dst.f.Payment(7, "zz-stale"); err == nil {
		t.Fatal("the stale payment survived the ingest that replaced user 7")
	}
	dst.one(Command{Type: CmdSetShards, Epoch: 2, Own: true, Shards: []byte{7}})
	dst.postAll() // panics if the unposted index still names the stale payment's money
	if got := dst.account(7); got.Pending != 0 || got.Used != 2800 {
		t.Fatalf("account 7 after posting: %+v", got)
	}
}

func TestApplyRefusesMalformedMerge(t *testing.T) {
	zoneCmds := []Command{putAcc(7, 100_000), pay(7, "a", 1000), putAcc(107, 100_000)}
	zone, store := failoverPair(t, zoneCmds, len(zoneCmds), nil)
	store.one(pay(7, "b", 200))
	store.one(pay(107, "c", 300))
	valid, err := store.f.ExportFailoverShard(7)
	if err != nil {
		t.Fatal(err)
	}
	r := &replicas{t: t, a: zone, b: setup(t), noop: setup(t)}
	for _, l := range zone.log {
		for _, h := range []*harness{r.b, r.noop} {
			h.index++
			h.f.Apply(l)
		}
	}
	merge := func(recs []Record) Command {
		return Command{Type: CmdMerge, NodeID: "A-f2", Shards: []byte{7}, Records: recs, Time: t0 + 5000}
	}
	tests := []struct {
		name string
		cmd  Command
	}{
		{"payment value not JSON", merge(mutate(valid, "payments", 7, func([]byte) []byte { return []byte("eA==") }))},
		{"account breaks the money identity", merge(mutate(valid, "accounts", 107, edit(func(m map[string]any) { m["accepted"] = 1e6 })))},
		{"pending not covered", merge(mutate(valid, "accounts", 7, edit(func(m map[string]any) {
			m["pending"], m["used"] = 0.0, m["pending"]
		})))},
		{"record of another shard", merge(append(slices.Clone(valid), Record{Bucket: "accounts", Key: be64(8), Value: valid[0].Value}))},
		{"outbox entry not a notification", merge(append(slices.Clone(valid), Record{Bucket: "outbox", Key: append(be64(7), be64(9)...), Value: []byte(`{"job":"spam"}`)}))},
		{"blacklist entry with a value", merge(append(slices.Clone(valid), Record{Bucket: "isolated", Key: be64(7), Value: []byte("1")}))},
		{"bucket of the zone's own", merge(append(slices.Clone(valid), Record{Bucket: "merged", Key: be64(7), Value: nil}))},
	}
	for _, tc := range tests {
		r.poison(tc.name, tc.cmd)
	}
	for _, h := range []*harness{r.a, r.b, r.noop} {
		if res := h.one(merge(valid)); res.Code != OK {
			t.Fatalf("valid merge: %v %s", res.Code, res.Msg)
		}
	}
	r.same("valid merge")
}

func TestMetaApplyRefusesMalformedCommands(t *testing.T) {
	// base applies each malformed command; other applies an ignorable
	// unknown command (a no-op) at the same index.
	base, other := NewMeta(nil), NewMeta(nil)
	apply := func(m *Meta, c MetaCmd) (res MetaResult) {
		t.Helper()
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("meta command %d panicked: %v", c.Type, p)
			}
		}()
		out, _ := m.Apply(&raft.Log{Index: m.AppliedIndex() + 1, Type: raft.LogCommand, Data: EncodeMeta(c)}).(MetaResult)
		return out
	}
	state := func(m *Meta) string {
		b, _ := json.Marshal(m.State())
		return string(b)
	}
	init := MetaCmd{Type: MetaInit, Time: t0, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}},
		Nodes: []NodeInfo{{ID: "a1", Zone: "A"}, {ID: "b1", Zone: "B"}}}
	for _, m := range []*Meta{base, other} {
		if res := apply(m, init); res.Err != "" {
			t.Fatal(res.Err)
		}
	}
	tests := []struct {
		name string
		cmd  MetaCmd
	}{
		{"type 99", MetaCmd{Type: 99}},
		{"type 0", MetaCmd{}},
		{"lease of a day", MetaCmd{Type: MetaRenewLease, Time: t0, Zone: "A", Holder: "a1", DurationMs: 86_400_000}},
		{"lease of a nameless zone", MetaCmd{Type: MetaRenewLease, Time: t0, Holder: "a1", DurationMs: 3000}},
		{"init with a repeated zone", MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A"}, {Name: "A"}}}},
		{"init with a backup that is no zone", MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "Q"}}}},
		{"config with an empty key", MetaCmd{Type: MetaSetConfig, Value: "v"}},
		{"move of shard -1", MetaCmd{Type: MetaMoveShard, Shard: -1, Target: "B"}},
		{"move of shard 100", MetaCmd{Type: MetaFinishMove, Shard: 100, Target: "B"}},
		{"node address without a node", MetaCmd{Type: MetaSetNodeAddr}},
		{"promote without a group", MetaCmd{Type: MetaPromote, Zone: "A", Seed: "b1"}},
		{"failover of a zone with a control byte", MetaCmd{Type: MetaFailover, Zone: "A\n"}},
		{"scheduler command without payload", MetaCmd{Type: MetaSchedCreateRun}},
		{"run of an unknown job", MetaCmd{Type: MetaSchedCreateRun, Sched: &SchedCmd{Job: "mine", Cycle: 202611}}},
		{"run of cycle 202600", MetaCmd{Type: MetaSchedCreateRun, Sched: &SchedCmd{Job: JobStatement, Cycle: 202600}}},
		{"lease of a year", MetaCmd{Type: MetaSchedLease, Sched: &SchedCmd{Worker: "w", Zone: "A", TTLMs: 1 << 40}}},
		{"generated for shard 100", MetaCmd{Type: MetaSchedGenerated, Sched: &SchedCmd{Run: 1, Shard: 100}}},
	}
	for _, tc := range tests {
		before := state(base)
		res := apply(base, tc.cmd)
		if !res.Invalid || res.Err == "" {
			t.Errorf("%s: result %+v, want invalid", tc.name, res)
		}
		if after := state(base); after != before {
			t.Errorf("%s: state changed:\n%s\n%s", tc.name, before, after)
		}
		apply(other, MetaCmd{Type: byte(IgnorableFlag) | 0x7f})
		if state(base) != state(other) || base.AppliedIndex() != other.AppliedIndex() {
			t.Fatalf("%s: replicas differ", tc.name)
		}
	}
}

// FuzzMetaApply checks that no meta entry, whatever its bytes, panics the
// meta state machine: what DecodeMeta accepts is applied to a copy of an
// initialized state with a run going on.
func FuzzMetaApply(f *testing.F) {
	base := NewMeta(nil)
	for i, c := range []MetaCmd{
		{Type: MetaInit, Time: t0, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}, Nodes: []NodeInfo{{ID: "a1", Zone: "A"}}},
		{Type: MetaRenewLease, Time: t0, Zone: "A", Holder: "a1", Term: 1, DurationMs: 3000},
		{Type: MetaSchedCreateRun, Time: t0, Sched: &SchedCmd{Job: JobStatement, Cycle: 202611}},
	} {
		base.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: EncodeMeta(c)})
		f.Add(EncodeMeta(c))
	}
	for _, s := range []string{`{"type":99}`, `{"type":20}`, `{"type":28,"sched":{"run":1}}`, `{"type":6}`, `{"type":1,"zones":[{"name":""}]}`} {
		f.Add(append([]byte{EntryVersion}, s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeMeta(data)
		if err != nil {
			return
		}
		st := base.State()
		res := st.apply(&c)
		if c.Validate() != nil && c.Type&byte(IgnorableFlag) == 0 && !res.Invalid {
			t.Fatalf("invalid command %+v applied: %+v", c, res)
		}
	})
}
