package tss_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v3/common"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

// TestPublishedKeyCarriesShareProofs: every member's real share proves
// itself against the share point the published key lists for it, and
// against no other member's.
func TestPublishedKeyCarriesShareProofs(t *testing.T) {
	keys, parties := upstream(t)
	key, err := tss.PublishKey(&keys[0], parties, 2)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := tss.PublishKey(&keys[3], parties, 2)
	if key.KeyID != again.KeyID || !bytes.Equal(key.PublicKey, again.PublicKey) {
		t.Fatal("members publish different keys")
	}
	for i, member := range parties {
		ctx := tss.ProofContext{Purpose: tss.ProofForPing, KeyID: key.KeyID, Peer: member.Peer, Bucket: 9}
		proof, err := tss.ProveShare(tss.ShareScalar(&keys[i]), ctx)
		if err != nil {
			t.Fatal(err)
		}
		for j, sp := range key.SharePoints {
			if verified := tss.VerifyShare(sp.Point, proof, ctx); verified != (i == j) {
				t.Fatalf("member %d's proof against member %d's point: %t", i, j, verified)
			}
		}
	}
}

// TestCheckShare: each member's save data is its share of the published
// key, and no other member's; save data of another group key is no share
// of it at all.
func TestCheckShare(t *testing.T) {
	keys, parties := upstream(t)
	key, err := tss.PublishKey(&keys[0], parties, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		for j, member := range parties {
			if err := tss.CheckShare(&keys[i], key, member.Peer); (err == nil) != (i == j) {
				t.Fatalf("member %d's data as member %d's share: %v", i, j, err)
			}
		}
	}
	if err := tss.CheckShare(&keys[0], key, eventstest.Peer(99)); err == nil {
		t.Fatal("a share of a peer outside the committee")
	}
	other := *key
	other.PublicKey = append([]byte{}, key.PublicKey...)
	other.PublicKey[5] ^= 1
	if err := tss.CheckShare(&keys[0], &other, parties[0].Peer); err == nil || !strings.Contains(err.Error(), "another group key") {
		t.Fatalf("a share of another group key: %v", err)
	}
}

// TestSeededRand: with each party's randomness from a seeded reader,
// tss-lib v3 signing is reproducible (the same seeds give the same
// signature, whatever order messages arrive in), which is what a seeded
// simulation with real tss needs. A tss-lib upgrade that draws randomness
// elsewhere fails this test.
func TestSeededRand(t *testing.T) {
	keys, all := upstream(t)
	signers := all[:3]
	run := func() []byte {
		net := tss.NewMemoryNetwork([]events.PeerID{signers[0].Peer, signers[1].Peer, signers[2].Peer})
		results := make([]tss.Result[*common.SignatureData], 3)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := tss.Signing{Session: eventstest.Hash("seeded"), Self: signers[i].Peer, Signers: signers, Threshold: 2, Key: keys[i],
					Digest: eventstest.Hash("doc"), Rand: bytes.NewReader(eventstest.Bytes("seed"+string(rune('a'+i)), 1<<20))}
				results[i] = s.Run(context.Background(), net.Inbox(signers[i].Peer), net.Sender(signers[i].Peer))
			}()
		}
		wg.Wait()
		for _, r := range results {
			if r.Outcome != events.OutcomeSuccess {
				t.Fatalf("%s %v", r.Outcome, r.Err)
			}
		}
		d := eventstest.Hash("doc")
		if !tss.VerifySignature(keys[0].ECDSAPub, d[:], results[0].Value.R, results[0].Value.S) {
			t.Fatal("seeded signature invalid")
		}
		return append(results[0].Value.R, results[0].Value.S...)
	}
	if first, second := run(), run(); !bytes.Equal(first, second) {
		t.Fatal("the same seeds gave different signatures: tss-lib draws randomness outside params.Rand")
	}
}
