package projections

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
)

// Keys follows the published threshold keys: the current one, its
// committee (in party order) and their public share points.
type Keys struct {
	current *events.KeyPublished
	history []events.Hash // every key id published, in order
}

// Apply implements Projection. The key a network starts on (its genesis
// names it) is current at once; a key a session made here is only this
// node's announcement of it, which Committees tallies with the others.
func (k *Keys) Apply(_ uint64, ev events.Event) {
	if e, ok := ev.(*events.KeyPublished); ok && e.Session.IsZero() {
		k.adopt(e)
	}
}

// adopt makes key the current one: the network's starting key, or one
// that t+1 members of the committee that made it announced alike, this
// node among them if it is one (Committees).
func (k *Keys) adopt(key *events.KeyPublished) {
	k.current = key
	k.history = append(k.history, key.KeyID)
}

// Known reports whether a key was ever current here: an announcement of
// a key this node already had never rolls it back.
func (k *Keys) Known(id events.Hash) bool { return slices.Contains(k.history, id) }

// History lists the ids of every key that was current here, oldest first.
func (k *Keys) History() []events.Hash { return slices.Clone(k.history) }

// Current returns the current key, if one was published.
func (k *Keys) Current() (*events.KeyPublished, bool) {
	return k.current, k.current != nil
}

// Committee returns the current key's committee in party order.
func (k *Keys) Committee() []events.PeerID {
	if k.current == nil {
		return nil
	}
	out := make([]events.PeerID, len(k.current.SharePoints))
	for i, sp := range k.current.SharePoints {
		out[i] = sp.Peer
	}
	return out
}

// SharePoint returns a committee member's public share point.
func (k *Keys) SharePoint(peer events.PeerID) ([]byte, bool) {
	if k.current == nil {
		return nil, false
	}
	for _, sp := range k.current.SharePoints {
		if sp.Peer == peer {
			return sp.Point, true
		}
	}
	return nil, false
}

// IsMember reports whether peer holds a share of the current key.
func (k *Keys) IsMember(peer events.PeerID) bool {
	_, ok := k.SharePoint(peer)
	return ok
}

// PointOwner returns the first committee member whose share point is
// point, in party order.
func (k *Keys) PointOwner(point []byte) (events.PeerID, bool) {
	if k.current == nil {
		return "", false
	}
	for _, sp := range k.current.SharePoints {
		if bytes.Equal(sp.Point, point) {
			return sp.Peer, true
		}
	}
	return "", false
}

type keysState struct {
	Current *events.KeyPublished `msgpack:"c"`
	History []events.Hash        `msgpack:"h"`
}

// AppendState implements Projection.
func (k *Keys) AppendState(dst []byte) []byte {
	out, err := events.Marshal(dst, &keysState{Current: k.current, History: k.history})
	if err != nil {
		panic(fmt.Sprintf("encode keys state: %v", err))
	}
	return out
}
