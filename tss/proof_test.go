package tss_test

import (
	"bytes"
	"crypto/sha512"
	"testing"

	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

func share(label string) []byte {
	s := sha512.Sum512_256([]byte(label))
	return s[:]
}

func TestShareProof(t *testing.T) {
	x := share("alice")
	point, err := tss.SharePoint(x)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tss.ProofContext{Purpose: tss.ProofForPing, KeyID: eventstest.Hash("key"), Peer: eventstest.Peer(1), Bucket: 1000}
	proof, err := tss.ProveShare(x, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(proof) != tss.ShareProofSize || !tss.VerifyShare(point, proof, ctx) {
		t.Fatal("a proof does not verify")
	}
	again, _ := tss.ProveShare(x, ctx)
	if !bytes.Equal(proof, again) {
		t.Fatal("proofs are not deterministic")
	}

	otherPoint, _ := tss.SharePoint(share("bob"))
	flipped := bytes.Clone(proof)
	flipped[40] ^= 1
	tests := []struct {
		name  string
		point []byte
		proof []byte
		ctx   tss.ProofContext
	}{
		{"another share point", otherPoint, proof, ctx},
		{"another peer", point, proof, tss.ProofContext{Purpose: ctx.Purpose, KeyID: ctx.KeyID, Peer: eventstest.Peer(2), Bucket: ctx.Bucket}},
		{"another key", point, proof, tss.ProofContext{Purpose: ctx.Purpose, KeyID: eventstest.Hash("key2"), Peer: ctx.Peer, Bucket: ctx.Bucket}},
		{"another bucket (a replayed ping)", point, proof, tss.ProofContext{Purpose: ctx.Purpose, KeyID: ctx.KeyID, Peer: ctx.Peer, Bucket: 1001}},
		{"a ping proof used for a proposal", point, proof, tss.ProofContext{Purpose: tss.ProofForProposal, KeyID: ctx.KeyID, Peer: ctx.Peer, Bucket: ctx.Bucket}},
		{"flipped s", point, flipped, ctx},
		{"empty proof", point, nil, ctx},
		{"garbage point", []byte{2, 1, 2, 3}, proof, ctx},
		{"s out of range", point, append(bytes.Clone(proof[:33]), bytes.Repeat([]byte{0xff}, 32)...), ctx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tss.VerifyShare(tc.point, tc.proof, tc.ctx) {
				t.Fatal("verified")
			}
		})
	}
}

func TestBadShares(t *testing.T) {
	for _, bad := range [][]byte{nil, make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), make([]byte, 31)} {
		if _, err := tss.ProveShare(bad, tss.ProofContext{}); err == nil {
			t.Errorf("share %x accepted", bad)
		}
	}
}

func FuzzVerifyShare(f *testing.F) {
	x := share("fuzz")
	point, _ := tss.SharePoint(x)
	ctx := tss.ProofContext{Purpose: tss.ProofForPing, Bucket: 7}
	proof, _ := tss.ProveShare(x, ctx)
	f.Add(point, proof)
	f.Fuzz(func(t *testing.T, point, proof []byte) {
		tss.VerifyShare(point, proof, ctx) // must not panic
	})
}

func BenchmarkVerifyShare(b *testing.B) {
	x := share("bench")
	point, _ := tss.SharePoint(x)
	ctx := tss.ProofContext{Purpose: tss.ProofForPing, Bucket: 7}
	proof, _ := tss.ProveShare(x, ctx)
	for range b.N {
		if !tss.VerifyShare(point, proof, ctx) {
			b.Fatal("no")
		}
	}
}
