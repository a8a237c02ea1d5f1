package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/metanode/metanode/node/api"
	"github.com/metanode/metanode/node/daemon"
)

// Behaviours are the byzantine behaviours a devnet node can play.
func Behaviours() []string { return daemon.Behaviours() }

// KnownBehaviour reports whether b is one.
func KnownBehaviour(b string) bool { return daemon.KnownBehaviour(b) }

// Status is a node's state as its REST API reports it.
type Status struct {
	State         string
	Round         int64
	PeersListed   int
	LogSeq        uint64
	StateHash     string
	RoundsSigned  int
	LastSignature string // the last signed round's session, short
	// Role is an HA replica's raft role (leader, follower, candidate),
	// "" for a node of one process; Leader the raft id of its leader.
	Role, Leader string
}

var apiClient = &http.Client{Timeout: 3 * time.Second}

// GetJSON fetches path from node i's REST API into v.
func (d *Devnet) GetJSON(ctx context.Context, i int, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.Nodes[i].REST+path, nil)
	if err != nil {
		return err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return fmt.Errorf("api unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("api: %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Leader is the index in Nodes of node-0's replica that leads, by the
// replicas' own APIs (a replica that says it leads and runs the node),
// or -1 while none does.
func (d *Devnet) Leader() int {
	for _, j := range d.Replicas() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var st api.Status
		err := d.GetJSON(ctx, j, "/api/v1/status", &st)
		cancel()
		if err == nil && st.Raft != nil && st.Raft.Role == "leader" && st.Leading {
			return j
		}
	}
	return -1
}

// Status reads node i's state and its recent rounds from its API.
func (d *Devnet) Status(i int) (Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var st api.Status
	if err := d.GetJSON(ctx, i, "/api/v1/status", &st); err != nil {
		return Status{}, err
	}
	out := Status{State: st.State, PeersListed: st.Peers.Listed, LogSeq: st.Log.Seq, StateHash: st.Log.StateHash, LastSignature: "-"}
	if st.Raft != nil {
		out.Role, out.Leader = st.Raft.Role, st.Raft.LeaderID
	}
	if st.Round != nil {
		out.Round = st.Round.Number
	}
	var rounds api.Rounds
	if err := d.GetJSON(ctx, i, "/api/v1/rounds?limit=1441", &rounds); err != nil {
		return out, nil
	}
	for _, r := range rounds.Rounds { // newest first
		if r.Session != nil && r.Session.Signed {
			if out.RoundsSigned == 0 {
				out.LastSignature = fmt.Sprintf("round %d, session %.12s", r.Number, r.Session.ID)
			}
			out.RoundsSigned++
		}
	}
	return out, nil
}
