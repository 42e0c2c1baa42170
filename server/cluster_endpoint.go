package server

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/api"
)

// handleJoin adds the calling node as a voter. A follower forwards it.
func (n *Node) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, aerr := readBody(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req api.JoinRequest
	if err := api.DecodeBytes(body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if req.NodeID == "" || req.RaftAddr == "" || req.HTTPAddr == "" {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "node_id, raft_addr and http_addr are required"))
		return
	}
	if n.forwardIfFollower(w, r, body, true) {
		return
	}
	if err := n.addVoter(req.NodeID, req.RaftAddr, req.HTTPAddr); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"joined": req.NodeID})
}

// Status is this node's view of its group.
func (n *Node) Status() api.Status {
	addr, id := n.rep.Raft().LeaderWithID()
	st := api.Status{
		NodeID:       n.cfg.NodeID,
		Zone:         n.cfg.Zone,
		State:        n.rep.Raft().State().String(),
		Leader:       string(id),
		Term:         n.rep.Raft().CurrentTerm(),
		CommitIndex:  n.rep.Raft().CommitIndex(),
		AppliedIndex: n.fsm.AppliedIndex(),
	}
	if id != "" {
		st.LeaderHTTP = n.httpAddrOf(string(id))
	}
	if lc := n.rep.Raft().LastContact(); !lc.IsZero() {
		st.LastContact = lc.UTC().Format(time.RFC3339Nano)
	}
	if cf := n.rep.Raft().GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			st.Voters = append(st.Voters, api.Member{
				ID: string(s.ID), RaftAddr: string(s.Address), HTTPAddr: n.httpAddrOf(string(s.ID)),
				Suffrage: s.Suffrage.String(), Leader: s.Address == addr && addr != "",
			})
		}
	}
	return st
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 when this node can serve a linearizable request
// now: as leader, the read protocol passes; as follower, a leader is known
// and was heard from recently.
func (n *Node) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	var err error
	if n.rep.Raft().State() == raft.Leader {
		err = n.linearizable(ctx)
	} else if _, id := n.rep.Raft().LeaderWithID(); id == "" || n.httpAddrOf(string(id)) == "" {
		err = ErrNoLeader
	} else if time.Since(n.rep.Raft().LastContact()) > 2*n.cfg.HeartbeatTimeout {
		err = ErrNoLeader
	}
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "state": n.rep.Raft().State().String()})
}
