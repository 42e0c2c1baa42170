package cluster

import (
	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
)

// HTTPAddrOf returns a node's API address, "" if unknown: from the meta
// group's node list in cluster mode, from the zone's registrations when
// standalone (cached until ForgetAddrs).
func (m *Member) HTTPAddrOf(id string) string {
	if m.cfg.Clustered {
		meta := m.host.MetaFSM()
		if meta == nil {
			return ""
		}
		if nd, ok := meta.State().Node(id); ok {
			return nd.HTTPAddr
		}
		return ""
	}
	m.addrsMu.Lock()
	defer m.addrsMu.Unlock()
	if a, ok := m.addrs[id]; ok {
		return a
	}
	h := m.host.Zones().Own()
	if h == nil {
		return ""
	}
	addrs, err := h.FSM().NodeAddrs()
	if err != nil {
		return ""
	}
	m.addrs = addrs
	return addrs[id]
}

// ForgetAddrs drops the cached registrations of a standalone zone: the
// next HTTPAddrOf reads them again.
func (m *Member) ForgetAddrs() {
	m.addrsMu.Lock()
	m.addrs = map[string]string{}
	m.addrsMu.Unlock()
}

// RegisterLoop (standalone) registers this node's API address whenever
// it becomes leader of its zone and it is not yet recorded, until stop or
// nodeStop closes.
func (m *Member) RegisterLoop(stop, nodeStop <-chan struct{}) {
	h := m.host.Zones().Own()
	for {
		select {
		case <-stop:
			return
		case <-nodeStop:
			return
		case isLeader := <-h.Replica().Raft().LeaderCh():
			if !isLeader {
				continue
			}
			m.log.Info("became leader", "term", h.Replica().Raft().CurrentTerm())
			if addrs, err := h.FSM().NodeAddrs(); err == nil && addrs[m.cfg.NodeID] == m.cfg.HTTPAddr {
				continue
			}
			_, err := m.host.Apply(h, fsm.Command{Type: fsm.CmdRegisterNode, NodeID: m.cfg.NodeID,
				RaftAddr: m.cfg.RaftAddr, HTTPAddr: m.cfg.HTTPAddr})
			if err != nil {
				m.log.Warn("register self", "err", err)
			}
			m.ForgetAddrs()
		}
	}
}

// AddVoter (standalone) adds or re-adds a node as a voter of the zone and
// records its API address. Only the zone's leader may call it.
func (m *Member) AddVoter(id, raftAddr, httpAddr string) error {
	h := m.host.Zones().Own()
	if err := h.Replica().AddServer(id, raft.ServerAddress(raftAddr), true, m.cfg.ApplyTimeout); err != nil {
		return err
	}
	_, err := m.host.Apply(h, fsm.Command{Type: fsm.CmdRegisterNode, NodeID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr})
	m.ForgetAddrs()
	return err
}
