package projections_test

import (
	"reflect"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

func TestSummary(t *testing.T) {
	s := projections.NewSummary()
	evs := []events.Event{
		eventstest.Samples()[0], // genesis of node Peer(0)
		&events.Tick{Time: eventstest.Epoch},
		eventstest.PingReceived(3, 1),
		eventstest.PingReceived(1, 1),
		eventstest.PingReceived(3, 2),
		&events.MessageSent{Msg: eventstest.Signed(events.TypePing, 0, eventstest.PingBody(0, 1))},
		&events.Tick{Time: eventstest.Epoch + 3e9},
	}
	for i, ev := range evs {
		s.Apply(uint64(i+1), ev)
	}
	if s.Events != 7 || s.LastSeq != 7 || s.LastTick != eventstest.Epoch+3e9 {
		t.Errorf("events %d, last seq %d, last tick %v", s.Events, s.LastSeq, s.LastTick)
	}
	if s.Network != "testnet" || s.NodeID != eventstest.Peer(0) {
		t.Errorf("genesis not taken: %q %q", s.Network, s.NodeID.Short())
	}
	wantPeers := []events.PeerID{eventstest.Peer(1), eventstest.Peer(3)}
	if eventstest.Peer(3) < eventstest.Peer(1) {
		wantPeers[0], wantPeers[1] = wantPeers[1], wantPeers[0]
	}
	if got := s.Peers(); !reflect.DeepEqual(got, wantPeers) {
		t.Errorf("peers %v, want %v (sorted, our own messages excluded)", got, wantPeers)
	}
	wantKinds := []projections.KindCount{
		{Kind: events.KindGenesis, Name: "genesis", Count: 1},
		{Kind: events.KindTick, Name: "tick", Count: 2},
		{Kind: events.KindPingReceived, Name: "ping-received", Count: 3},
		{Kind: events.KindMessageSent, Name: "message-sent", Count: 1},
	}
	if got := s.PerKind(); !reflect.DeepEqual(got, wantKinds) {
		t.Errorf("per kind %+v, want %+v", got, wantKinds)
	}
}

// TestSummaryStateIsCanonical: the state hash depends on the set
// of peers, not on the order the map happens to hold them in.
func TestSummaryStateIsCanonical(t *testing.T) {
	a, b := projections.NewSummary(), projections.NewSummary()
	for i := 1; i <= 50; i++ {
		a.Apply(uint64(i), eventstest.PingReceived(i, 1))
		b.Apply(uint64(i), eventstest.PingReceived(51-i, 1))
	}
	if projections.StateHash(a) != projections.StateHash(b) {
		t.Fatal("the same peers seen in another order give another state hash")
	}
	a.Apply(51, eventstest.PingReceived(99, 1))
	b.Apply(51, eventstest.PingReceived(98, 1))
	if projections.StateHash(a) == projections.StateHash(b) {
		t.Fatal("different peers give the same state hash")
	}
}
