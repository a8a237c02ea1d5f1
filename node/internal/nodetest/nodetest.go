// Package nodetest runs real nodes for the tests of the packages that
// read them (the REST API, the metrics): nodes on one synchronous bus,
// each with its stake on a chain that answers at once.
package nodetest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/node"
)

// Start is the wall-clock time of the first tick.
var Start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Params are a test network's: PROTOCOL.md's defaults for n=4, t=2.
func Params() events.Params {
	p := events.DefaultParams(4, 2)
	p.Network = "nodetest"
	return p
}

// Chain answers every stake check at once: the tx exists, is confirmed,
// old enough, bound to its peer and holds min_stake.
type Chain struct{}

// CheckStake implements node.StakeChain.
func (Chain) CheckStake(peer events.PeerID, tx string, answer func(events.StakeChecked)) {
	answer(events.StakeChecked{Peer: peer, StakeTx: tx, Found: true, Confirmed: true,
		ConfirmedAt: events.TimeOf(Start.Add(-100 * time.Hour)), Amount: Params().MinStake, BoundPeer: peer})
}

// Network opens count nodes in t.TempDir() on one bus (non-durable logs);
// configure, if set, adjusts each node's config. The nodes close with
// the test.
func Network(t testing.TB, count int, configure func(i int, cfg *node.Config)) []*node.Node {
	t.Helper()
	bus := net.NewBus()
	nodes := make([]*node.Node, count)
	for i := range nodes {
		cfg := node.Config{Params: Params(), Publish: bus.Publish, Chain: Chain{}, StakeTx: fmt.Sprintf("stake-%d", i), NoSync: true}
		if configure != nil {
			configure(i, &cfg)
		}
		n, err := node.Open(filepath.Join(t.TempDir(), fmt.Sprintf("node-%d", i)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		bus.Join(n.ID(), n)
		nodes[i] = n
	}
	return nodes
}

// Tick ticks every node once a second for seconds seconds from Start+from.
func Tick(t testing.TB, nodes []*node.Node, from, seconds int) {
	t.Helper()
	for s := from; s < from+seconds; s++ {
		for _, n := range nodes {
			if err := n.Tick(Start.Add(time.Duration(s) * time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Round is the signing round the tick at Start+second falls in.
func Round(second int) int64 {
	return int64(events.TimeOf(Start.Add(time.Duration(second)*time.Second))) / int64(Params().SigningEpoch)
}
