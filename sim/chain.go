package sim

import (
	"time"

	"github.com/metanode/metanode/events"
)

// stakeChain is the run's stake chain. Like a real chain it answers
// later: a check asked during a node's tick is answered at the next step,
// before that step's ticks, in the order the checks were asked (nodes tick
// in index order, each asks in duty order), so a run stays reproducible.
type stakeChain struct {
	s       *Sim
	pending []stakeQuestion
}

type stakeQuestion struct {
	peer   events.PeerID
	tx     string
	answer func(events.StakeChecked)
}

// stakeChain is the run's stake chain, as the nodes' Config.Chain.
func (s *Sim) stakeChain() *stakeChain {
	s.chain.s = s
	return &s.chain
}

// CheckStake implements node.StakeChain.
func (c *stakeChain) CheckStake(peerID events.PeerID, tx string, answer func(events.StakeChecked)) {
	c.pending = append(c.pending, stakeQuestion{peer: peerID, tx: tx, answer: answer})
}

// answer answers every check asked before this step.
func (c *stakeChain) answer() {
	due := c.pending
	c.pending = nil
	for _, q := range due {
		q.answer(c.stake(q.peer, q.tx))
	}
}

// stake answers from the run's configuration: each node's stake tx is
// valid, the rest (spam identities' made-up txs) are not found.
func (c *stakeChain) stake(peerID events.PeerID, tx string) events.StakeChecked {
	ans := events.StakeChecked{Peer: peerID, StakeTx: tx}
	for _, n := range c.s.nodes {
		if n.id != peerID || tx != stakeTx(n.index) {
			continue
		}
		// Node 0 is the most senior: stakes are an hour apart.
		age := 100*time.Hour + time.Duration(len(c.s.nodes)-n.index)*time.Hour
		if n.has(YoungStake) {
			age = 10 * time.Hour
		}
		ans.Found, ans.Confirmed, ans.Amount, ans.BoundPeer = true, true, 100, n.id
		start := events.TimeOf(c.s.cfg.start())
		ans.ConfirmedAt = start.Add(-age)
		ans.Spent = n.has(MovedStake) && c.s.now.Sub(start) >= c.s.cfg.Duration/3
	}
	return ans
}
