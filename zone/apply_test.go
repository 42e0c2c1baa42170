package zone

import (
	"errors"
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
)

// standaloneHost is a node without a cluster: its writes need no guard
// marks.
type standaloneHost struct{ Host }

func (standaloneHost) Clustered() bool { return false }

// TestGuardKeeperApply: Apply stamps the time, refuses a malformed command
// before proposing anything (unobserved), and observes a proposal with
// its outcome.
func TestGuardKeeperApply(t *testing.T) {
	r := bootstrapOne(t)
	h := NewHosted("p", r.rep, r.f, true, false)
	k := NewGuardKeeper(standaloneHost{}, DriverConfig{}, GuardMetrics{})
	var observed []error
	observe := func(err error, d time.Duration) { observed = append(observed, err) }

	last := r.rep.Raft().LastIndex()
	if _, err := k.Apply(h, time.Second, observe, fsm.Command{Type: fsm.CmdPutAccount, User: 1, CreditLimit: -1}); !errors.Is(err, fsm.ErrInvalidCommand) {
		t.Fatalf("a malformed command: %v, want ErrInvalidCommand", err)
	}
	if len(observed) != 0 || r.rep.Raft().LastIndex() != last {
		t.Fatalf("a malformed command was proposed (observed %v)", observed)
	}
	cmds := []fsm.Command{{Type: fsm.CmdPutAccount, User: 1, CreditLimit: 1_000}}
	before := time.Now().UnixMilli()
	res, err := k.Apply(h, time.Second, observe, cmds...)
	if err != nil || len(res) != 1 || res[0].Code != fsm.OK {
		t.Fatalf("put account: %+v %v", res, err)
	}
	if cmds[0].Time < before {
		t.Errorf("command time %d, want stamped at or after %d", cmds[0].Time, before)
	}
	if len(observed) != 1 || observed[0] != nil {
		t.Errorf("observed %v, want one ok proposal", observed)
	}
}
