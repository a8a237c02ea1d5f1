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
	// All of them when they fit; otherwise the next intentRegossipMax,
	// going round the list (sorted by id, so a batch is deterministic).
	count := min(len(held), intentRegossipMax)
	for i := range count {
		fx.publish = append(fx.publish, held[(r.cursor+i)%len(held)].Msg)
	}
	r.cursor = (r.cursor + count) % len(held)
}

// knownIntent: a kv message whose intent this node holds or consumed.
// Logging it again would add no evidence (the body is the same, and
// Ed25519 signatures are deterministic, so a repeat from the same signer
// is the same envelope; from another signer it names the same intent).
func (n *Node) knownIntent(m *events.Signed) bool {
	return n.state.Transfers.Knows(events.IntentID(m.Body))
}
