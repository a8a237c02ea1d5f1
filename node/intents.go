package node

import (
	"time"

	"github.com/metanode/metanode/events"
)

// Anti-entropy of swap intents (docs/protocol.md, Transfers): gossip may
// lose an intent, or a partition keep it from half the nodes, and a node
// that lacks it builds another doc. So every node sends the intents it
// holds in force again, as their signers signed them, once every
// intentRegossipEvery, at most intentRegossipMax at a time (the next ones
// the next time). Receivers drop a copy of an intent they hold or
// consumed already, unlogged, so the log does not grow by it.
const (
	intentRegossipEvery = time.Minute
	intentRegossipMax   = 256
)

type intentRegossip struct {
	last   events.Time
	cursor int // where the next batch starts, for more than intentRegossipMax held
}

// regossipIntents queues the held intents for the network when due.
func (n *Node) regossipIntents(now events.Time, fx *effects) {
	r := &n.regossip
	if r.last != 0 && now.Sub(r.last) < intentRegossipEvery {
		return
	}
	r.last = now
	held := n.state.Transfers.Held()
	if len(held) == 0 {
		return
	}
	if r.cursor >= len(held) {
		r.cursor = 0
	}
	end := min(len(held), r.cursor+intentRegossipMax)
	for _, in := range held[r.cursor:end] {
		fx.publish = append(fx.publish, in.Msg)
	}
	r.cursor = end
}

// knownIntent: a kv message whose intent this node holds or consumed.
// Logging it again would add no evidence (the body is the same, and
// Ed25519 signatures are deterministic, so a repeat from the same signer
// is the same envelope; from another signer it names the same intent).
func (n *Node) knownIntent(m *events.Signed) bool {
	return n.state.Transfers.Knows(events.IntentID(m.Body))
}
