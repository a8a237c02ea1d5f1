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
