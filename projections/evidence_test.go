package projections_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/projections"
)

// signer is a real Ed25519 identity, for evidence whose signatures must
// verify.
type signer struct {
	key crypto.PrivKey
	id  events.PeerID
}

func newSigner(t *testing.T, label string) signer {
	t.Helper()
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(eventstest.Bytes(label, 32)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key, events.PeerID(id)}
}

func (s signer) sign(t *testing.T, typ string, body any) events.Signed {
	t.Helper()
	data, err := events.Marshal(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := net.Sign(s.key, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCheckEquivocation: a pair is evidence only when a third party can
// check it alone: two valid signatures, one sender, one type, one round,
// different bodies, a recent round.
func TestCheckEquivocation(t *testing.T) {
	params := events.DefaultParams(4, 2)
	now := eventstest.Epoch
	round := int64(now) / int64(params.SigningEpoch)
	a, b := newSigner(t, "a"), newSigner(t, "b")
	set := func(s signer, r int64, label string) events.Signed {
		return s.sign(t, events.TypeSigningSet, &events.SigningSet{Round: r, M0: eventstest.Hash(label), Members: []events.PeerID{s.id}})
	}
	forged := set(a, round, "y")
	forged.Sig = append([]byte{}, forged.Sig...)
	forged.Sig[0] ^= 1
	old := round - int64(params.BlockEquivocation/params.SigningEpoch) - 1
	tests := []struct {
		name  string
		x, y  events.Signed
		valid bool
	}{
		{"two sets of one round", set(a, round, "x"), set(a, round, "y"), true},
		{"the same set twice", set(a, round, "x"), set(a, round, "x"), false},
		{"two rounds", set(a, round, "x"), set(a, round+1, "y"), false},
		{"two senders", set(a, round, "x"), set(b, round, "y"), false},
		{"a forged signature", set(a, round, "x"), forged, false},
		{"a round past the evidence window", set(a, old, "x"), set(a, old, "y"), false},
		{"two types", set(a, round, "x"), a.sign(t, events.TypeChecksum, &events.Checksum{Round: round}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := projections.CheckEquivocation(params, now, &tc.x, &tc.y)
			if (err == nil) != tc.valid {
				t.Fatalf("CheckEquivocation = %v, want valid %t", err, tc.valid)
			}
		})
	}
}

// TestEvidenceBlocksOnlyAdmitted: gossiped evidence blocks an admitted
// peer at a node that saw neither message, and a duty to gossip it is
// not raised again; evidence against a throwaway key blocks nobody.
func TestEvidenceBlocksOnlyAdmitted(t *testing.T) {
	w, _ := newWatcher(t)
	params := w.state.Summary.Params()
	round := int64(w.now) / int64(params.SigningEpoch)
	stranger := newSigner(t, "stranger")
	pair := func(s signer) events.Evidence {
		x := s.sign(t, events.TypeProposal, &events.Proposal{Round: round, M0: eventstest.Hash("x")})
		y := s.sign(t, events.TypeProposal, &events.Proposal{Round: round, M0: eventstest.Hash("y")})
		return events.Evidence{A: x, B: y}
	}
	w.apply(&events.EvidenceReceived{Msg: w.signed(eventstest.Peer(0), events.TypeEvidence, ptrEvidence(pair(stranger)))})
	if w.state.Blocks.Blocked(stranger.id) {
		t.Fatal("evidence against a throwaway key blocked it")
	}
	// Admit the equivocator: a valid stake answer.
	w.apply(&events.StakeChecked{Peer: stranger.id, StakeTx: "stake-x", Found: true, Confirmed: true,
		ConfirmedAt: w.now.Add(-100 * time.Hour), Amount: 100, BoundPeer: stranger.id})
	ping := stranger.sign(t, events.TypePing, &events.Ping{PeerID: stranger.id, Seq: 1, Time: w.now, StakeTx: "stake-x"})
	w.apply(&events.PingReceived{Msg: ping})
	w.apply(&events.StakeChecked{Peer: stranger.id, StakeTx: "stake-x", Found: true, Confirmed: true,
		ConfirmedAt: w.now.Add(-100 * time.Hour), Amount: 100, BoundPeer: stranger.id})
	if !w.state.Peers.Admitted(stranger.id) {
		t.Fatal("test setup: the peer is not admitted")
	}
	w.apply(&events.EvidenceReceived{Msg: w.signed(eventstest.Peer(0), events.TypeEvidence, ptrEvidence(pair(stranger)))})
	if !w.state.Blocks.BlockedFor(stranger.id, projections.BlockEquivocation) {
		t.Fatal("valid evidence against an admitted peer did not block it")
	}
	for _, d := range w.state.Duties() {
		if d.Kind == projections.DutySendEvidence {
			t.Fatal("evidence learnt from gossip raised a duty to gossip it again")
		}
	}
}

func ptrEvidence(e events.Evidence) *events.Evidence { return &e }
