package projections_test

import (
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

// TestBlocksKeepLastExpired: the record keeps every block in force and
// the last MaxExpiredBlocks expired ones, in the order they were made.
func TestBlocksKeepLastExpired(t *testing.T) {
	b := &projections.Blocks{}
	b.Apply(1, eventstest.Samples()[0])
	b.Apply(2, &events.Tick{Time: eventstest.Epoch})
	extra := 40
	for i := range projections.MaxExpiredBlocks + extra {
		b.Add(projections.Block{Peer: eventstest.Peer(i % 7), Reason: projections.BlockTimeout, Round: int64(i)})
	}
	for i := range 3 {
		b.Add(projections.Block{Peer: eventstest.Peer(i), Reason: projections.BlockEquivocation, Round: int64(10_000 + i)})
	}
	b.Apply(3, &events.Tick{Time: eventstest.Epoch.Add(time.Hour)}) // the timeouts expired, the equivocations hold
	got := b.Culprits()
	if len(got) != projections.MaxExpiredBlocks+3 {
		t.Fatalf("%d entries kept, want %d expired + 3 in force", len(got), projections.MaxExpiredBlocks)
	}
	if got[0].Round != int64(extra) || got[projections.MaxExpiredBlocks-1].Round != int64(projections.MaxExpiredBlocks+extra-1) {
		t.Fatalf("kept expired rounds %d..%d, want the last made: %d..%d", got[0].Round, got[projections.MaxExpiredBlocks-1].Round, extra, projections.MaxExpiredBlocks+extra-1)
	}
	if len(b.Active()) != 3 || !b.Blocked(eventstest.Peer(2)) {
		t.Fatal("blocks in force were lost")
	}
}
