package projections

import (
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
)

// Summary is the log at a glance: how many events of each kind, the last
// clock tick, and which peers have sent us messages.
type Summary struct {
	params    events.Params
	Network   string
	NodeID    events.PeerID
	Events    uint64
	LastSeq   uint64
	FirstTick events.Time
	LastTick  events.Time
	perKind   []uint64 // indexed by kind
	peers     map[events.PeerID]struct{}
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	return &Summary{peers: make(map[events.PeerID]struct{})}
}

// Apply implements Projection.
func (s *Summary) Apply(seq uint64, ev events.Event) {
	s.Events++
	s.LastSeq = seq
	k := int(ev.Kind())
	if k >= len(s.perKind) {
		s.perKind = append(s.perKind, make([]uint64, k+1-len(s.perKind))...)
	}
	s.perKind[k]++
	switch e := ev.(type) {
	case *events.Genesis:
		s.params, s.Network, s.NodeID = e.Params, e.Params.Network, e.Params.NodeID
	case *events.Tick:
		if s.FirstTick == 0 {
			s.FirstTick = e.Time
		}
		s.LastTick = e.Time
	case *events.MessageSent:
		// our own messages: not a peer seen
	default:
		if from, ok := events.Sender(ev); ok {
			s.peers[from] = struct{}{}
		}
	}
}

// Params are the parameters of the log's genesis.
func (s *Summary) Params() events.Params { return s.params }

// KindCount is the number of events of one kind.
type KindCount struct {
	Kind  events.Kind `msgpack:"k" json:"-"`
	Name  string      `msgpack:"-" json:"kind"`
	Count uint64      `msgpack:"n" json:"count"`
}

// PerKind lists the kinds seen, in kind order.
func (s *Summary) PerKind() []KindCount {
	var out []KindCount
	for k, n := range s.perKind {
		if n > 0 {
			out = append(out, KindCount{Kind: events.Kind(k), Name: events.Kind(k).String(), Count: n})
		}
	}
	return out
}

// Peers lists the peers seen, sorted by id bytes.
func (s *Summary) Peers() []events.PeerID {
	peers := make([]events.PeerID, 0, len(s.peers))
	for p := range s.peers {
		peers = append(peers, p)
	}
	slices.Sort(peers)
	return peers
}

// summaryState is the canonical encoding of a Summary.
type summaryState struct {
	Network   string          `msgpack:"net"`
	NodeID    events.PeerID   `msgpack:"id"`
	Events    uint64          `msgpack:"n"`
	LastSeq   uint64          `msgpack:"seq"`
	FirstTick events.Time     `msgpack:"t0"`
	LastTick  events.Time     `msgpack:"t"`
	PerKind   []KindCount     `msgpack:"k"`
	Peers     []events.PeerID `msgpack:"p"`
}

// AppendState implements Projection.
func (s *Summary) AppendState(dst []byte) []byte {
	out, err := events.Marshal(dst, &summaryState{
		Network: s.Network, NodeID: s.NodeID, Events: s.Events, LastSeq: s.LastSeq,
		FirstTick: s.FirstTick, LastTick: s.LastTick, PerKind: s.PerKind(), Peers: s.Peers(),
	})
	if err != nil {
		// Only a type the codec cannot encode fails, which is a bug here.
		panic(fmt.Sprintf("encode summary state: %v", err))
	}
	return out
}
