package api

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// PeerStake is a peer's stake as the last stake-chain answer shows it.
type PeerStake struct {
	Tx     string `json:"tx"`
	Amount uint64 `json:"amount"`
	// StakeTime is the stake tx's confirmation time: seniority follows it.
	StakeTime string `json:"stakeTime,omitempty"`
	// StakeValid: the stake counts for the peer list now; Problem says
	// why not when it does not.
	StakeValid bool   `json:"stakeValid"`
	Problem    string `json:"problem,omitempty"`
	CheckedAt  string `json:"checkedAt,omitempty"`
	Admitted   bool   `json:"admitted"` // its messages are logged
}

// PeerBlock is the block in force against a peer that lasts longest.
type PeerBlock struct {
	Until  string `json:"until"`
	Reason string `json:"reason"`
	Local  bool   `json:"local,omitempty"` // this node's own view, not honored by committees
}

// Peer is one row of GET /api/v1/peers.
type Peer struct {
	ID      string `json:"id"`     // hex of the peer id bytes
	PeerID  string `json:"peerId"` // libp2p form
	Moniker string `json:"moniker,omitempty"`
	// Active: in the peer list now (pinging within peer_expiry, stake
	// valid, not blocked); Rank is its seniority there, 1 = most senior
	// (0 when not active).
	Active    bool       `json:"active"`
	Rank      int        `json:"rank"`
	Live      bool       `json:"live"` // pinged within peer_expiry
	Stake     PeerStake  `json:"stake"`
	State     uint8      `json:"state"`
	StateName string     `json:"state_name"`
	Blocked   *PeerBlock `json:"blocked"`
	ThisNode  bool       `json:"thisNode"`
	Member    bool       `json:"member"` // holds a share of the current key
	// ProvedShare: its last ping proved its share of the current key.
	ProvedShare     bool   `json:"provedShare"`
	Connected       bool   `json:"connected"`
	LastPing        string `json:"lastPing,omitempty"`
	LastSeq         uint64 `json:"lastSeq"`
	RejectedPings   uint64 `json:"rejectedPings"`
	LastPingVerdict string `json:"lastPingVerdict"`
}

// Peers is GET /api/v1/peers: the peer table, active peers by rank, then
// the others by id.
type Peers struct {
	AsOfSeq uint64 `json:"asOfSeq"`
	Listed  int    `json:"listed"`
	Peers   []Peer `json:"peers"`
}

func (a *api) peers(w http.ResponseWriter, _ *http.Request) {
	connected := map[events.PeerID]bool{}
	for _, p := range a.connected() {
		connected[p] = true
	}
	var out Peers
	a.src.View(func(s *projections.State) {
		out.AsOfSeq = s.Summary.LastSeq
		self := s.Summary.NodeID
		table := s.Peers
		rank := map[events.PeerID]int{}
		for i, ps := range table.List(s.Blocks.Blocked) {
			rank[ps.ID] = i + 1
		}
		out.Listed = len(rank)
		blocks := map[events.PeerID]projections.Block{}
		for _, b := range s.Blocks.Active() {
			if cur, ok := blocks[b.Peer]; !ok || b.Until > cur.Until {
				blocks[b.Peer] = b
			}
		}
		for _, ps := range table.All() {
			problem := table.StakeProblem(ps)
			row := Peer{
				ID: hexID(ps.ID), PeerID: peerID(ps.ID), Active: rank[ps.ID] > 0, Rank: rank[ps.ID], Live: table.Live(ps),
				Stake: PeerStake{Tx: ps.StakeTx, Amount: ps.Stake.Amount, StakeTime: timeString(ps.Stake.ConfirmedAt),
					StakeValid: problem == "", Problem: problem, CheckedAt: timeString(ps.Stake.CheckedAt), Admitted: ps.Admitted},
				State: uint8(ps.State), StateName: ps.State.String(), ThisNode: ps.ID == self, Member: s.Keys.IsMember(ps.ID),
				ProvedShare: ps.ProvedShare, Connected: connected[ps.ID], LastPing: timeString(ps.LastPing), LastSeq: ps.LastSeq,
				RejectedPings: ps.Rejected, LastPingVerdict: ps.LastCheck.String(),
			}
			if row.ThisNode {
				row.Moniker = a.info.Moniker
			}
			if b, ok := blocks[ps.ID]; ok {
				row.Blocked = &PeerBlock{Until: b.Until.String(), Reason: b.Reason.String(), Local: b.Local}
			}
			out.Peers = append(out.Peers, row)
		}
	})
	slices.SortStableFunc(out.Peers, func(x, y Peer) int {
		switch {
		case x.Active && y.Active:
			return cmp.Compare(x.Rank, y.Rank)
		case x.Active != y.Active:
			if x.Active {
				return -1
			}
			return 1
		}
		return 0 // both inactive: the table's id order
	})
	if out.Peers == nil {
		out.Peers = []Peer{}
	}
	writeJSON(w, http.StatusOK, out)
}
