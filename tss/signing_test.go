package tss_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v3/common"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/tsstest"
)

// upstream loads tss-lib's own keygen fixtures (n=5, t=2) and gives
// fixture i the test peer id eventstest.Peer(i).
func upstream(t testing.TB) ([]keygen.LocalPartySaveData, []tss.Party) {
	t.Helper()
	keys, _, err := keygen.LoadKeygenTestFixtures(5)
	if err != nil {
		t.Fatal(err)
	}
	parties := make([]tss.Party, len(keys))
	for i, k := range keys {
		parties[i] = tss.Party{Peer: eventstest.Peer(i), Key: k.ShareID}
	}
	return keys, parties
}

// sign runs a signing session among the chosen fixture indexes over an
// in-memory network and returns every party's result. The session ends
// when the context is cancelled: by the caller's cancel, as a node does
// at the deadline tick of its clock, or when every party but those in
// waitless has finished. With firstEnds, the deadline comes as soon as
// any party not in waitless has ended: a node whose session failed logs
// it, and the others end theirs at their deadline.
func sign(t testing.TB, chosen []int, net *tss.MemoryNetwork, ctx context.Context, firstEnds bool, waitless ...events.PeerID) []tss.Result[*common.SignatureData] {
	t.Helper()
	keys, all := upstream(t)
	var signers []tss.Party
	var peers []events.PeerID
	for _, i := range chosen {
		signers = append(signers, all[i])
		peers = append(peers, all[i].Peer)
	}
	if net == nil {
		net = tss.NewMemoryNetwork(peers)
	}
	session := eventstest.Hash("session")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]tss.Result[*common.SignatureData], len(chosen))
	var wg, others sync.WaitGroup
	for j, i := range chosen {
		wg.Add(1)
		waits := !slices.Contains(waitless, all[i].Peer)
		if waits {
			others.Add(1)
		}
		go func() {
			defer wg.Done()
			s := tss.Signing{Session: session, Self: all[i].Peer, Signers: signers, Threshold: 2, Key: keys[i], Digest: eventstest.Hash("doc")}
			results[j] = s.Run(ctx, net.Inbox(all[i].Peer), net.Sender(all[i].Peer))
			if waits {
				if firstEnds {
					cancel()
				}
				others.Done()
			}
		}()
	}
	others.Wait()
	cancel()
	wg.Wait()
	return results
}

func TestSigningWithUpstreamFixtures(t *testing.T) {
	keys, _ := upstream(t)
	results := sign(t, []int{0, 2, 4}, nil, context.Background(), false)
	digest := eventstest.Hash("doc")
	for i, res := range results {
		if res.Outcome != events.OutcomeSuccess {
			t.Fatalf("party %d: %s: %v", i, res.Outcome, res.Err)
		}
		if !tss.VerifySignature(keys[0].ECDSAPub, digest[:], res.Value.R, res.Value.S) {
			t.Fatalf("party %d's signature does not verify under the group key", i)
		}
		other := eventstest.Hash("another doc")
		if tss.VerifySignature(keys[0].ECDSAPub, other[:], res.Value.R, res.Value.S) {
			t.Fatal("the signature verifies for another digest")
		}
	}
}

// TestSigningSilentPartyTimesOut: the deadline is a cancel, given once
// both honest parties' round-1 messages to each other are queued (in
// tss-lib v3.0.0 signing, round 1 is one broadcast and one message to each
// peer: 2 deliveries each way). Nothing waits on a wall clock.
func TestSigningSilentPartyTimesOut(t *testing.T) {
	_, all := upstream(t)
	silent := all[2].Peer
	net := tss.NewMemoryNetwork([]events.PeerID{all[0].Peer, all[1].Peer, all[2].Peer})
	ctx, deadline := context.WithCancel(context.Background())
	net.Tamper = func(from events.PeerID, _ *tss.Outgoing) bool { return from != silent }
	honestDeliveries := 0 // counted under the network's lock
	net.Delivered = func(from, to events.PeerID) {
		if to != silent {
			if honestDeliveries++; honestDeliveries == 4 {
				deadline()
			}
		}
	}
	results := sign(t, []int{0, 1, 2}, net, ctx, false)
	for i, res := range results[:2] {
		if res.Outcome != events.OutcomeTimeout || !slices.Equal(res.Culprits, []events.PeerID{silent}) {
			t.Fatalf("party %d: %s, culprits %v; want a timeout naming only the silent party", i, res.Outcome, res.Culprits)
		}
	}
}

func TestSigningCorruptShareNamesCulprit(t *testing.T) {
	_, all := upstream(t)
	liar := all[1].Peer
	net := tss.NewMemoryNetwork([]events.PeerID{all[0].Peer, all[1].Peer, all[2].Peer})
	net.Tamper = func(from events.PeerID, o *tss.Outgoing) bool {
		if from == liar && !o.Broadcast {
			o.Payload = corruptFirstBytesField(t, o.Payload)
		}
		return true
	}
	results := sign(t, []int{0, 1, 2}, net, context.Background(), true, liar)
	blamed := 0
	for i, res := range results {
		if all[[]int{0, 1, 2}[i]].Peer == liar {
			continue
		}
		if res.Outcome == events.OutcomeSuccess {
			t.Fatalf("party %d signed with a corrupt share", i)
		}
		if slices.Contains(res.Culprits, liar) && res.Outcome == events.OutcomeFailed {
			blamed++ // named by tss-lib's proof failure, not just waited for
		}
		t.Logf("party %d: %s culprits %d: %v", i, res.Outcome, len(res.Culprits), res.Err)
	}
	if blamed == 0 {
		t.Fatal("no honest party named the corrupting party")
	}
}

func corruptFirstBytesField(t *testing.T, payload []byte) []byte {
	t.Helper()
	out, err := tsstest.CorruptPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
