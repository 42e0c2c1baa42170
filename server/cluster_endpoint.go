package server

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/api"
)

// handleJoin (standalone) adds the calling node as a voter of this zone. A
// follower forwards it to the leader.
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
	if n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "this node is part of a multi-zone cluster: nodes join by gossip and `rzone cluster init`"))
		return
	}
	if !n.IsLeader() {
		n.forwardToZone(w, r, body, n.cfg.Zone, true)
		return
	}
	if err := n.addVoter(req.NodeID, req.RaftAddr, req.HTTPAddr); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"joined": req.NodeID})
}

// Status is this node's view of its own zone's group.
func (n *Node) Status() api.Status {
	st := api.Status{NodeID: n.cfg.NodeID, Zone: n.cfg.Zone, State: "none"}
	h := n.ownZone()
	if h == nil {
		return st
	}
	rf := h.rep.Raft()
	addr, id := rf.LeaderWithID()
	st.State = rf.State().String()
	st.Leader = string(id)
	st.Term = rf.CurrentTerm()
	st.CommitIndex = rf.CommitIndex()
	st.AppliedIndex = h.fsm.AppliedIndex()
	if id != "" {
		st.LeaderHTTP = n.httpAddrOf(string(id))
	}
	if lc := rf.LastContact(); !lc.IsZero() {
		st.LastContact = lc.UTC().Format(time.RFC3339Nano)
	}
	if servers, err := h.rep.Members(); err == nil {
		for _, s := range servers {
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
// of its own zone now: as leader, the read protocol passes (and, in a
// cluster, the zone holds its lease); as follower, a leader is known and was
// heard from recently.
func (n *Node) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	h := n.ownZone()
	var err error
	switch {
	case h == nil:
		err = errNotInitialized
	case h.rep.IsLeader():
		if err = h.rep.Linearizable(ctx, time.Second); err == nil && !n.leaseValid(h) {
			err = api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease", n.cfg.Zone)
		}
	default:
		rf := h.rep.Raft()
		if _, id := rf.LeaderWithID(); id == "" || n.httpAddrOf(string(id)) == "" {
			err = ErrNoLeader
		} else if time.Since(rf.LastContact()) > 2*n.cfg.HeartbeatTimeout {
			err = ErrNoLeader
		}
	}
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "state": h.rep.Raft().State().String()})
}

// raftState is the own zone replica's state, for metrics.
func (n *Node) raftState() (state raft.RaftState, term, commit, last uint64, contact time.Time, ok bool) {
	h := n.ownZone()
	if h == nil {
		return raft.Shutdown, 0, 0, 0, time.Time{}, false
	}
	rf := h.rep.Raft()
	return rf.State(), rf.CurrentTerm(), rf.CommitIndex(), rf.LastIndex(), rf.LastContact(), true
}
