package projections

import (
	"slices"

	"github.com/metanode/metanode/events"
)

func (r *Rounds) onPing(m *events.Signed) {
	if r.cur == nil {
		return
	}
	// Only committee members sign: t+1 of them pinging Signing means a
	// threshold set of this key is under way. Anyone else's claim says
	// nothing (and could be used to keep nodes in cooldown).
	ps, ok := r.peers.Get(m.From)
	if !ok || ps.LastCheck != PingAccepted || ps.State != events.StateSigning || !r.keys.IsMember(m.From) || !r.listed(m.From) {
		return
	}
	if i, found := slices.BinarySearch(r.cur.SigningPeers, m.From); !found {
		r.cur.SigningPeers = slices.Insert(r.cur.SigningPeers, i, m.From)
	}
	if len(r.cur.SigningPeers) >= r.params.Threshold+1 && r.cur.Session == nil {
		r.cur.Cooldown = true
	}
}

// NodeState is the state this node announces in its pings.
func (r *Rounds) NodeState() events.NodeState {
	if r.cur == nil {
		return events.StateIdle
	}
	switch {
	case r.cur.Outcome == OutcomeSigning:
		return events.StateSigning
	case r.cur.Outcome == OutcomeSigned || r.cur.Cooldown:
		return events.StateCooldown
	}
	return events.StateIdle
}
