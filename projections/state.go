package projections

import "github.com/metanode/metanode/events"

// State is every projection of a node, folded in this order. The node
// keeps one live; replay, audit and the CLI fold one from a log, so the
// state hash of a running node and of a replay of its log agree.
type State struct {
	Summary  *Summary
	OwnPings *OwnPings
	Keys     *Keys
	Peers    *Peers
}

// NewState returns the state of an empty log.
func NewState() *State {
	keys := &Keys{}
	return &State{Summary: NewSummary(), OwnPings: &OwnPings{}, Keys: keys, Peers: NewPeers(keys)}
}

// projections in fold order: Keys before Peers, which reads it.
func (s *State) projections() Set { return Set{s.Summary, s.OwnPings, s.Keys, s.Peers} }

// Apply implements Projection.
func (s *State) Apply(seq uint64, ev events.Event) { s.projections().Apply(seq, ev) }

// AppendState implements Projection.
func (s *State) AppendState(dst []byte) []byte { return s.projections().AppendState(dst) }
