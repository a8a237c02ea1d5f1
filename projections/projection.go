package projections

import (
	"crypto/sha512"

	"github.com/metanode/metanode/events"
)

// Projection folds events into state.
type Projection interface {
	// Apply folds the event at seq into the state. It must be
	// deterministic (see the package doc).
	Apply(seq uint64, ev events.Event)
	// AppendState appends a canonical encoding of the whole state: equal
	// states give equal bytes. It is the input of the state hash.
	AppendState(dst []byte) []byte
}

// StateHash is H over a projection's canonical state: two nodes, or two
// replays, that agree on it agree on the whole state.
func StateHash(p Projection) events.Hash {
	return sha512.Sum512_256(p.AppendState(nil))
}

// Set folds every event through several projections, in order.
type Set []Projection

// Apply implements Projection.
func (s Set) Apply(seq uint64, ev events.Event) {
	for _, p := range s {
		p.Apply(seq, ev)
	}
}

// AppendState implements Projection: the members' states in order.
func (s Set) AppendState(dst []byte) []byte {
	for _, p := range s {
		dst = p.AppendState(dst)
	}
	return dst
}
