package node

import (
	"errors"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// An HA replica's node follows its log until raft makes it the leader,
// then runs the duties from the same state; it follows again when it
// loses the lead (DESIGN.md, point 5).

// CatchUp folds what raft's FSM appended to a following replica's log
// since the last fold, so that its state (and the read API) keeps up and
// a takeover starts from it.
func (n *Node) CatchUp() error {
	n.mu.Lock()
	err := n.catchUp()
	n.mu.Unlock()
	n.eraseIfDue()
	return err
}

// Leading says whether the node runs its duties.
func (n *Node) Leading() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leading
}

// Lead makes a replica that raft made the leader run the node, after the
// caller's Barrier put every committed entry in its log: it folds them,
// writes the genesis of a new log, records the sessions the former
// leader left running as failed without culprits (their parties lived in
// its memory), and sends again the round messages of the last moments,
// which the former leader may have committed and not sent.
func (n *Node) Lead() error {
	var fx effects
	n.mu.Lock()
	err := n.lead(&fx)
	n.mu.Unlock()
	n.apply(&fx)
	return err
}

func (n *Node) lead(fx *effects) error {
	if n.cfg.Replicated == nil {
		return errors.New("lead: the node is not a replica")
	}
	if err := n.catchUp(); err != nil {
		return err
	}
	if n.folded == 0 {
		if err := n.writeGenesis(n.cfg.Params); err != nil {
			return err
		}
	} else if err := n.checkOwnLog(n.cfg.Params); err != nil {
		return err
	}
	if err := n.loadShare(); err != nil {
		return err
	}
	if err := n.endInterrupted(); err != nil {
		return err
	}
	n.resendLastSent(fx)
	n.leading = true
	return nil
}

// Follow makes a replica that lost the lead stop running the node: its
// sessions halt (the next leader records them as failed), and what it
// kept in memory for its duties is dropped, as at a restart.
func (n *Node) Follow() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leading = false
	n.haltActors()
	n.sessions = map[events.Hash]*session{}
	n.early = map[events.Hash]*earlyMessages{}
	n.earlyLarge = newEarlyBudget(MaxEarlyTSSMessages, MaxEarlyTSSPerPeer)
	n.earlySmall = newEarlyBudget(MaxEarlyTSSSmall, MaxEarlyTSSSmallPerPeer)
	n.ended = map[events.Hash]*endedSession{}
	n.seen = map[events.Hash]seenEnvelope{}
	n.seenBy = map[events.PeerID]int{}
	n.resends = nil
	n.asked = map[projections.StakeCheck]events.Time{}
	n.regossip = intentRegossip{}
	n.receiveErr = nil
}

// lastSentWindow is how far back a new leader looks for round messages
// to send again: the retransmissions the former leader had left.
const lastSentWindow = 4096

// resendLastSent queues for the network, and for retransmission, the
// round and commit messages the log records as sent among its last
// events: committed before they were sent, they may never have left.
func (n *Node) resendLastSent(fx *effects) {
	last := n.folded
	from := uint64(1)
	if last > lastSentWindow {
		from = last - lastSentWindow + 1
	}
	var sent []events.Signed
	_ = n.store.ForEachChunked(from, last, func(_ uint64, ev events.Event) error {
		if ms, ok := ev.(*events.MessageSent); ok && ms.Msg.Type != events.TypeTSS && dedupedTypes[ms.Msg.Type] {
			sent = append(sent, ms.Msg)
		}
		return nil
	})
	for _, m := range sent {
		if _, ok := n.phaseEnd(m.Type); !ok || !n.highWater.current(&m) {
			continue
		}
		fx.publish = append(fx.publish, m)
		n.scheduleResend(m)
	}
}
