package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate is what memberlist calls back into. memberlist calls the event
// methods one at a time and the others from any of its goroutines, some
// while it holds its node lock: none of them may call memberlist.
type delegate struct{ g *Gossip }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
	_ memberlist.PingDelegate  = delegate{}
	_ memberlist.AliveDelegate = delegate{}
)

// NodeMeta returns this node's encoded Meta. UpdateMeta keeps it within
// limit; memberlist panics on more.
func (d delegate) NodeMeta(limit int) []byte {
	b := d.g.metaBytes()
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg, GetBroadcasts, LocalState and MergeRemoteState carry
// application messages and state, which rzone does not send over gossip.
func (delegate) NotifyMsg([]byte)                  {}
func (delegate) GetBroadcasts(_, _ int) [][]byte   { return nil }
func (delegate) LocalState(bool) []byte            { return nil }
func (delegate) MergeRemoteState(_ []byte, _ bool) {}
func (d delegate) NotifyJoin(n *memberlist.Node)   { d.g.view.join(n, time.Now()) }
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.g.view.update(n, time.Now()) }
func (d delegate) NotifyLeave(n *memberlist.Node)  { d.g.view.leave(n, time.Now()) }
func (delegate) AckPayload() []byte                { return nil }

// NotifyPingComplete is called when one of this node's probes gets a direct
// ack within ProbeTimeout; indirect and TCP acks are not reported.
func (d delegate) NotifyPingComplete(n *memberlist.Node, _ time.Duration, _ []byte) {
	d.g.view.ack(n.Name, time.Now())
}

// NotifyAlive keeps out of the cluster any member whose meta is not an
// rzone Meta for its name, such as another memberlist application on the
// same port.
func (delegate) NotifyAlive(n *memberlist.Node) error {
	_, err := decodeMeta(n.Name, n.Meta)
	return err
}
