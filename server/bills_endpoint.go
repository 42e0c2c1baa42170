package server

import (
	"net/http"

	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handleListBills(w http.ResponseWriter, r *http.Request) {
	user, aerr := pathUser(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	n.serveRead(w, r, func() (any, error) {
		bills, err := n.fsm.Bills(user)
		if err != nil {
			return nil, err
		}
		return api.BillList{Bills: bills}, nil
	})
}

func (n *Node) handleGetBill(w http.ResponseWriter, r *http.Request) {
	user, aerr := pathUser(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	cycle, err := api.ParseCycle(r.PathValue("cycle"))
	if err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	n.serveRead(w, r, func() (any, error) { return n.fsm.Bill(user, cycle) })
}
