package zone

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// moveHost is a ShardMoveHost over a real meta state machine; the zones'
// leaders are fakes that record what the driver asks of them.
type moveHost struct {
	mu     sync.Mutex
	meta   *fsm.Meta
	idx    uint64
	leader bool
	recs   []fsm.Record // what the source exports
	calls  []string     // "zone path", in order
	notes  []string     // phases noted
	wg     sync.WaitGroup
	stop   chan struct{}
}

func (h *moveHost) apply(c fsm.MetaCmd) fsm.MetaResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.idx++
	return h.meta.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: fsm.EncodeMeta(c)}).(fsm.MetaResult)
}

func (h *moveHost) Clustered() bool  { return true }
func (h *moveHost) Meta() *fsm.Meta  { return h.meta }
func (h *moveHost) OwnZone() Group   { return nil }
func (h *moveHost) Groups() []Group  { return nil }
func (h *moveHost) MetaLeader() bool { return h.leader }
func (h *moveHost) MetaApply(_ context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	return h.apply(c), nil
}
func (h *moveHost) MetaApplyIdempotent(_ context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	return h.apply(c), nil
}
func (h *moveHost) RetryZone(_ context.Context, z string, fn func(addr string) error) error {
	return fn(z)
}
func (h *moveHost) PostJSON(_ context.Context, addr, path string, in, _ any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, addr+" "+path)
	return nil
}
func (h *moveHost) GetJSON(_ context.Context, addr, path string, out any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, addr+" "+path)
	*out.(*[]fsm.Record) = append([]fsm.Record(nil), h.recs...)
	return nil
}
func (h *moveHost) AskReplicas(context.Context, []fsm.NodeInfo) map[string][]api.ReplicaState {
	return nil
}
func (h *moveHost) NoteOp(_ context.Context, id, phase string, progress int, detail string, err error) {
	h.mu.Lock()
	h.notes = append(h.notes, phase)
	h.mu.Unlock()
	h.apply(fsm.MetaCmd{Type: fsm.MetaOpUpdate, OpUpdate: &fsm.OpUpdate{ID: id, Phase: phase, Progress: progress, Detail: detail}})
}
func (h *moveHost) Go(fn func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn()
	}()
}
func (h *moveHost) Stopping() <-chan struct{} { return h.stop }

// TestShardMoveDriverPhases: on the meta leader, Tick drives a shard move
// through its phases (export from the source, import into the target,
// drop from the source, route), and the record ends done with the shard
// in the target; on another node it drives nothing.
func TestShardMoveDriverPhases(t *testing.T) {
	h := &moveHost{meta: fsm.NewMeta(nil), stop: make(chan struct{})}
	h.apply(fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	const shard = 3
	from := h.meta.State().Shards[shard].Zone
	to := map[string]string{"A": "B", "B": "A"}[from]
	mv := h.apply(fsm.MetaCmd{Type: fsm.MetaMoveShard, Shard: shard, Target: to, OpID: "0e1"})
	if mv.Err != "" || mv.Op == nil {
		t.Fatalf("move: %+v", mv)
	}
	for u := uint64(shard); u < 5*fsm.NumShards; u += fsm.NumShards {
		h.recs = append(h.recs, fsm.Record{Bucket: "accounts", Key: binary.BigEndian.AppendUint64(nil, u), Value: []byte("x")})
	}
	var held []string
	d := NewShardMoveDriver(h, DriverConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, func(_ context.Context, phase string) error {
		held = append(held, phase)
		return nil
	})

	d.Tick() // not the meta leader
	h.wg.Wait()
	if len(h.calls) != 0 {
		t.Fatalf("a node that does not lead the meta group drove the move: %v", h.calls)
	}

	h.leader = true
	d.Tick()
	h.wg.Wait()
	st := h.meta.State()
	o, _ := st.Op("0e1")
	if !o.Done() || st.Shards[shard].Zone != to || st.Shards[shard].Target != "" {
		t.Fatalf("after the drive: op %+v, route %+v", o, st.Shards[shard])
	}
	epoch := mv.Epoch
	want := []string{
		fmt.Sprintf("%s /v1/internal/shards/%d/export?epoch=%d", from, shard, epoch),
		fmt.Sprintf("%s /v1/internal/shards/%d/import", to, shard),
		fmt.Sprintf("%s /v1/internal/shards/%d/drop?group=%s&epoch=%d", from, shard, from, epoch),
	}
	if strings.Join(h.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(h.calls, "\n"), strings.Join(want, "\n"))
	}
	if got := strings.Join(held, ","); got != "releasing,importing,dropping,routing" {
		t.Fatalf("phases held: %s", got)
	}
	if got := strings.Join(h.notes, ","); got != "importing,dropping,routing" {
		t.Fatalf("phases noted: %s", got)
	}
}
