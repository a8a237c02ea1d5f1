package devnet_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/devnet"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node/api"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

// TestEndToEnd: five real metanode processes (t=2) on loopback, over
// libp2p, with real tss-lib on the test key. A round signs and the chain
// confirms its tx (its signature verified under the group key); then the
// most senior node is killed with SIGKILL and started again, rejoins, and
// a later round signs with it. Every node's log then replays to the
// state hash its API reported, and replay --verify passes on each.
func TestEndToEnd(t *testing.T) {
	d := setup(t, devnet.Config{Nodes: 5, DepositEvery: 5 * time.Second})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	waitFor(t, d, 6*time.Minute, "a signed tx confirmed by the chain", func() bool { return d.Chain.Stats().Confirmed >= 1 })
	var before api.Status
	if err := d.GetJSON(context.Background(), 1, "/api/v1/status", &before); err != nil {
		t.Fatal(err)
	}
	if err := d.Kill(0); err != nil {
		t.Fatal(err)
	}
	if err := d.StartNode(0); err != nil {
		t.Fatal(err)
	}
	killedRound := before.Round.Number
	waitFor(t, d, 8*time.Minute, "a round after the kill signed with the restarted node", func() bool {
		var rounds api.Rounds
		if d.GetJSON(context.Background(), 0, "/api/v1/rounds", &rounds) != nil {
			return false
		}
		return slices.ContainsFunc(rounds.Rounds, func(r api.Round) bool {
			return r.Number > killedRound && r.Session != nil && r.Session.Signed
		})
	})

	// The state hash each API reports is the replay of that node's log
	// to the seq it reports.
	reported := make([]api.Status, len(d.Nodes))
	for i := range d.Nodes {
		if err := d.GetJSON(context.Background(), i, "/api/v1/status", &reported[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("a clean stop: %v", err)
	}
	for i, n := range d.Nodes {
		logDir := filepath.Join(n.Home, "log")
		store, err := events.Open(logDir, events.Options{})
		if err != nil {
			t.Fatal(err)
		}
		state := projections.NewState()
		_, err = replay.Run(store, state, replay.Until{Seq: reported[i].Log.Seq})
		store.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := projections.StateHash(state).String(); got != reported[i].Log.StateHash {
			t.Errorf("node-%d: its log replays to %s at seq %d, its API said %s", i, got, reported[i].Log.Seq, reported[i].Log.StateHash)
		}
		if out, err := exec.Command(binary, "replay", "--verify", "--log", logDir).CombinedOutput(); err != nil {
			t.Errorf("node-%d: replay --verify: %v\n%s", i, err, out)
		}
	}
}
