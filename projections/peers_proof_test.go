package projections_test

import (
	"crypto/sha512"
	"fmt"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// testShare is committee member i's secret share in these tests.
func testShare(i int) []byte {
	s := sha512.Sum512_256([]byte(fmt.Sprintf("share/%d", i)))
	return s[:]
}

// publishKey publishes a key whose committee is peers 1..n.
func publishKey(t *testing.T, n int) *events.KeyPublished {
	t.Helper()
	key := &events.KeyPublished{KeyID: eventstest.Hash("test key"), Threshold: n / 2}
	for i := 1; i <= n; i++ {
		point, err := tss.SharePoint(testShare(i))
		if err != nil {
			t.Fatal(err)
		}
		key.SharePoints = append(key.SharePoints, events.SharePoint{Peer: eventstest.Peer(i), Point: point})
	}
	return key
}

func newKeyedTable(t *testing.T) (*peerTable, *events.KeyPublished) {
	keys := &projections.Keys{}
	pt := &peerTable{t: t, p: projections.NewPeers(keys), now: eventstest.Epoch, pings: map[int]uint64{}}
	key := publishKey(t, 3)
	for _, ev := range []events.Event{eventstest.Samples()[0], key, &events.Tick{Time: pt.now}} {
		pt.seq++
		keys.Apply(pt.seq, ev)
		pt.p.Apply(pt.seq, ev)
	}
	return pt, key
}

// provedPing sends a ping of peer carrying a proof made with share.
func (pt *peerTable) provedPing(peer int, keyID events.Hash, share []byte) {
	pt.t.Helper()
	pt.pings[peer]++
	ping := events.Ping{PeerID: eventstest.Peer(peer), Seq: pt.pings[peer], Time: pt.now, StakeTx: stakeTx(peer), KeyID: keyID}
	if share != nil {
		params := eventstest.Samples()[0].(*events.Genesis).Params
		proof, err := tss.ProveShare(share, tss.ProofContext{
			Purpose: tss.ProofForPing, KeyID: keyID, Peer: ping.PeerID, Bucket: projections.PingProofBucket(ping.Time, params),
		})
		if err != nil {
			pt.t.Fatal(err)
		}
		ping.TSSProof = proof
	}
	body, err := events.Marshal(nil, &ping)
	if err != nil {
		pt.t.Fatal(err)
	}
	pt.seq++
	pt.p.Apply(pt.seq, &events.PingReceived{Msg: eventstest.Signed(events.TypePing, peer, body)})
}

func TestPingShareProofs(t *testing.T) {
	tests := []struct {
		name        string
		send        func(pt *peerTable, key events.Hash)
		wantVerdict projections.PingVerdict
		wantProved  bool
	}{
		{"member with its share", func(pt *peerTable, key events.Hash) { pt.provedPing(1, key, testShare(1)) }, projections.PingAccepted, true},
		{"member with another member's share", func(pt *peerTable, key events.Hash) { pt.provedPing(1, key, testShare(2)) }, projections.PingBadProof, false},
		{"member without a proof", func(pt *peerTable, key events.Hash) { pt.provedPing(1, key, nil) }, projections.PingBadProof, false},
		{"member announcing an old key", func(pt *peerTable, _ events.Hash) { pt.provedPing(1, eventstest.Hash("old"), nil) }, projections.PingAccepted, false},
		{"non-member without a proof", func(pt *peerTable, key events.Hash) { pt.provedPing(7, key, nil) }, projections.PingAccepted, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, key := newKeyedTable(t)
			tc.send(pt, key.KeyID)
			var peer int
			for p := range pt.pings {
				peer = p
			}
			ps, _ := pt.p.Get(eventstest.Peer(peer))
			if ps.LastCheck != tc.wantVerdict || ps.ProvedShare != tc.wantProved {
				t.Fatalf("verdict %q proved %t, want %q %t", ps.LastCheck, ps.ProvedShare, tc.wantVerdict, tc.wantProved)
			}
		})
	}
}

// TestProofsAcrossBuckets: a proof stays valid within its epoch and must
// be renewed in the next one.
func TestProofsAcrossBuckets(t *testing.T) {
	pt, key := newKeyedTable(t)
	pt.provedPing(1, key.KeyID, testShare(1))
	// Replaying the same proof bytes 3 s later, same epoch: fine.
	ps, _ := pt.p.Get(eventstest.Peer(1))
	oldProof := ps.TSSProof
	pt.advance(3 * time.Second)
	sendRaw := func(proof []byte) {
		pt.pings[1]++
		body, _ := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(1), Seq: pt.pings[1], Time: pt.now, StakeTx: stakeTx(1), KeyID: key.KeyID, TSSProof: proof})
		pt.seq++
		pt.p.Apply(pt.seq, &events.PingReceived{Msg: eventstest.Signed(events.TypePing, 1, body)})
	}
	sendRaw(oldProof)
	if ps.LastCheck != projections.PingAccepted {
		t.Fatalf("the same proof within its epoch: %q", ps.LastCheck)
	}
	pt.advance(time.Minute)
	sendRaw(oldProof)
	// a peer never admitted is forgotten after stake_recheck: a new entry
	ps, _ = pt.p.Get(eventstest.Peer(1))
	if ps.LastCheck != projections.PingBadProof {
		t.Fatalf("last epoch's proof: %q, want bad proof", ps.LastCheck)
	}
	pt.provedPing(1, key.KeyID, testShare(1))
	if ps.LastCheck != projections.PingAccepted || !ps.ProvedShare {
		t.Fatalf("a fresh proof: %q", ps.LastCheck)
	}
}
