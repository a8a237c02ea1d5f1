package devnet_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metanode/metanode/devnet"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node/api"
)

// shortRounds makes signing rounds 20 s long, so the test sees several
// in little time: a 3-signer session takes 1-3 s here, well within the
// 7 s between the check phase and the deadline.
func shortRounds(p *events.Params) {
	p.SigningEpoch, p.ProposalPhase, p.SigningSetPhase, p.CheckPhase, p.SigningDeadline =
		20*time.Second, 4*time.Second, 8*time.Second, 12*time.Second, 19*time.Second
}

// signedAfter says whether node i's API lists a round after round r that
// its own signing session signed.
func signedAfter(d *devnet.Devnet, i int, r int64) bool {
	var rounds api.Rounds
	if d.GetJSON(context.Background(), i, "/api/v1/rounds", &rounds) != nil {
		return false
	}
	return slices.ContainsFunc(rounds.Rounds, func(x api.Round) bool {
		return x.Number > r && x.Session != nil && x.Session.Signed
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestHAFailover: node-0 runs as three raft replicas in a network of five
// real processes. A round signs with node-0's leader among the signers
// (node-0, the most senior, is in every threshold set); the leader is
// killed with SIGKILL; another replica takes the lead within a bound and
// runs node-0 from the replicated log: a later round signs with that
// replica's own session. The killed replica comes back as a follower,
// every process stops cleanly, and the replicas' logs agree.
func TestHAFailover(t *testing.T) {
	d := setup(t, devnet.Config{Nodes: 5, DepositEvery: 3 * time.Second, Replicas: 3, Tune: shortRounds})
	started := time.Now()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	leader := -1
	waitFor(t, d, 4*time.Minute, "a round signed by node-0's leading replica", func() bool {
		leader = d.Leader()
		return leader >= 0 && signedAfter(d, leader, 0)
	})
	var before api.Status
	if err := d.GetJSON(context.Background(), leader, "/api/v1/status", &before); err != nil {
		t.Fatal(err)
	}
	var early api.Rounds
	_ = d.GetJSON(context.Background(), 1, "/api/v1/rounds?limit=8", &early)
	for _, r := range early.Rounds {
		t.Logf("node-1 round %d %s: %s %s", r.Number, r.Start, r.Outcome, r.Reason)
	}
	t.Logf("%s leads; a round signed %v after the start (current round %d)", d.Nodes[leader].Name, time.Since(started).Round(time.Second), before.Round.Number)
	for _, j := range d.Replicas() {
		var st api.Status
		if err := d.GetJSON(context.Background(), j, "/api/v1/status", &st); err != nil {
			t.Fatal(err)
		}
		if st.Raft == nil || st.Raft.LeaderID != d.Nodes[leader].RaftID || st.Leading != (j == leader) {
			t.Fatalf("%s: raft %+v, leading %v; want leader %s", d.Nodes[j].Name, st.Raft, st.Leading, d.Nodes[leader].RaftID)
		}
	}

	killed := leader
	if err := d.Kill(killed); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	next := -1
	for next < 0 {
		if time.Since(killedAt) > 20*time.Second {
			for _, j := range d.Replicas() {
				t.Logf("%s output (end):\n%s", d.Nodes[j].Name, d.LogTail(j, 3000))
			}
			t.Fatalf("no replica of node-0 took the lead within 20 s of the leader's kill")
		}
		time.Sleep(200 * time.Millisecond)
		next = d.Leader()
	}
	t.Logf("%s killed; %s leads after %v", d.Nodes[killed].Name, d.Nodes[next].Name, time.Since(killedAt).Round(10*time.Millisecond))
	if err := d.StartNode(killed); err != nil {
		t.Fatal(err)
	}

	waitFor(t, d, 3*time.Minute, fmt.Sprintf("a round after %d signed by node-0's new leader %s", before.Round.Number, d.Nodes[next].Name), func() bool {
		return signedAfter(d, next, before.Round.Number)
	})
	t.Logf("a round signed by %s %v after the kill", d.Nodes[next].Name, time.Since(killedAt).Round(time.Second))
	waitFor(t, d, 30*time.Second, "the restarted replica follows the new leader", func() bool {
		var st api.Status
		return d.GetJSON(context.Background(), killed, "/api/v1/status", &st) == nil &&
			st.Raft != nil && st.Raft.Role == "follower" && st.Raft.LeaderID == d.Nodes[next].RaftID
	})
	if body := get(t, "http://"+d.Nodes[next].Metrics+"/metrics"); !strings.Contains(body, "\nmetanode_raft_leader 1\n") ||
		!strings.Contains(body, "metanode_raft_commit_seconds_count") {
		t.Errorf("%s's metrics do not show it leading", d.Nodes[next].Name)
	}
	var peers api.Peers
	if err := d.GetJSON(context.Background(), 1, "/api/v1/peers", &peers); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(peers.Peers, func(p api.Peer) bool { return p.PeerID == d.Nodes[0].Peer.String() && p.Active }) {
		t.Errorf("node-1 does not list node-0 as active after the failover: %+v", peers.Peers)
	}

	if err := d.Stop(); err != nil {
		t.Fatalf("a clean stop: %v", err)
	}
	// a replica's log may only be behind another's, never different
	replicas := d.Replicas()
	for _, j := range replicas[1:] {
		a, b := filepath.Join(d.Nodes[replicas[0]].Home, "log"), filepath.Join(d.Nodes[j].Home, "log")
		if out, err := exec.Command(binary, "replay", "diff", "--log", a, "--log", b).CombinedOutput(); err != nil {
			t.Errorf("replay diff %s %s: %v\n%s", d.Nodes[replicas[0]].Name, d.Nodes[j].Name, err, out)
		}
	}
}
