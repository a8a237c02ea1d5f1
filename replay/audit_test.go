package replay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/replay"
)

// TestAuditRound: the audit holds the round as it stood at its end, with
// its signing session's trail; a round without a tick is ErrNoRound.
func TestAuditRound(t *testing.T) {
	params := events.DefaultParams(5, 2)
	params.Network, params.NodeID = "testnet", eventstest.Peer(0)
	round := int64(eventstest.Epoch) / int64(params.SigningEpoch)
	session := eventstest.Hash("session")
	evs := []events.Event{
		&events.Genesis{Params: params},
		&events.Tick{Time: eventstest.Epoch},
		&events.TSSSessionStarted{Session: session, Protocol: events.SessionSigning, Round: round,
			Parties: []events.PeerID{eventstest.Peer(0), eventstest.Peer(1), eventstest.Peer(2)}},
		&events.TSSSessionFinished{Session: session, Outcome: events.OutcomeSuccess, Signature: []byte{0xab, 0xcd}},
		&events.Tick{Time: eventstest.Epoch.Add(time.Minute)}, // the next round
		&events.Tick{Time: eventstest.Epoch.Add(time.Minute + time.Second)},
	}
	s, err := events.Open(writeLog(t, evs), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	audit, err := replay.AuditRound(context.Background(), s, round)
	if err != nil {
		t.Fatal(err)
	}
	if audit.Round.Number != round || audit.Round.Outcome != "signed" || audit.LastSeq != 4 {
		t.Fatalf("audit of round %d: round %d %s, last seq %d", round, audit.Round.Number, audit.Round.Outcome, audit.LastSeq)
	}
	tr := audit.Session
	if tr == nil || tr.StartedSeq != 3 || tr.FinishedSeq != 4 || tr.Outcome != "success" || tr.Signature != "abcd" || len(tr.Parties) != 3 {
		t.Fatalf("session trail %+v", tr)
	}
	view := audit.View()
	if view.Round != round || view.Outcome != "signed" || view.Session != tr {
		t.Fatalf("view %+v", view)
	}
	// The next round is under way: its audit ends at the log's end.
	if next, err := replay.AuditRound(context.Background(), s, round+1); err != nil || next.LastSeq != 6 || next.Session != nil {
		t.Fatalf("audit of the current round: %+v, %v", next, err)
	}
	if _, err := replay.AuditRound(context.Background(), s, round+2); !errors.Is(err, replay.ErrNoRound) {
		t.Fatalf("audit of a round without ticks: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := replay.AuditRound(ctx, s, round); !errors.Is(err, context.Canceled) {
		t.Fatalf("audit with its context ended: %v", err)
	}
}
