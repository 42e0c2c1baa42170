package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

// MaxHops bounds forwarding: client → any node → the zone's leader, plus
// one hop for a leader that changed on the way.
const MaxHops = 2

// ZoneLeaderNow is the API address of zone z's leader as this node knows
// it now ("" when it is this node): from the node's replica of the zone if
// it has one, else, in cluster mode, from the zone's lease holder, else any
// node of the zone (which forwards once more). ok is false when it knows
// none.
func (m *Member) ZoneLeaderNow(z string) (addr string, ok bool) {
	if rep := m.host.ZoneReplica(z); rep != nil {
		if _, id := rep.Raft().LeaderWithID(); id != "" {
			if string(id) == m.cfg.NodeID {
				return "", true
			}
			if addr := m.HTTPAddrOf(string(id)); addr != "" {
				return addr, true
			}
		}
		if !m.cfg.Clustered {
			return "", false
		}
	}
	if !m.cfg.Clustered {
		return "", false
	}
	st := m.host.MetaFSM().State()
	if l, ok := st.Lease(z); ok && l.Holder != "" && l.Holder != m.cfg.NodeID {
		if nd, ok := st.Node(l.Holder); ok {
			return nd.HTTPAddr, true
		}
	}
	host := st.HostZone(z)
	for _, nd := range st.Nodes {
		if nd.Zone == host && nd.ID != m.cfg.NodeID {
			return nd.HTTPAddr, true
		}
	}
	return "", false
}

// ZoneLeader is ZoneLeaderNow waiting up to Config.LeaderWait for an
// answer; the error wraps zone.ErrNoLeader, or is zone.ErrShutdown once
// the node stops.
func (m *Member) ZoneLeader(ctx context.Context, z string) (string, error) {
	deadline := time.Now().Add(m.cfg.LeaderWait)
	for {
		if addr, ok := m.ZoneLeaderNow(z); ok {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", errors.Join(zone.ErrNoLeader, errors.New("zone "+z+" has no known leader"))
		}
		select {
		case <-ctx.Done():
			return "", errors.Join(zone.ErrNoLeader, ctx.Err())
		case <-m.cfg.Stop:
			return "", zone.ErrShutdown
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Relay passes a request on to addr with the hop count hops and copies
// the reply back (peer.Client.Relay). It returns false, having written
// nothing, when moved closes before a reply arrives. inDoubt says that an
// earlier relay of the request was abandoned so (peer.Relay.InDoubt).
type Relay func(addr string, hops int, moved <-chan struct{}, inDoubt bool) bool

// Forward sends r, which this node cannot serve, to zone z's leader
// through relay and copies its reply back. If the zone's leader changes
// while the request waits on the old one (paused, cut off), it sends it
// again to the new leader: every write carries an idempotency key or is
// idempotent, so a second delivery returns the first one's result. The
// abandoned delivery may have been applied, so a later one is relayed in
// doubt (an answer that does not settle the key becomes unknown_outcome),
// and a third change of leader is answered unknown_outcome. A request
// already forwarded MaxHops times is answered unavailable.
func (m *Member) Forward(w http.ResponseWriter, r *http.Request, z string, relay Relay) {
	hops, _ := strconv.Atoi(r.Header.Get(peer.HeaderHops))
	if hops >= MaxHops {
		api.WriteError(w, api.Errorf(api.CodeUnavailable, "node %s cannot serve zone %s and the request was forwarded %d times; retry", m.cfg.NodeID, z, hops))
		return
	}
	addr, err := m.ZoneLeader(r.Context(), z)
	if err != nil {
		m.cfg.Count("no_leader")
		api.WriteError(w, m.cfg.APIError(err))
		return
	}
	if addr == "" { // this node became the leader meanwhile
		api.WriteError(w, api.Errorf(api.CodeUnavailable, "leadership of zone %s changed; retry", z))
		return
	}
	for try := 0; ; try++ {
		moved, done := m.watchLeader(r.Context(), z, addr)
		ok := relay(addr, hops+1, moved.Done(), try > 0)
		done()
		if ok {
			return
		}
		if try == 2 {
			api.WriteError(w, api.Errorf(api.CodeUnknownOutcome, "leader of zone %s changed three times while the request waited; retry with the same key", z))
			return
		}
		next, found := m.ZoneLeaderNow(z)
		if !found || next == "" || next == addr {
			api.WriteError(w, api.Errorf(api.CodeUnknownOutcome, "leader of zone %s changed while the request waited; retry with the same key", z))
			return
		}
		m.cfg.Count("redirected")
		addr = next
	}
}

// watchLeader returns a context that is cancelled when zone's known leader
// stops being addr, and a func to stop watching.
func (m *Member) watchLeader(parent context.Context, z, addr string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if cur, ok := m.ZoneLeaderNow(z); ok && cur != addr {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

// RetryZone calls fn with the zone leader's address until it succeeds with
// anything but a retryable error, or ctx ends. When the leader it knows of
// keeps failing (a lease holder that no longer leads, say), it tries the
// nodes hosting the group in turn: their replies say whether they lead.
func (m *Member) RetryZone(ctx context.Context, z string, fn func(addr string) error) error {
	for try := 0; ; try++ {
		addr, err := m.ZoneLeader(ctx, z)
		if err == nil {
			if addr == "" {
				addr = m.cfg.HTTPAddr
			}
			if try > 0 && try%2 == 1 {
				if hosts := m.groupHosts(z); len(hosts) > 0 {
					addr = hosts[(try/2)%len(hosts)]
				}
			}
			err = fn(addr)
			var ae *api.Error
			if err == nil || (errors.As(err, &ae) && !ae.Code.Retryable()) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// groupHosts lists the API addresses of the nodes that host group z.
func (m *Member) groupHosts(z string) []string {
	if !m.cfg.Clustered {
		return nil
	}
	st := m.host.MetaFSM().State()
	host := st.HostZone(z)
	var out []string
	for _, nd := range st.Nodes {
		if nd.Zone == host {
			out = append(out, nd.HTTPAddr)
		}
	}
	return out
}
