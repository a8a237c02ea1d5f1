package projections

import "github.com/metanode/metanode/events"

// State is every projection of a node, folded in this order. The node
// keeps one live; replay, audit and the CLI fold one from a log, so the
// state hash of a running node and of a replay of its log agree.
type State struct {
	Summary  *Summary
	OwnPings *OwnPings
	Peers    *Peers
}

// NewState returns the state of an empty log.
func NewState() *State {
	return &State{Summary: NewSummary(), OwnPings: &OwnPings{}, Peers: NewPeers()}
}

func (s *State) projections() Set { return Set{s.Summary, s.OwnPings, s.Peers} }

// Apply implements Projection.
func (s *State) Apply(seq uint64, ev events.Event) { s.projections().Apply(seq, ev) }

// AppendState implements Projection.
func (s *State) AppendState(dst []byte) []byte { return s.projections().AppendState(dst) }
