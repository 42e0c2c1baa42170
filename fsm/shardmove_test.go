package fsm

import (
	"reflect"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// TestShardMoveCarriesOutboxAndEffects moves a shard whose users have
// statements (one delivered, others not) and a reminder recorded without a
// notification (the bill was paid first). The new zone gets each
// notification once with its delivery state, even from an import given
// twice, and answers a repeated statement or reminder as a replay; from
// the release on, the old zone delivers none of the shard's notifications,
// and once the move drops them it holds none.
func TestShardMoveCarriesOutboxAndEffects(t *testing.T) {
	const cy = 202611
	src, dst := setup(t), setup(t)
	src.one(Command{Type: CmdSetShards, Shards: []byte{5, 6}, Epoch: 1, Own: true})
	dst.one(Command{Type: CmdSetShards, Shards: []byte{7}, Epoch: 1, Own: true})
	users := []uint64{5, 105, 205, 6}
	for _, u := range users {
		src.one(putAcc(u, 10_000))
		src.one(pay(u, "p", 100))
	}
	src.postAll()
	for _, u := range users {
		if r := src.one(notifyCmd(JobStatement, u, cy)); r.Code != OK {
			t.Fatalf("statement for %d: %+v", u, r)
		}
	}
	src.one(repay(205, "r", 100))
	for _, u := range []uint64{5, 205} {
		if r := src.one(notifyCmd(JobReminder, u, cy)); r.Code != OK {
			t.Fatalf("reminder for %d: %+v", u, r)
		}
	}
	deliveredAt := t0 + 7000
	src.one(delivered(deliveredAt, NoteRef{User: 5, Job: JobStatement, Cycle: cy}))

	// Shard 5 leaves src at epoch 2: src delivers none of it from now on.
	src.one(Command{Type: CmdSetShards, Shards: []byte{5}, Epoch: 2, Own: false})
	if und, _ := src.f.Undelivered(10); len(und) != 1 || und[0].User != 6 {
		t.Fatalf("the old zone would deliver %+v after the release, want only user 6's statement", und)
	}
	recs, err := src.f.ExportShard(5)
	if err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 2; try++ { // an import retried after an unknown outcome
		if r := dst.one(Command{Type: CmdIngest, Records: recs}); r.Code != OK {
			t.Fatalf("ingest try %d: %+v", try, r)
		}
	}
	for _, drop := range []struct {
		shard byte
		epoch uint64
		want  Code
	}{{6, 2, Invalid}, {5, 1, Invalid}, {5, 2, OK}, {5, 2, OK}} {
		if r := src.one(Command{Type: CmdDropShard, Shards: []byte{drop.shard}, Epoch: drop.epoch}); r.Code != drop.want {
			t.Fatalf("drop of shard %d at epoch %d: %+v, want %v", drop.shard, drop.epoch, r, drop.want)
		}
	}
	dst.one(Command{Type: CmdSetShards, Shards: []byte{5}, Epoch: 3, Own: true})

	// The new zone holds each notification once, as it was.
	want := map[uint64][]string{5: {"statement delivered", "reminder"}, 105: {"statement"}, 205: {"statement"}}
	for u, w := range want {
		list, _ := dst.f.Notifications(u)
		var got []string
		for _, n := range list {
			s := n.Job
			if n.DeliveredAt != "" {
				s += " delivered"
				if n.DeliveredAt != api.FormatTime(deliveredAt) {
					t.Fatalf("user %d's delivery time %s, want the old zone's", u, n.DeliveredAt)
				}
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("user %d's outbox in the new zone: %v, want %v", u, got, w)
		}
	}
	if und, _ := dst.f.Undelivered(10); len(und) != 3 || dst.f.UndeliveredCount() != 3 {
		t.Fatalf("the new zone's undelivered: %+v (count %d), want 3", und, dst.f.UndeliveredCount())
	}
	// A run of the same job and cycle there is a replay.
	for _, u := range []uint64{5, 105, 205} {
		for _, job := range []string{JobStatement, JobReminder} {
			if u == 105 && job == JobReminder {
				continue // never reminded: due now
			}
			if r := dst.one(notifyCmd(job, u, cy)); r.Code != OK || !r.Replay {
				t.Fatalf("%s for user %d in the new zone: %+v, want a replay", job, u, r)
			}
		}
	}
	for u, w := range want {
		if list, _ := dst.f.Notifications(u); len(list) != len(w) {
			t.Fatalf("user %d's outbox after a repeated run: %+v", u, list)
		}
	}
	checkMoney(t, dst.f)

	// The old zone holds nothing of the shard that it could deliver.
	for _, u := range []uint64{5, 105, 205} {
		if list, _ := src.f.Notifications(u); len(list) != 0 {
			t.Fatalf("user %d's outbox left in the old zone: %+v", u, list)
		}
		if r := src.one(notifyCmd(JobStatement, u, cy)); r.Code != WrongZone {
			t.Fatalf("statement for user %d in the old zone: %+v", u, r)
		}
	}
	if und, _ := src.f.Undelivered(10); len(und) != 1 || und[0].User != 6 || src.f.UndeliveredCount() != 1 {
		t.Fatalf("the old zone's undelivered: %+v (count %d), want user 6's statement", und, src.f.UndeliveredCount())
	}
}

// TestMergeCarriesEffectRecords: reconciliation carries the effects a
// failover store recorded without a notification (a reminder of a bill
// paid while failed over): a reminder run of the cycle at home is a replay.
func TestMergeCarriesEffectRecords(t *testing.T) {
	const cy = 202611
	zoneCmds := []Command{putAcc(1, 1000), pay(1, "a", 100),
		{Type: CmdPost, Time: t0 + 1000, Posts: []PostRef{{User: 1, Key: "a"}}},
	}
	zone, store := failoverPair(t, zoneCmds, len(zoneCmds), nil)
	store.one(repay(1, "r", 100))
	if r := store.one(notifyCmd(JobReminder, 1, cy)); r.Code != OK || r.Replay {
		t.Fatalf("store's reminder for user 1: %+v", r)
	}
	mergeAll(t, zone, store, "A-f2")
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()})
	if r := zone.one(notifyCmd(JobReminder, 1, cy)); r.Code != OK || !r.Replay {
		t.Fatalf("reminder for user 1 at home after the merge: %+v, want a replay", r)
	}
}

func TestDropShardRoundTrip(t *testing.T) {
	cmds := []Command{{Type: CmdDropShard, Shards: []byte{42}, Epoch: 9}}
	got, err := Decode(Encode(nil, cmds...))
	if err != nil || !reflect.DeepEqual(got, cmds) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
}
