package tss_test

import (
	"context"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v3/common"
	"github.com/bnb-chain/tss-lib/v3/crypto"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

// signWith signs digest with the given parties' key data and checks the
// signature against pub.
func signWith(t *testing.T, parties []tss.Party, keys []*keygen.LocalPartySaveData, threshold int, pub *crypto.ECPoint) {
	t.Helper()
	var peers []events.PeerID
	for _, p := range parties {
		peers = append(peers, p.Peer)
	}
	net := tss.NewMemoryNetwork(peers)
	digest := eventstest.Hash("after")
	results := make([]tss.Result[*common.SignatureData], len(parties))
	var wg sync.WaitGroup
	for i := range parties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tss.Signing{Session: eventstest.Hash("sign-after"), Self: parties[i].Peer, Signers: parties, Threshold: threshold, Key: *keys[i], Digest: digest}
			results[i] = s.Run(context.Background(), net.Inbox(parties[i].Peer), net.Sender(parties[i].Peer))
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.Outcome != events.OutcomeSuccess {
			t.Fatalf("signer %d: %s %v", i, res.Outcome, res.Err)
		}
		if !tss.VerifySignature(pub, digest[:], res.Value.R, res.Value.S) {
			t.Fatalf("signer %d: signature does not verify", i)
		}
	}
}

func pubOf(k *keygen.LocalPartySaveData) *crypto.ECPoint { return k.ECDSAPub }

// TestKeygen runs a real keygen n=5 t=2 with upstream's pre-parameters
// (so no safe primes are generated here), then signs with three shares.
func TestKeygen(t *testing.T) {
	fixtures, _ := upstream(t)
	committee := make([]events.PeerID, 5)
	for i := range committee {
		committee[i] = eventstest.Peer(100 + i)
	}
	net := tss.NewMemoryNetwork(committee)
	results := make([]tss.Result[*keygen.LocalPartySaveData], 5)
	var wg sync.WaitGroup
	for i := range committee {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := tss.Keygen{Session: eventstest.Hash("keygen"), Self: committee[i], Committee: committee, Threshold: 2, PreParams: fixtures[i].LocalPreParams}
			results[i] = k.Run(context.Background(), net.Inbox(committee[i]), net.Sender(committee[i]))
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.Outcome != events.OutcomeSuccess {
			t.Fatalf("party %d: %s %v", i, res.Outcome, res.Err)
		}
		if !res.Value.ECDSAPub.Equals(results[0].Value.ECDSAPub) {
			t.Fatalf("party %d has another public key", i)
		}
	}
	signers := []tss.Party{{Peer: committee[1], Key: results[1].Value.ShareID}, {Peer: committee[3], Key: results[3].Value.ShareID}, {Peer: committee[4], Key: results[4].Value.ShareID}}
	signWith(t, signers, []*keygen.LocalPartySaveData{results[1].Value, results[3].Value, results[4].Value}, 2, pubOf(results[0].Value))
}

// TestResharing hands upstream's key from old parties 0, 1, 2 to a new
// committee of five (0, 1, 2 again and two newcomers): the public key
// stays, and three new shares sign under it.
func TestResharing(t *testing.T) {
	fixtures, all := upstream(t)
	old := all[:3]
	newCommittee := []events.PeerID{all[0].Peer, all[1].Peer, all[2].Peer, eventstest.Peer(200), eventstest.Peer(201)}
	peers := append([]events.PeerID{}, newCommittee...)
	net := tss.NewMemoryNetwork(peers)
	session := eventstest.Hash("regroup")
	var wg sync.WaitGroup
	oldResults := make([]tss.Result[*keygen.LocalPartySaveData], len(old))
	newResults := make([]tss.Result[*keygen.LocalPartySaveData], len(newCommittee))
	for i := range old {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fixtures[i]
			r := tss.Resharing{Session: session, Self: old[i].Peer, Old: old, New: newCommittee, OldThreshold: 2, NewThreshold: 2, Key: &key}
			oldResults[i] = r.Run(context.Background(), false, net.SideInbox(old[i].Peer, tss.SideOld), net.Sender(old[i].Peer))
		}()
	}
	for i := range newCommittee {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pre := fixtures[(i+3)%5].LocalPreParams // distinct pre-parameters per new party
			r := tss.Resharing{Session: session, Self: newCommittee[i], Old: old, New: newCommittee, OldThreshold: 2, NewThreshold: 2, PreParams: &pre}
			newResults[i] = r.Run(context.Background(), true, net.SideInbox(newCommittee[i], tss.SideNew), net.Sender(newCommittee[i]))
		}()
	}
	wg.Wait()
	for i, res := range oldResults {
		if res.Outcome != events.OutcomeSuccess {
			t.Fatalf("old party %d: %s %v", i, res.Outcome, res.Err)
		}
	}
	for i, res := range newResults {
		if res.Outcome != events.OutcomeSuccess {
			t.Fatalf("new party %d: %s %v", i, res.Outcome, res.Err)
		}
		if !res.Value.ECDSAPub.Equals(fixtures[0].ECDSAPub) {
			t.Fatalf("new party %d: the public key changed", i)
		}
	}
	signers := []tss.Party{{Peer: newCommittee[0], Key: newResults[0].Value.ShareID}, {Peer: newCommittee[3], Key: newResults[3].Value.ShareID}, {Peer: newCommittee[4], Key: newResults[4].Value.ShareID}}
	signWith(t, signers, []*keygen.LocalPartySaveData{newResults[0].Value, newResults[3].Value, newResults[4].Value}, 2, pubOf(&fixtures[0]))
}
