package gossip

import (
	"time"
)

// joinLoop joins the seeds, retrying with backoff until one answers, then
// reconnects every ReconnectInterval: memberlist forgets a dead member after
// GossipToTheDeadTime and never contacts it again, so without this two
// halves of a partition that outlasted it would stay apart for good.
func (g *Gossip) joinLoop() {
	if !g.joinSeeds() {
		return
	}
	t := time.NewTicker(g.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.reconnect()
		}
	}
}

// joinSeeds joins the seeds, if any, retrying until one answers. It
// returns false if the Gossip stopped or left first.
func (g *Gossip) joinSeeds() bool {
	if len(g.seeds) == 0 {
		return true
	}
	wait := g.cfg.JoinRetryInterval
	for attempt := 1; ; attempt++ {
		if g.left.Load() || g.shutdown.Load() {
			return false
		}
		n, err := g.ml.Join(g.seeds)
		if n > 0 {
			g.joined.Store(true)
			g.log.Info("gossip: joined the cluster", "seeds_contacted", n, "attempts", attempt)
			return true
		}
		g.joinFailures.Add(1)
		g.log.Warn("gossip: join failed, retrying", "seeds", g.seeds, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-g.stop:
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 32*g.cfg.JoinRetryInterval)
	}
}

// reconnect tries to join the members this node reports dead, and the
// seeds when it is alone. Join is a TCP state exchange: a dead member that
// is back learns it was declared dead and refutes it, and both sides merge
// what they know.
func (g *Gossip) reconnect() {
	if g.left.Load() || g.shutdown.Load() {
		return
	}
	targets := g.view.deadAddrs()
	if live, _ := g.view.sizes(time.Now(), 0); live <= 1 {
		targets = append(targets, g.seeds...)
	}
	if len(targets) == 0 {
		return
	}
	n, err := g.ml.Join(targets)
	if n > 0 {
		g.log.Info("gossip: reconnected", "tried", targets, "contacted", n)
	} else {
		g.log.Debug("gossip: reconnect found no one", "tried", targets, "err", err)
	}
}

// sweepLoop updates the suspect inference and forgets old members once per
// ProbeInterval.
func (g *Gossip) sweepLoop() {
	defer close(g.sweepDone)
	t := time.NewTicker(g.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case now := <-t.C:
			g.view.sweep(now, g.cfg.ForgetAfter)
		}
	}
}
