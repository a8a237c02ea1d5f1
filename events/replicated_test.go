package events_test

import (
	"testing"

	"github.com/metanode/metanode/events"
)

// A replica's store keeps the raft index of the last entry it appended,
// in the transaction of the entry's events: after a reopen it says which
// entries the log holds. Asynchronous appends land in the order queued.
func TestAppendReplicatedKeepsTheRaftIndex(t *testing.T) {
	dir := t.TempDir()
	store, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	encode := func(tick int64) events.Encoded {
		body, err := events.EncodeEvent(nil, &events.Tick{Time: events.Time(tick)})
		if err != nil {
			t.Fatal(err)
		}
		return events.Encoded{Kind: events.KindTick, Body: body}
	}
	if first, err := store.AppendReplicated(7, []events.Encoded{encode(1), encode(2)}); err != nil || first != 1 {
		t.Fatalf("first %d, %v", first, err)
	}
	a := store.AppendReplicatedAsync(9, []events.Encoded{encode(3)})
	b := store.AppendReplicatedAsync(12, []events.Encoded{encode(4), encode(5)})
	ra, rb := <-a, <-b
	if ra.Err != nil || rb.Err != nil || ra.First != 3 || rb.First != 4 {
		t.Fatalf("async appends at %d (%v) and %d (%v), want 3 and 4", ra.First, ra.Err, rb.First, rb.Err)
	}
	if got := store.RaftApplied(); got != 12 {
		t.Fatalf("raft index %d, want 12", got)
	}
	// an append of the node's own does not move it
	if _, err := store.Append(&events.Tick{Time: 6}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	store, err = events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if got := store.RaftApplied(); got != 12 {
		t.Fatalf("after a reopen: raft index %d, want 12", got)
	}
	want := events.Time(1)
	if err := store.ForEach(1, 0, func(seq uint64, ev events.Event) error {
		if ev.(*events.Tick).Time != want {
			t.Fatalf("seq %d: tick %d, want %d", seq, ev.(*events.Tick).Time, want)
		}
		want++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want != 7 {
		t.Fatalf("%d events, want 6", want-1)
	}
	closed := store.AppendReplicatedAsync(13, []events.Encoded{encode(7)})
	store.Close()
	<-closed // answered, appended or refused, never left waiting
}
