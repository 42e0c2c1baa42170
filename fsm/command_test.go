package fsm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	cmds := []Command{
		putAcc(1, 500000),
		pay(1<<63, "key-1", 1999),
		{Type: CmdPost, Time: -5, Posts: []PostRef{{User: 1, Key: "a"}, {User: 2, Key: ""}}},
		{Type: CmdRepay, User: 3, Time: t0, Key: "r", Amount: 7, Cycle: 202611},
		{Type: CmdRegisterNode, NodeID: "n1", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2"},
		{Type: CmdFailover, NodeID: "A", Epoch: 9, Amount: 20, Marks: []Mark{{User: 4}, {User: 5}}},
		{Type: CmdMerge, NodeID: "A-f9", Shards: []byte{3}, Records: []Record{{Bucket: "accounts", Key: []byte("12345678"), Value: []byte("{}")}}},
		{Type: CmdGuardClear, NodeID: "A", Epoch: 77, Term: 3, Marks: []Mark{{User: 1, Term: 3, Seq: 4}}},
		{Type: CmdNotify, User: 6, Time: t0, Key: JobReminder, Cycle: 202611},
		{Type: CmdNotifyDelivered, Time: t0, Notes: []NoteRef{{User: 6, Job: JobReminder, Cycle: 202611}, {User: 1 << 40, Job: JobStatement, Cycle: 202612}}},
	}
	got, err := Decode(Encode(nil, cmds...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cmds) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, cmds)
	}
}

func TestDecodeErrors(t *testing.T) {
	ignorable := []byte{EntryVersion, 2, byte(IgnorableFlag | 0x10), 3, 'a', 'b', 'c'}
	ignorable = append(ignorable, Encode(nil, pay(1, "k", 1))[2:]...)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"newer version", []byte{EntryVersion + 1, 0}, ErrUnknownVersion},
		{"unknown command", []byte{EntryVersion, 1, 0x33}, ErrUnknownCommand},
		{"truncated", Encode(nil, pay(1, "key", 5))[:6], ErrMalformed},
		{"trailing bytes", append(Encode(nil, pay(1, "key", 5)), 0), ErrMalformed},
		{"huge count", []byte{EntryVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrMalformed},
		{"huge string", []byte{EntryVersion, 1, byte(CmdPay), 1, 2, 0xff, 0xff, 0xff, 0x0f}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("ignorable unknown command is skipped", func(t *testing.T) {
		got, err := Decode(ignorable)
		if err != nil || len(got) != 1 || got[0].Type != CmdPay {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

// FuzzDecode checks that no input panics the decoder, that whatever it
// accepts encodes back to the same bytes (no two encodings of one entry),
// and that applying it never panics: on a zone holding accounts, payments,
// bills and a shard it does not own, in a transaction rolled back after
// each input so that every input starts from the same state.
func FuzzDecode(f *testing.F) {
	src := shardOwner(f)
	valid, err := src.f.ExportShard(7)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []Command{putAcc(1, 5), pay(2, "k", 3), repay(3, "r", 4),
		{Type: CmdPost, Posts: []PostRef{{User: 1, Key: "k"}}}, {Type: CmdRegisterNode, NodeID: "n"},
		{Type: CmdNotifyDelivered, Time: 1, Notes: []NoteRef{{User: 2, Job: JobStatement, Cycle: 202611}}},
		{Type: CmdIngest, Records: valid},
		{Type: CmdIngest, Records: []Record{{Bucket: "payments", Key: userKey(7, "k"), Value: []byte("x")}}},
		{Type: CmdMerge, NodeID: "A-f2", Shards: []byte{7}, Records: valid}} {
		f.Add(Encode(nil, c))
	}
	zone := setup(f)
	zone.one(Command{Type: CmdSetShards, Epoch: 1, Own: true, Shards: allShards()})
	for _, c := range []Command{putAcc(1, 10_000), pay(1, "k", 3), putAcc(8, 500), pay(8, "a", 100), pay(8, "b", 1<<20)} {
		zone.one(c)
	}
	zone.postAll()
	zone.one(repay(1, "r", 1))
	zone.one(pay(1, "k2", 4))
	zone.one(Command{Type: CmdSetShards, Epoch: 2, Own: false, Shards: []byte{7}})
	zone.one(Command{Type: CmdMark, NodeID: "B", Marks: []Mark{{User: 1, Term: 1, Seq: 1}}})
	// More seeds live in testdata/fuzz/FuzzDecode.
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := Decode(data)
		if err != nil {
			return
		}
		zone.applyRolledBack(data)
		// Whatever decodes must encode to an entry that decodes the same.
		again, err := Decode(Encode(nil, cmds...))
		if err != nil {
			t.Fatalf("re-decode of %x: %v", data, err)
		}
		if len(again) != len(cmds) || (len(cmds) > 0 && !reflect.DeepEqual(again, cmds)) {
			t.Fatalf("decode/encode not stable for %x", data)
		}
	})
}

// errRollback ends a test transaction without committing it.
var errRollback = errors.New("rolled back")

// applyRolledBack applies data as the next entry inside a transaction it
// then rolls back: the state stays as it was.
func (h *harness) applyRolledBack(data []byte) []Result {
	var out []Result
	err := h.f.db.Update(func(tx *bolt.Tx) error {
		out = h.f.applyEntry(tx, &raft.Log{Index: h.index + 1, Term: 1, Type: raft.LogCommand, Data: data})
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		h.t.Fatal(err)
	}
	return out
}
