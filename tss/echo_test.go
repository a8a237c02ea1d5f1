package tss_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// TestBroadcastEquivocationNamesSender: a signer shows one party one
// version of each of its broadcasts and the other party another. Without
// the echo each honest party would compute with its own view; with it
// both find the two versions and fail naming the liar, and only it.
func TestBroadcastEquivocationNamesSender(t *testing.T) {
	_, all := upstream(t)
	liar, fooled := all[1].Peer, all[2].Peer
	net := tss.NewMemoryNetwork([]events.PeerID{all[0].Peer, liar, fooled})
	net.TamperCopy = func(from, to events.PeerID, in *tss.Incoming) bool {
		if from == liar && to == fooled && in.Broadcast && len(in.Payload) > 0 {
			in.Payload = corruptFirstBytesField(t, in.Payload)
		}
		return true
	}
	// The honest parties end on their own; the timeout only keeps a
	// broken check from hanging the test (it then fails on the outcome).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results := sign(t, []int{0, 1, 2}, net, ctx, false, liar)
	for i, res := range results {
		if i == 1 {
			continue
		}
		if res.Outcome != events.OutcomeFailed || !slices.Equal(res.Culprits, []events.PeerID{liar}) || !errors.Is(res.Err, tss.ErrEquivocatedBroadcast) {
			t.Fatalf("party %d: %s, culprits %v, %v; want a failure naming only the liar for two broadcasts", i, res.Outcome, res.Culprits, res.Err)
		}
	}
}

// TestBroadcastEchoLyingEchoer: a party that echoes hashes nobody sent
// holds the honest parties' broadcasts back (each waits for every other
// receiver's agreement), so the session times out; at the deadline the
// liar is named and the honest senders whose broadcasts were held are
// not. The deadline comes once the honest parties have exchanged their
// round-1 messages and echoes (2 deliveries each way, then each echoes
// the other's and the liar's broadcast to the other: 8) and the liar's
// round-1 messages and lying echoes have reached them (8 more), after
// which nothing more can happen.
func TestBroadcastEchoLyingEchoer(t *testing.T) {
	_, all := upstream(t)
	liar := all[1].Peer
	net := tss.NewMemoryNetwork([]events.PeerID{all[0].Peer, liar, all[2].Peer})
	ctx, deadline := context.WithCancel(context.Background())
	net.Tamper = func(from events.PeerID, o *tss.Outgoing) bool {
		if from == liar {
			for i := range o.Echo {
				o.Echo[i].Hash[0] ^= 1
			}
		}
		return true
	}
	// Counted under the network's lock: the liar's round-1 messages and
	// echoes to the honest parties are 8 deliveries too.
	honest, fromLiar := 0, 0
	net.Delivered = func(from, to events.PeerID) {
		switch {
		case from != liar && to != liar:
			honest++
		case from == liar:
			fromLiar++
		}
		if honest == 8 && fromLiar == 8 {
			deadline()
		}
	}
	results := sign(t, []int{0, 1, 2}, net, ctx, false, liar)
	for i, res := range results {
		if i == 1 {
			continue
		}
		if res.Outcome != events.OutcomeTimeout || !slices.Equal(res.Culprits, []events.PeerID{liar}) {
			t.Fatalf("party %d: %s, culprits %v, %v; want a timeout naming the lying echoer alone", i, res.Outcome, res.Culprits, res.Err)
		}
	}
}
