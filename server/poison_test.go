package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
)

// postRaw posts body to addr+path and returns the status and the error
// code of the reply ("" for a success).
func postRaw(t *testing.T, addr, path, body string) (int, api.Code) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s to %s: %v", path, addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
		return resp.StatusCode, eb.Error.Code
	}
	return resp.StatusCode, ""
}

// The two poison requests of issue 10: each answers 400 on every node and
// changes nothing; every node keeps serving, and restarts.
const (
	poisonMeta   = `{"type":99}`
	poisonImport = `[{"bucket":"payments","key":"AAAAAAAAAAdr","value":"eA=="}]` // user 7, key "k", value "x"
)

func TestPoisonRequestsAreRefused(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 1)
	ctx := context.Background()
	cl, err := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(40))
	if err != nil {
		t.Fatal(err)
	}
	users := []uint64{0, 1, 2, 7} // spread over the zones
	for _, u := range users {
		if _, err := cl.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range mc.apis {
		if code, ec := postRaw(t, addr, "/v1/internal/meta", poisonMeta); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
			t.Fatalf("meta {type:99} at %s: %d %s", addr, code, ec)
		}
		for _, shard := range []int{7, 0, 1, 2} { // owned and not owned by the node's zone
			path := fmt.Sprintf("/v1/internal/shards/%d/import", shard)
			if code, ec := postRaw(t, addr, path, poisonImport); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
				t.Fatalf("poison import of shard %d at %s: %d %s", shard, addr, code, ec)
			}
		}
	}
	serving := func(round string) {
		t.Helper()
		for i, u := range users {
			key := fmt.Sprintf("%s-%d", round, i)
			if _, err := cl.Pay(ctx, u, client.PayRequest{Key: key, Amount: 10, Merchant: "m"}); err != nil {
				t.Fatalf("%s: pay of user %d: %v", round, u, err)
			}
		}
		for _, addr := range mc.apis {
			var cfg api.ConfigItem
			if code, _ := postRawPut(t, addr, "/v1/config/poison/"+round, `{"value":"ok"}`, &cfg); code != http.StatusOK {
				t.Fatalf("%s: config set through %s: %d", round, addr, code)
			}
		}
		for _, u := range users {
			assertMoney(t, cl, u)
		}
	}
	serving("after")
	for _, nd := range mc.nodes {
		nd.Shutdown(ctx)
	}
	for i := range mc.cfgs {
		nd, err := Start(mc.cfgs[i])
		if err != nil {
			t.Fatalf("restart %s: %v", mc.cfgs[i].NodeID, err)
		}
		mc.nodes[i] = nd
	}
	waitFor(t, 30*time.Second, "every zone leads again with a lease", func() bool {
		for _, nd := range mc.nodes {
			if h := nd.zones.Own(); h == nil || !h.Replica().IsLeader() || !nd.zones.LeaseValid(h) || !h.Ready() {
				return false
			}
		}
		return true
	})
	serving("restarted")
}

func TestPoisonImportRefusedStandalone(t *testing.T) {
	tc := setup(t, 1)
	if _, err := tc.client.PutAccount(context.Background(), 7, 10_000); err != nil {
		t.Fatal(err)
	}
	addr := tc.nodes[0].HTTPAddr()
	if code, ec := postRaw(t, addr, "/v1/internal/shards/7/import", poisonImport); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
		t.Fatalf("poison import: %d %s", code, ec)
	}
	// Well-formed imports and merges need the meta group a standalone node
	// lacks: refused, the node stays up.
	goodImport := `[{"bucket":"accounts","key":"AAAAAAAAAAc=","value":"eyJsaW1pdCI6MTAwfQ=="}]`
	if code, ec := postRaw(t, addr, "/v1/internal/shards/7/import", goodImport); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
		t.Fatalf("import on a standalone node: %d %s", code, ec)
	}
	if code, ec := postRaw(t, addr, "/v1/internal/shards/3/merge?group=X", `[]`); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
		t.Fatalf("merge on a standalone node: %d %s", code, ec)
	}
	tc.nodes[0].Shutdown(context.Background())
	tc.start(0)
	waitFor(t, 10*time.Second, "leader again", func() bool { return tc.nodes[0].IsLeader() })
	if a, err := tc.client.GetAccount(context.Background(), 7); err != nil || a.CreditLimit != 10_000 {
		t.Fatalf("account after restart: %+v %v", a, err)
	}
}

// postRawPut is postRaw with PUT, decoding a success into out.
func postRawPut(t *testing.T, addr, path, body string, out any) (int, api.Code) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s to %s: %v", path, addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(data, out)
		return resp.StatusCode, ""
	}
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
		return resp.StatusCode, eb.Error.Code
	}
	return resp.StatusCode, ""
}

// TestInternalMarksAndEffectsTakeOnlyWhatANodeSends: without
// authentication, /v1/internal/marks and /v1/internal/sched/effects refuse
// what the marked zone's leader or a scheduler worker would not send.
func TestInternalMarksAndEffectsTakeOnlyWhatANodeSends(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 1) // B backs up A
	ctx := context.Background()
	a, b := mc.nodes[0], mc.nodes[1]
	term := a.zones.Own().Replica().Raft().CurrentTerm()
	marks := func(body string) (int, api.Code) {
		t.Helper()
		return postRaw(t, b.HTTPAddr(), "/v1/internal/marks", body)
	}
	hasMark := func(u uint64) bool { return slices.Contains(mc.marksIn("B", "A"), u) }

	if code, ec := marks(fmt.Sprintf(`{"zone":"A","marks":[{"User":42,"Term":%d,"Seq":1}]}`, term)); code != http.StatusOK {
		t.Fatalf("a mark as A's leader sends it: %d %s", code, ec)
	}
	refused := []struct{ name, body string }{
		{"clear resting on an index the replica has not applied", fmt.Sprintf(`{"zone":"A","clear":true,"watermark":%d,"marks":[{"User":42,"Term":%d,"Seq":1}]}`, uint64(1)<<40, term)},
		{"clear naming a term A has not reached", fmt.Sprintf(`{"zone":"A","clear":true,"watermark":1,"marks":[{"User":42,"Term":%d,"Seq":1}]}`, term+1000)},
		{"sweep of a term A has not reached", fmt.Sprintf(`{"zone":"A","clear":true,"watermark":1,"sweep":%d}`, term+1000)},
		{"clear of a zone B does not back up", `{"zone":"C","clear":true,"watermark":1,"marks":[{"User":42,"Term":1,"Seq":1}]}`},
		{"mark naming a term A has not reached", fmt.Sprintf(`{"zone":"A","marks":[{"User":43,"Term":%d,"Seq":1}]}`, term+1000)},
		{"mark for a zone with a 0 byte", `{"zone":"A\u0000","marks":[{"User":44,"Term":1,"Seq":1}]}`},
	}
	for _, tc := range refused {
		if code, ec := marks(tc.body); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
			t.Errorf("%s: %d %s, want 400 invalid_argument", tc.name, code, ec)
		}
	}
	if !hasMark(42) || hasMark(43) {
		t.Fatalf("marks of A in B after the refused requests: %v", mc.marksIn("B", "A"))
	}
	// A clear as A's leader sends it still clears.
	if code, ec := marks(fmt.Sprintf(`{"zone":"A","clear":true,"watermark":1,"marks":[{"User":42,"Term":%d,"Seq":1}]}`, term)); code != http.StatusOK {
		t.Fatalf("a clear as A's leader sends it: %d %s", code, ec)
	}
	if hasMark(42) {
		t.Fatal("the clear left the mark")
	}

	// Effects: a user with a bill, and no run going on.
	cl, err := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(40))
	if err != nil {
		t.Fatal(err)
	}
	var u uint64
	for st := a.metaFSM.State(); ; u++ {
		if z, _ := st.Route(u); z == "A" {
			break
		}
	}
	if _, err := cl.PutAccount(ctx, u, 10_000); err != nil {
		t.Fatal(err)
	}
	p, err := cl.Pay(ctx, u, client.PayRequest{Key: "k", Amount: 100, Merchant: "m"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the payment posted", func() bool {
		bills, err := cl.ListBills(ctx, u)
		return err == nil && len(bills) == 1
	})
	body := fmt.Sprintf(`{"job":"statement","cycle":%s,"users":[%d]}`, strings.TrimLeft(p.Cycle, "0"), u)
	if code, ec := postRaw(t, a.HTTPAddr(), "/v1/internal/sched/effects", body); code != http.StatusBadRequest || ec != api.CodeInvalidArgument {
		t.Fatalf("effects without a run: %d %s", code, ec)
	}
	if notes, err := a.zones.Own().FSM().Notifications(u); err != nil || len(notes) != 0 {
		t.Fatalf("notifications after a refused effects request: %+v %v", notes, err)
	}
}
