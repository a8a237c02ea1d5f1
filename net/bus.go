package net

import (
	"sync"

	"github.com/metanode/metanode/events"
)

// Receiver takes messages off the network.
type Receiver interface {
	Receive(...events.Signed)
}

// Bus is an in-memory broadcast network for nodes in one process: every
// published message reaches every other joined receiver, synchronously and
// in publish order. The simulator builds delay, loss and partitions on top.
type Bus struct {
	mu        sync.Mutex
	receivers map[events.PeerID]Receiver
	order     []events.PeerID // join order: delivery is deterministic
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{receivers: make(map[events.PeerID]Receiver)}
}

// Join attaches a receiver under its peer id.
func (b *Bus) Join(id events.PeerID, r Receiver) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.receivers[id]; !ok {
		b.order = append(b.order, id)
	}
	b.receivers[id] = r
}

// Publish delivers m to every receiver but its sender.
func (b *Bus) Publish(m events.Signed) {
	b.mu.Lock()
	targets := make([]Receiver, 0, len(b.order))
	for _, id := range b.order {
		if id != m.From {
			targets = append(targets, b.receivers[id])
		}
	}
	b.mu.Unlock()
	for _, r := range targets {
		r.Receive(m)
	}
}
