package devnet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/devnet"
	"github.com/metanode/metanode/node/api"
)

// TestByzantineProcess: the most senior node, always in the threshold
// set, is a real process that lies in its checksums. Every honest node
// blocks it on the evidence of its own signed checksum, and the network
// signs without it.
func TestByzantineProcess(t *testing.T) {
	d := setup(t, devnet.Config{Nodes: 5, DepositEvery: 5 * time.Second, Byzantine: map[int]string{0: "wrong-checksum"}})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	liar := d.Nodes[0].Peer.String()
	blockedEverywhere := func() bool {
		for i := 1; i < len(d.Nodes); i++ {
			var blocks api.Blocks
			if d.GetJSON(context.Background(), i, "/api/v1/blocks", &blocks) != nil {
				return false
			}
			if !slices.ContainsFunc(blocks.Blocks, func(b api.BlockRow) bool { return b.PeerID == liar && b.InForce && b.Reason == "checksum outlier" }) {
				return false
			}
		}
		return true
	}
	waitFor(t, d, 6*time.Minute, "every honest node blocks the lying node", blockedEverywhere)
	confirmed := d.Chain.Stats().Confirmed
	waitFor(t, d, 5*time.Minute, "a tx signed without the liar", func() bool { return d.Chain.Stats().Confirmed > confirmed })
	for i := 1; i < len(d.Nodes); i++ {
		var blocks api.Blocks
		if err := d.GetJSON(context.Background(), i, "/api/v1/blocks", &blocks); err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks.Blocks {
			if b.PeerID != liar && b.InForce {
				t.Errorf("node-%d blocks an honest node: %+v", i, b)
			}
		}
	}
}
