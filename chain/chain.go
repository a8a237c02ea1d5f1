// Package chain is what a node asks of the chains it bridges: stake
// checks, the deposits and confirmations it watches, the txs it
// broadcasts. Every answer comes back to the node as an event, from
// outside its lock. devchain/ plays a chain for a local devnet; the
// Bitcoin adapter is planned.
package chain

import (
	"context"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node"
)

// Chain is a node's view of the chains.
type Chain interface {
	node.StakeChain
	// Watch reports chain facts (events.DepositObserved,
	// events.TxConfirmed) as the node's view of the chain sees them, in
	// order, and the swap intents the chain's users asked this node to
	// gossip, until ctx ends. After a restart it may report facts again:
	// recording a fact twice changes nothing.
	Watch(ctx context.Context, fact func(events.Event), intent func(events.KVEntry)) error
	// Broadcast hands a signed tx to the chain.
	Broadcast(ctx context.Context, tx SignedTx) error
}

// SignedTx is a signing session's outcome as the chain takes it: the
// tx doc (projections.TxDoc's canonical bytes, whose hash is M0) and
// the signature of M0 under the vault's key. The chain reads what the
// tx spends and pays from the doc itself, never from the sender's word.
type SignedTx struct {
	Session   events.Hash `json:"session"`
	M0        events.Hash `json:"m0"`
	Doc       []byte      `json:"doc"`
	Signature []byte      `json:"signature"`
}
