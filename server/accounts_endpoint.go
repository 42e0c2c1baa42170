package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handlePutAccount(w http.ResponseWriter, r *http.Request) {
	var req api.PutAccountRequest
	user, body, ok := readRequest(w, r, &req)
	if !ok {
		return
	}
	cmd := fsm.Command{Type: fsm.CmdPutAccount, User: user, CreditLimit: req.CreditLimit}
	n.serveWrite(w, r, body, cmd, func(res fsm.Result) {
		writeJSON(w, http.StatusOK, res.Account)
	})
}

func (n *Node) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	user, aerr := pathUser(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) { return f.Account(user) })
}
