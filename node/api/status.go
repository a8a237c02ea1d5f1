package api

import (
	"net/http"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
)

// Node states as the status reports them.
const (
	StateStarting = "starting" // no clock tick logged yet
	StateNoKey    = "no-key"   // running, but no threshold key is current
	StateRunning  = "running"
)

// NodeInfo is the node's identity and addresses (Swingby's nodeInfo).
type NodeInfo struct {
	Moniker     string `json:"moniker"`
	ID          string `json:"id"`     // hex of the peer id bytes
	PeerID      string `json:"peerId"` // libp2p form
	ListenAddr  string `json:"listenAddr"`
	RestAddr    string `json:"restAddr"`
	Network     string `json:"network"`
	GenesisHash string `json:"genesisHash"`
	Version     string `json:"version"`
}

// StatusRound is the current signing round at a glance.
type StatusRound struct {
	Number        int64  `json:"number"`
	Start         string `json:"start"`
	Phase         string `json:"phase"`
	Outcome       string `json:"outcome"`
	Reason        string `json:"reason,omitempty"`
	Participating bool   `json:"participating"`
	NotTakingPart string `json:"notTakingPart,omitempty"`
	Session       string `json:"session,omitempty"`
}

// StatusKey is the current threshold key at a glance.
type StatusKey struct {
	ID            string `json:"id"`
	Address       string `json:"address"`
	Threshold     int    `json:"threshold"`
	CommitteeSize int    `json:"committeeSize"`
	Member        bool   `json:"member"` // this node holds a share
}

// StatusPeers counts peers.
type StatusPeers struct {
	Seen      int `json:"seen"`      // ever sent a message that was logged
	Known     int `json:"known"`     // in the peer table now
	Listed    int `json:"listed"`    // in the peer list (live, stake valid, not blocked)
	Connected int `json:"connected"` // transport connections now
}

// StatusLog is the node's event log.
type StatusLog struct {
	Seq       uint64                  `json:"seq"` // last durable seq
	Events    uint64                  `json:"events"`
	LastTick  string                  `json:"lastTick,omitempty"`
	StateHash string                  `json:"stateHash"`
	Path      string                  `json:"path"`
	Commits   uint64                  `json:"commits"` // group commits since the node opened it
	PerKind   []projections.KindCount `json:"perKind"`
}

// StatusDropped counts messages dropped unlogged since the node started.
type StatusDropped struct {
	Total      uint64 `json:"total"`
	Unadmitted uint64 `json:"unadmitted"` // not pings, from peers not admitted
	Strangers  uint64 `json:"strangers"`  // pings of strangers that could not lead to a stake check
	Early      uint64 `json:"early"`      // tss messages over their sender's early bound
	Invalid    uint64 `json:"invalid"`    // failed validation, or the log refused them
}

// Status is GET /api/v1/status.
type Status struct {
	NodeInfo NodeInfo `json:"nodeInfo"`
	// State: "starting", "no-key" or "running"; NodeState is what the
	// node's pings announce (idle, signing, cooldown, keygen, regroup).
	State     string        `json:"state"`
	NodeState string        `json:"nodeState"`
	Ready     bool          `json:"ready"`
	NotReady  string        `json:"notReady,omitempty"`
	Round     *StatusRound  `json:"round"`
	Key       *StatusKey    `json:"key"`
	Peers     StatusPeers   `json:"peers"`
	Log       StatusLog     `json:"log"`
	Dropped   StatusDropped `json:"dropped"`
	PingsSent uint64        `json:"pingsSent"`
	// StakeChecksAsked: stake checks asked of the chain since the start.
	StakeChecksAsked uint64 `json:"stakeChecksAsked"`
	BlocksInForce    int    `json:"blocksInForce"`
	// Leading: the node runs its duties here (false on an HA replica
	// that follows its leader's log).
	Leading bool `json:"leading"`
	// Raft is an HA replica's raft state: its id and role, the leader,
	// the term and indexes (absent on a single node).
	Raft *ha.Status `json:"raft,omitempty"`
}

func (a *api) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.statusOf())
}

func (a *api) statusOf() Status {
	st := a.src.Status() // takes the node's lock: never inside View
	store := a.src.Log()
	out := Status{
		NodeInfo: NodeInfo{Moniker: a.info.Moniker, ID: hexID(st.ID), PeerID: peerID(st.ID), ListenAddr: a.info.ListenAddr,
			RestAddr: a.info.RestAddr, Network: a.info.Network, GenesisHash: a.info.GenesisHash, Version: a.info.Version},
		State: StateRunning, Ready: true,
		Peers: StatusPeers{Seen: st.PeersSeen, Listed: st.PeersListed, Connected: len(a.connected())},
		Log: StatusLog{Seq: store.LastSeq(), Events: st.Events, LastTick: timeString(st.LastTick), StateHash: st.StateHash.String(),
			Path: st.LogPath, Commits: store.Stats().Commits, PerKind: st.PerKindCounts},
		Dropped: StatusDropped{Total: st.Dropped, Unadmitted: st.DroppedUnadmitted, Strangers: st.DroppedStrangers, Early: st.DroppedEarly,
			Invalid: DroppedInvalid(st)},
		PingsSent: st.PingsSent, StakeChecksAsked: st.StakeChecksAsked, Leading: st.Leading,
	}
	if a.opts.Raft != nil {
		rs := a.opts.Raft()
		out.Raft = &rs
	}
	if err := a.ready(); err != nil {
		out.Ready, out.NotReady = false, err.Error()
	}
	a.src.View(func(s *projections.State) {
		if out.NodeInfo.Network == "" {
			out.NodeInfo.Network = s.Summary.Network
		}
		out.NodeState = nodeState(s).String()
		out.Peers.Known = len(s.Peers.All())
		out.BlocksInForce = len(s.Blocks.Active())
		if cur := s.Rounds.Current(); cur != nil {
			out.Round = &StatusRound{Number: cur.Number, Start: cur.Start.String(), Phase: s.Rounds.Phase(), Outcome: cur.Outcome,
				Reason: cur.Reason, Participating: cur.Participating, NotTakingPart: cur.NotTakingPart}
			if cur.Session != nil {
				out.Round.Session = cur.Session.String()
			}
		}
		if key, ok := s.Keys.Current(); ok {
			out.Key = &StatusKey{ID: key.KeyID.String(), Address: key.Address, Threshold: key.Threshold,
				CommitteeSize: len(key.SharePoints), Member: s.Keys.IsMember(st.ID)}
		}
	})
	switch {
	case st.LastTick == 0:
		out.State = StateStarting
	case out.Key == nil:
		out.State = StateNoKey
	}
	return out
}

// nodeState is the state the node's pings announce (projections.State.Duties).
func nodeState(s *projections.State) events.NodeState {
	if state, busy := s.Committees.NodeState(); busy {
		return state
	}
	return s.Rounds.NodeState()
}

// DroppedInvalid is the part of st.Dropped that failed validation or
// that the log refused: the rest of the total. Status loads the counters
// one by one, so a drop counted between two loads could make the parts
// exceed the total for a moment: then 0.
func DroppedInvalid(st node.Status) uint64 {
	parts := st.DroppedUnadmitted + st.DroppedStrangers + st.DroppedEarly
	if st.Dropped < parts {
		return 0
	}
	return st.Dropped - parts
}
