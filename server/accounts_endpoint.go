package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handlePutAccount(w http.ResponseWriter, r *http.Request) {
	var req api.PutAccountRequest
	user, body, ok := api.ReadRequest(w, r, &req)
	if !ok {
		return
	}
	cmd := fsm.Command{Type: fsm.CmdPutAccount, User: user, CreditLimit: req.CreditLimit}
	n.serveWrite(w, r, body, cmd, func(res fsm.Result) {
		api.WriteJSON(w, http.StatusOK, res.Account)
	})
}

func (n *Node) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	user, aerr := api.PathUser(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) { return f.Account(user) })
}
