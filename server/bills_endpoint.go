package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"

	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handleListBills(w http.ResponseWriter, r *http.Request) {
	user, aerr := api.PathUser(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) {
		bills, err := f.Bills(user)
		if err != nil {
			return nil, err
		}
		return api.BillList{Bills: bills}, nil
	})
}

func (n *Node) handleGetBill(w http.ResponseWriter, r *http.Request) {
	user, aerr := api.PathUser(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	cycle, err := api.ParseCycle(r.PathValue("cycle"))
	if err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) { return f.Bill(user, cycle) })
}

func (n *Node) handleNotifications(w http.ResponseWriter, r *http.Request) {
	user, aerr := api.PathUser(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) {
		list, err := f.Notifications(user)
		if err != nil {
			return nil, err
		}
		return api.NotificationList{Notifications: list}, nil
	})
}
