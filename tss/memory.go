package tss

import (
	"sync"

	"github.com/metanode/metanode/events"
)

// MemoryNetwork routes session messages between parties in one process:
// the transport of tests, benchmarks and the simulator.
type MemoryNetwork struct {
	mu      sync.Mutex
	inboxes map[sidedPeer]chan Incoming
	peers   []events.PeerID
	// Tamper, if set, may change or drop (return false) a message on its
	// way: byzantine parties in tests.
	Tamper func(from events.PeerID, o *Outgoing) bool
	// TamperCopy, if set, may change or drop (return false) one copy of
	// a message on its way to one party: a byzantine sender showing
	// different parties different messages.
	TamperCopy func(from events.PeerID, to events.PeerID, in *Incoming) bool
	// Delivered, if set, is called after a message is queued for to.
	Delivered func(from, to events.PeerID)
}

type sidedPeer struct {
	peer events.PeerID
	side Side
}

// NewMemoryNetwork returns a network for the given peers.
func NewMemoryNetwork(peers []events.PeerID) *MemoryNetwork {
	n := &MemoryNetwork{inboxes: map[sidedPeer]chan Incoming{}, peers: peers}
	for _, p := range peers {
		for _, side := range []Side{SideOnly, SideOld, SideNew} {
			n.inboxes[sidedPeer{p, side}] = make(chan Incoming, 4096)
		}
	}
	return n
}

// Inbox is the channel a peer's keygen or signing session reads.
func (n *MemoryNetwork) Inbox(p events.PeerID) <-chan Incoming {
	return n.inboxes[sidedPeer{p, SideOnly}]
}

// SideInbox is the channel a peer's party on one side of a resharing reads.
func (n *MemoryNetwork) SideInbox(p events.PeerID, side Side) <-chan Incoming {
	return n.inboxes[sidedPeer{p, side}]
}

// Sender returns the send function of peer from.
func (n *MemoryNetwork) Sender(from events.PeerID) func(Outgoing) error {
	return func(o Outgoing) error {
		if n.Tamper != nil && !n.Tamper(from, &o) {
			return nil
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if f := o.Forward; f != nil {
			// Passing on another party's broadcast: every party of every
			// side gets the original, from its sender.
			for _, to := range n.peers {
				for _, side := range []Side{SideOnly, SideOld, SideNew} {
					if to == f.From && side == f.FromSide {
						continue
					}
					in := *f
					in.ToSide = side
					n.inboxes[sidedPeer{to, side}] <- in
				}
			}
			return nil
		}
		var sides []Side
		if o.ToOld {
			sides = append(sides, SideOld)
		}
		if o.ToNew {
			sides = append(sides, SideNew)
		}
		if len(sides) == 0 {
			sides = []Side{SideOnly}
		}
		targets := o.To
		if len(targets) == 0 {
			targets = n.peers
		}
		for _, side := range sides {
			for _, to := range targets {
				if to == from && side == o.FromSide {
					continue
				}
				in := Incoming{Session: o.Session, From: from, FromSide: o.FromSide, ToSide: side, Broadcast: o.Broadcast, Payload: o.Payload, Echo: o.Echo}
				if n.TamperCopy != nil && !n.TamperCopy(from, to, &in) {
					continue
				}
				n.inboxes[sidedPeer{to, side}] <- in
				if n.Delivered != nil {
					n.Delivered(from, to)
				}
			}
		}
		return nil
	}
}
