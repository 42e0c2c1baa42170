package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handlePay(w http.ResponseWriter, r *http.Request) {
	var req api.PayRequest
	user, body, ok := api.ReadRequest(w, r, &req)
	if !ok {
		return
	}
	cmd := fsm.Command{Type: fsm.CmdPay, User: user, Key: req.Key, Amount: req.Amount, Merchant: req.Merchant}
	n.serveWrite(w, r, body, cmd, func(res fsm.Result) {
		api.WriteJSON(w, api.CreatedStatus(res.Replay), res.Payment)
	})
}

func (n *Node) handleGetPayment(w http.ResponseWriter, r *http.Request) {
	user, key, ok := api.PathUserKey(w, r)
	if !ok {
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) { return f.Payment(user, key) })
}

func (n *Node) handleListPayments(w http.ResponseWriter, r *http.Request) {
	user, aerr := api.PathUser(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	q := r.URL.Query()
	after, limit, err := api.ParsePage(q.Get("after"), q.Get("limit"))
	if err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) {
		list, next, err := f.Payments(user, after, limit)
		if err != nil {
			return nil, err
		}
		return api.PaymentList{Payments: list, Next: next}, nil
	})
}
