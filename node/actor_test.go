package node

import (
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
)

// lockProbe is tss-lib's randomness for a session step that also looks
// at the node's lock each time tss-lib reads it: whether the lock was
// free while a step ran.
type lockProbe struct {
	n          *atomic.Pointer[Node]
	free, held *atomic.Int64
}

func (p lockProbe) Read(b []byte) (int, error) {
	if n := p.n.Load(); n != nil {
		if n.mu.TryLock() {
			n.mu.Unlock()
			p.free.Add(1)
		} else {
			p.held.Add(1)
		}
	}
	return rand.Read(b)
}

// signWithActors runs one real signing session (3 signers of the 5/2
// test key, on nodes wired to each other in memory) and reports how
// often tss-lib, inside a step, found its node's lock free or held.
func signWithActors(t *testing.T, async bool) (free, held int64) {
	keys, err := testkeys.Load(testkeys.FS, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	const signers = 3
	ids := make([]crypto.PrivKey, len(keys))
	parties := make([]tss.Party, len(keys))
	for i := range keys {
		ids[i], _, err = crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := peer.IDFromPrivateKey(ids[i])
		parties[i] = tss.Party{Peer: events.PeerID(pid), Key: keys[i].ShareID}
	}
	key, err := tss.PublishKey(&keys[0], parties, 2)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	params := events.DefaultParams(5, 2)
	params.Network = "actortest"
	var freeN, heldN atomic.Int64
	nodes := make([]*Node, signers)
	ptrs := make([]atomic.Pointer[Node], signers)
	var wg sync.WaitGroup
	wg.Add(signers)
	results := make([]*events.TSSSessionFinished, signers)
	publish := func(from int) func(events.Signed) {
		return func(m events.Signed) {
			for j := range nodes {
				if j != from && nodes[j] != nil {
					nodes[j].Receive(m)
				}
			}
		}
	}
	for i := range signers {
		dir := t.TempDir()
		store, err := tss.OpenShareStore(filepath.Join(dir, "shares"), []byte(fmt.Sprintf("actor test %d", i)), tss.ShareStoreOptions{Peer: parties[i].Peer, InsecureTestKDF: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save(key.KeyID, &keys[i]); err != nil {
			t.Fatal(err)
		}
		probe := lockProbe{n: &ptrs[i], free: &freeN, held: &heldN}
		nodes[i], err = Open(dir, Config{Params: params, Identity: ids[i], Publish: publish(i), NoSync: true, GenesisKey: key,
			TSS: &TSS{Shares: store, Async: async,
				Rand: func(events.Hash, tss.Side) io.Reader { return probe },
				Finished: func(_ projections.Duty, fin *events.TSSSessionFinished, _ *events.KeyPublished) {
					results[i] = fin
					wg.Done()
				}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nodes[i].Close() })
		ptrs[i].Store(nodes[i])
		if err := nodes[i].Tick(t0); err != nil {
			t.Fatal(err)
		}
	}
	// Each signer admits the others: a ping with a valid share proof and
	// a valid stake answer.
	for i, n := range nodes {
		for j := range signers {
			if j == i {
				continue
			}
			peerID := parties[j].Peer
			proof, err := tss.ProveShare(tss.ShareScalar(&keys[j]), tss.ProofContext{Purpose: tss.ProofForPing, KeyID: key.KeyID, Peer: peerID,
				Bucket: projections.PingProofBucket(events.TimeOf(t0), params)})
			if err != nil {
				t.Fatal(err)
			}
			body, err := events.Marshal(nil, &events.Ping{PeerID: peerID, Seq: 1, Time: events.TimeOf(t0), StakeTx: "stake", TSSProof: proof, KeyID: key.KeyID})
			if err != nil {
				t.Fatal(err)
			}
			ping, err := net.Sign(ids[j], events.TypePing, body)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Record(&events.PingReceived{Msg: ping}, &events.StakeChecked{Peer: peerID, StakeTx: "stake", Found: true, Confirmed: true,
				Amount: 100, BoundPeer: peerID, ConfirmedAt: events.TimeOf(t0.Add(-1000 * time.Hour))}); err != nil {
				t.Fatal(err)
			}
			if !n.Admits(peerID, events.TypeTSS) {
				t.Fatalf("signer %d does not admit signer %d", i, j)
			}
		}
	}
	m0 := sha512.Sum512_256([]byte("doc"))
	duty := projections.Duty{Kind: projections.DutyStartSigning, Session: sha512.Sum512_256([]byte("session")), M0: m0,
		Signers: []events.PeerID{parties[0].Peer, parties[1].Peer, parties[2].Peer}}
	for _, n := range nodes {
		var fx effects
		n.mu.Lock()
		if err := n.record(duty.StartEvent()); err != nil {
			t.Fatal(err)
		}
		if err := n.openSession(duty, &fx); err != nil {
			t.Fatal(err)
		}
		n.mu.Unlock()
		n.apply(&fx)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the signing session did not finish within 2 minutes")
	}
	for i, fin := range results {
		if fin.Outcome != events.OutcomeSuccess || !tss.VerifyCompact(key.PublicKey, m0[:], fin.Signature) {
			t.Fatalf("signer %d: %s %s", i, fin.Outcome, fin.Error)
		}
	}
	return freeN.Load(), heldN.Load()
}

// TestSessionActors: with TSS.Async a signing session's tss-lib steps run
// off the node's lock (tss-lib, mid-step, finds the lock free), and the
// session signs; inline, every step runs under the lock.
func TestSessionActors(t *testing.T) {
	free, held := signWithActors(t, true)
	if free == 0 {
		t.Fatalf("async: the node's lock was held during every step (%d reads)", held)
	}
	free, held = signWithActors(t, false)
	if free != 0 || held == 0 {
		t.Fatalf("inline: the lock was free during %d of %d reads, want held throughout", free, free+held)
	}
}
