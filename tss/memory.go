package tss

import (
	"sync"

	"github.com/metanode/metanode/events"
)

// MemoryNetwork routes session messages between parties in one process:
// the transport of tests, benchmarks and the simulator.
type MemoryNetwork struct {
	mu      sync.Mutex
	inboxes map[events.PeerID]chan Incoming
	// Tamper, if set, may change or drop (return false) a message on its
	// way: byzantine parties in tests.
	Tamper func(from events.PeerID, o *Outgoing) bool
	// Delivered, if set, is called after a message is queued for to.
	Delivered func(from, to events.PeerID)
}

// NewMemoryNetwork returns a network for the given peers.
func NewMemoryNetwork(peers []events.PeerID) *MemoryNetwork {
	n := &MemoryNetwork{inboxes: map[events.PeerID]chan Incoming{}}
	for _, p := range peers {
		n.inboxes[p] = make(chan Incoming, 4096)
	}
	return n
}

// Inbox is the channel a peer's session reads.
func (n *MemoryNetwork) Inbox(p events.PeerID) <-chan Incoming { return n.inboxes[p] }

// Sender returns the send function of peer from.
func (n *MemoryNetwork) Sender(from events.PeerID) func(Outgoing) error {
	return func(o Outgoing) error {
		if n.Tamper != nil && !n.Tamper(from, &o) {
			return nil
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		deliver := func(to events.PeerID) {
			if ch, ok := n.inboxes[to]; ok && to != from {
				ch <- Incoming{Session: o.Session, From: from, Broadcast: o.Broadcast, Payload: o.Payload}
				if n.Delivered != nil {
					n.Delivered(from, to)
				}
			}
		}
		if len(o.To) == 0 {
			for to := range n.inboxes {
				deliver(to)
			}
			return nil
		}
		for _, to := range o.To {
			deliver(to)
		}
		return nil
	}
}
