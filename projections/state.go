package projections

import "github.com/metanode/metanode/events"

// State is every projection of a node, folded in this order. The node
// keeps one live; replay, audit and the CLI fold one from a log, so the
// state hash of a running node and of a replay of its log agree.
type State struct {
	Summary    *Summary
	OwnPings   *OwnPings
	Keys       *Keys
	Peers      *Peers
	Blocks     *Blocks
	Transfers  *Transfers
	Committees *Committees
	Rounds     *Rounds
}

// NewState returns the state of an empty log.
func NewState() *State {
	keys := &Keys{}
	peers := NewPeers(keys)
	blocks := &Blocks{peers: peers, keys: keys}
	transfers := NewTransfers(peers)
	committees := NewCommittees(keys, peers, blocks)
	return &State{
		Summary: NewSummary(), OwnPings: &OwnPings{}, Keys: keys, Peers: peers,
		Blocks: blocks, Transfers: transfers, Committees: committees,
		Rounds: NewRounds(keys, peers, blocks, transfers, committees),
	}
}

// projections in fold order: each reads only those before it.
func (s *State) projections() Set {
	return Set{s.Summary, s.OwnPings, s.Keys, s.Peers, s.Blocks, s.Transfers, s.Committees, s.Rounds}
}

// Apply implements Projection.
func (s *State) Apply(seq uint64, ev events.Event) { s.projections().Apply(seq, ev) }

// AppendState implements Projection.
func (s *State) AppendState(dst []byte) []byte { return s.projections().AppendState(dst) }
