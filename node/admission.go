package node

import (
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// Admission (PROTOCOL.md section 1, docs/protocol.md): anyone can make an
// Ed25519 key, so a correctly signed message is not enough to be logged.
// A peer is admitted once a stake check of the stake tx in its ping came
// back valid (projections.Peers.Admitted), and stays so while its stake
// holds or it is blocked (a blocked peer's messages are evidence).
// Everything else from a peer not admitted is dropped before the log,
// except the pings that can lead to a stake check (Peers.WelcomePing).
// The decision reads only the folded state, and dropped messages never
// reach the log, so a replay is unaffected.

// admitted reports whether messages from a peer are logged.
func (n *Node) admitted(id events.PeerID) bool {
	return id == n.id || n.state.Peers.Admitted(id) || n.state.Blocks.Blocked(id)
}

// admit keeps the received events admission lets into the log, in order,
// and counts the others. Strangers let in earlier in the same batch count
// against the bound of strangers being checked, and a stranger gets one
// ping per batch.
func (n *Node) admit(evs []events.Event) []events.Event {
	kept := evs[:0]
	var strangers map[events.PeerID]bool
	for _, ev := range evs {
		m, ok := events.SignedOf(ev)
		if !ok || n.admitted(m.From) {
			kept = append(kept, ev)
			continue
		}
		if m.Type != events.TypePing {
			n.droppedUnadmitted.Add(1)
			continue
		}
		ping, verdict := n.state.Peers.CheckPing(m)
		if verdict != projections.PingAccepted || strangers[m.From] || !n.state.Peers.WelcomePing(&ping, len(strangers)) {
			// a ping that does not count, or cannot lead to a check now
			n.droppedStrangers.Add(1)
			continue
		}
		if strangers == nil {
			strangers = map[events.PeerID]bool{}
		}
		strangers[m.From] = true
		kept = append(kept, ev)
	}
	return kept
}

// Admits reports whether the node would log a message of type typ from
// a peer now: pings from anyone (admission judges them on arrival), the
// rest only from admitted peers. A transport's validator asks it to
// ignore unknown peers before a message spreads further.
func (n *Node) Admits(from events.PeerID, typ string) bool {
	if typ == events.TypePing {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.admitted(from)
}

// Welcomes judges a message a transport is about to deliver or forward:
// a ping counts only if it would be accepted now (not a replay, its clock
// within the skew, this network's genesis, a valid share proof) and can
// either refresh an admitted peer or lead to a stake check. Replayed or
// stale pings, which anyone can re-send, then go no further than the
// first node that sees them. Other messages: admission decides.
func (n *Node) Welcomes(m *events.Signed) bool {
	if m.Type != events.TypePing || m.From == n.id {
		return true // own messages: logged as sent before they leave
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ping, verdict := n.state.Peers.CheckPing(m)
	if verdict != projections.PingAccepted {
		return false
	}
	return n.admitted(m.From) || n.state.Peers.WelcomePing(&ping, 0)
}
