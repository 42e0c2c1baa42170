package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handleRepay(w http.ResponseWriter, r *http.Request) {
	var req api.RepayRequest
	user, body, ok := api.ReadRequest(w, r, &req)
	if !ok {
		return
	}
	var cycle uint32
	if req.Cycle != "" {
		cycle, _ = api.ParseCycle(req.Cycle)
	}
	cmd := fsm.Command{Type: fsm.CmdRepay, User: user, Key: req.Key, Amount: req.Amount, Cycle: cycle}
	n.serveWrite(w, r, body, cmd, func(res fsm.Result) {
		api.WriteJSON(w, api.CreatedStatus(res.Replay), res.Repayment)
	})
}

func (n *Node) handleGetRepayment(w http.ResponseWriter, r *http.Request) {
	user, key, ok := api.PathUserKey(w, r)
	if !ok {
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) { return f.Repayment(user, key) })
}
