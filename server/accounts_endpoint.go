package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handlePutAccount(w http.ResponseWriter, r *http.Request) {
	user, aerr := pathUser(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	body, aerr := readBody(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req api.PutAccountRequest
	if err := api.DecodeBytes(body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, err.(*api.Error))
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
