package node

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/metanode/metanode/events"
)

func proposalBody(t *testing.T, round int64, m0 byte) []byte {
	t.Helper()
	body, err := events.Marshal(nil, &events.Proposal{Round: round, M0: events.Hash{m0}})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestHighWaterRefusesASecondVersionAndOlderRounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "highwater.json")
	hw, err := openHighWater(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := hw.admit(events.TypeProposal, proposalBody(t, 5, 1)); err != nil {
		t.Fatalf("first proposal of round 5: %v", err)
	}
	if err := hw.admit(events.TypeProposal, proposalBody(t, 5, 1)); err != nil {
		t.Fatalf("the same proposal again: %v", err)
	}
	if err := hw.admit(events.TypeProposal, proposalBody(t, 5, 2)); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("another proposal for round 5: %v, want ErrDoubleSign", err)
	}
	if err := hw.admitSigning(5, events.Hash{1}); err != nil {
		t.Fatal(err)
	}
	// the marks survive a restart of the machine, whatever its log says
	hw, err = openHighWater(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := hw.admit(events.TypeProposal, proposalBody(t, 5, 3)); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("after reopening, another proposal for round 5: %v, want ErrDoubleSign", err)
	}
	if err := hw.admit(events.TypeProposal, proposalBody(t, 4, 1)); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("a proposal for round 4 after round 5: %v, want ErrDoubleSign", err)
	}
	if err := hw.admitSigning(5, events.Hash{2}); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("a second doc for signing round 5: %v, want ErrDoubleSign", err)
	}
	if err := hw.admit(events.TypeProposal, proposalBody(t, 6, 9)); err != nil {
		t.Fatalf("round 6: %v", err)
	}
	if hw.refused != 3 {
		t.Fatalf("refused %d, want 3", hw.refused)
	}
	// a ping has no mark
	if err := hw.admit(events.TypePing, []byte{0x80}); err != nil {
		t.Fatal(err)
	}
}

// The marks also come from the log: a replica that takes over knows what
// the former leader signed.
func TestHighWaterFromTheLog(t *testing.T) {
	hw, _ := openHighWater("")
	self := events.PeerID("self")
	hw.note(&events.MessageSent{Msg: events.Signed{Type: events.TypeProposal, From: self, Body: proposalBody(t, 7, 1)}}, self)
	hw.note(&events.TSSSessionStarted{Protocol: events.SessionSigning, Round: 7, M0: events.Hash{1}}, self)
	if err := hw.admit(events.TypeProposal, proposalBody(t, 7, 2)); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("another proposal for a round the log shows signed: %v", err)
	}
	if err := hw.admitSigning(7, events.Hash{2}); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("another doc for a round the log shows started: %v", err)
	}
}
