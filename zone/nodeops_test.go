package zone

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// lifeHost is a HandoffHost over a real meta state machine; the node
// leads no group.
type lifeHost struct {
	meta  *fsm.Meta
	apply func(fsm.MetaCmd) fsm.MetaResult
}

func (h lifeHost) LedGroups() []LedGroup          { return nil }
func (h lifeHost) MetaState() fsm.MetaState       { return h.meta.State() }
func (h lifeHost) Alive() (map[string]bool, bool) { return nil, false }
func (h lifeHost) Meta() *fsm.Meta                { return h.meta }
func (h lifeHost) MetaApply(_ context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	return h.apply(c), nil
}

// TestNodeRemoveDrainUndrain: the removal, drain and undrain record what
// they do in the meta group and answer what it did; an unknown node is
// not found, and a refusal of the meta group is an invalid argument.
func TestNodeRemoveDrainUndrain(t *testing.T) {
	m, apply := metaOf(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	h := NewHandoff(lifeHost{m, apply}, "b2", log)

	if _, err := h.Remove(ctx, "x9"); codeOf(err) != api.CodeNotFound {
		t.Fatalf("remove x9: %v", err)
	}
	out, err := h.Remove(ctx, "a2")
	if err != nil || out.Node != "a2" || out.Zone != "A" || len(out.Groups) == 0 || out.Index != m.AppliedIndex() {
		t.Fatalf("remove a2: %+v, %v", out, err)
	}
	if !m.State().Removed("a2") {
		t.Fatal("a2 is not removed")
	}
	if out, err := h.Remove(ctx, "a2"); err != nil || out.Node != "a2" || len(out.Groups) != 0 {
		t.Fatalf("a repeated removal: %+v, %v", out, err)
	}
	if _, err := h.Remove(ctx, "a1"); codeOf(err) != api.CodeInvalidArgument {
		t.Fatalf("removal of zone A's last node: %v", err)
	}

	d, err := h.Drain(ctx, time.Second)
	if err != nil || d.Node != "b2" || !d.Drained || len(d.Moved) != 0 || !m.State().Drained("b2") {
		t.Fatalf("drain b2: %+v, %v", d, err)
	}
	if _, err := h.Undrain(ctx, "x9"); codeOf(err) != api.CodeNotFound {
		t.Fatalf("undrain x9: %v", err)
	}
	u, err := h.Undrain(ctx, "b2")
	if err != nil || u.Drained || u.Moved == nil || m.State().Drained("b2") {
		t.Fatalf("undrain b2: %+v, %v", u, err)
	}
}
