package projections_test

import (
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

func sentPing(t *testing.T, seq uint64, at events.Time) *events.MessageSent {
	t.Helper()
	body, err := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(0), Seq: seq, Time: at})
	if err != nil {
		t.Fatal(err)
	}
	return &events.MessageSent{Msg: eventstest.Signed(events.TypePing, 0, body)}
}

func TestOwnPingsDue(t *testing.T) {
	o := &projections.OwnPings{}
	o.Apply(1, eventstest.Samples()[0]) // genesis: ping interval 3 s
	if _, due := o.PingDue(); due {
		t.Fatal("a ping is due before the clock has ticked")
	}
	at := func(s int) events.Time { return eventstest.Epoch.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		event   events.Event
		wantDue bool
		wantSeq uint64
	}{
		{&events.Tick{Time: at(0)}, true, 1},
		{sentPing(t, 1, at(0)), false, 0},
		{&events.Tick{Time: at(1)}, false, 0},
		{&events.Tick{Time: at(2)}, false, 0},
		{&events.Tick{Time: at(3)}, true, 2},
		{sentPing(t, 2, at(3)), false, 0},
		{&events.Tick{Time: at(10)}, true, 3}, // a late tick: due at once, no catching up
		// a ping received from someone else changes nothing
		{eventstest.PingReceived(4, 99), true, 3},
	}
	for i, step := range steps {
		o.Apply(uint64(i+2), step.event)
		ping, due := o.PingDue()
		if due != step.wantDue || (due && (ping.Seq != step.wantSeq || ping.PeerID != eventstest.Peer(0))) {
			t.Fatalf("step %d (%s): due=%t seq=%d, want due=%t seq=%d", i, step.event.Kind(), due, ping.Seq, step.wantDue, step.wantSeq)
		}
	}
}
