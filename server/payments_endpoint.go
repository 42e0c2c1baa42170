package server

import (
	"net/http"
	"strconv"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

func (n *Node) handlePay(w http.ResponseWriter, r *http.Request) {
	var req api.PayRequest
	user, body, ok := readRequest(w, r, &req)
	if !ok {
		return
	}
	cmd := fsm.Command{Type: fsm.CmdPay, User: user, Key: req.Key, Amount: req.Amount, Merchant: req.Merchant}
	n.serveWrite(w, r, body, cmd, func(res fsm.Result) {
		writeJSON(w, createdStatus(res.Replay), res.Payment)
	})
}

func (n *Node) handleGetPayment(w http.ResponseWriter, r *http.Request) {
	user, key, ok := pathUserKey(w, r)
	if !ok {
		return
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) { return f.Payment(user, key) })
}

func (n *Node) handleListPayments(w http.ResponseWriter, r *http.Request) {
	user, aerr := pathUser(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	q := r.URL.Query()
	after := q.Get("after")
	if after != "" {
		if err := api.ValidateKey(after); err != nil {
			writeError(w, err.(*api.Error))
			return
		}
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > api.MaxPageSize {
			writeError(w, api.Errorf(api.CodeInvalidArgument, "limit must be 1 to %d, got %q", api.MaxPageSize, s))
			return
		}
		limit = v
	}
	n.serveRead(w, r, user, func(f *fsm.FSM) (any, error) {
		list, next, err := f.Payments(user, after, limit)
		if err != nil {
			return nil, err
		}
		return api.PaymentList{Payments: list, Next: next}, nil
	})
}
