package nemesis

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// cfake is a fake cluster that can restart a node with injected faults;
// n3 leads the meta group (n2 leads a zone).
type cfake struct{ fake }

func (f *cfake) MetaLeaderID(context.Context) (string, error) { return "n3", nil }
func (f *cfake) RestartInjected(_ context.Context, id, fault string) error {
	f.log("kill " + id)
	f.log("restart " + id + " --inject " + fault)
	return nil
}

func TestNemesisClockSkew(t *testing.T) {
	steps := []Step{{At: 0, Duration: 10 * time.Millisecond, Fault: ClockSkew, Target: TargetLeader}}
	f := &cfake{}
	rec := history.NewRecorder(nil)
	counts := (&Nemesis{C: f, Rec: rec}).Run(context.Background(), steps)
	want := []string{"kill n3", "restart n3 --inject clock-skew=+5s", "kill n3", "restart n3", "heal-all"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if counts.Summary() != "clock-skew=1" {
		t.Errorf("summary %q", counts.Summary())
	}
	ws := history.Windows(rec.Ops())
	if len(ws) != 1 || ws[0].Fault != ClockSkew || ws[0].Error != "" {
		t.Fatalf("windows %+v", ws)
	}
	// A cluster that cannot restart a node with faults fails the fault.
	counts = (&Nemesis{C: &fake{}, Rec: history.NewRecorder(nil)}).Run(context.Background(), steps)
	if counts.Summary() != "clock-skew=0(+1 failed)" {
		t.Errorf("summary without injection %q", counts.Summary())
	}
}
