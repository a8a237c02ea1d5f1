package node_test

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// epochChain answers every stake check at once with a stake well past
// min_stake_age at eventstest.Epoch.
type epochChain struct{}

func (epochChain) CheckStake(peer events.PeerID, tx string, answer func(events.StakeChecked)) {
	answer(events.StakeChecked{Peer: peer, StakeTx: tx, Found: true, Confirmed: true,
		ConfirmedAt: eventstest.Epoch.Add(-100 * time.Hour), Amount: 100, BoundPeer: peer})
}

// TestMemberSharePendsUntilCurrent: S4 at a member, in the node. A keygen
// member that has made a new key and holds its new share keeps proving
// its share of the current key in its pings, announces the new key, and
// switches its proofs to the new share only when the key is current: on
// t+1 = 2 announcements alike, its own and one other member's.
func TestMemberSharePendsUntilCurrent(t *testing.T) {
	identity, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(eventstest.Bytes("member", 32)))
	if err != nil {
		t.Fatal(err)
	}
	params := events.DefaultParams(3, 1)
	params.Network, params.MinStake, params.KeygenUntil = "nodetest", 1, eventstest.Epoch.Add(time.Hour)
	scalar := func(label string) []byte { // below the group order
		b := eventstest.Bytes(label, 32)
		b[0] = 0
		return b
	}
	oldShare, newShare := scalar("old share"), scalar("new share")
	point := func(share []byte) []byte {
		p, err := tss.SharePoint(share)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The key the network starts on: this node and two peers that never
	// ping hold it.
	var self events.PeerID
	started := func(id events.PeerID) *events.KeyPublished {
		key := &events.KeyPublished{PublicKey: point(scalar("group")), Address: "vault", Threshold: 1, SharePoints: []events.SharePoint{
			{Peer: id, Point: point(oldShare)},
			{Peer: eventstest.Peer(7), Point: point(scalar("x7"))},
			{Peer: eventstest.Peer(8), Point: point(scalar("x8"))},
		}}
		key.KeyID = events.KeyIDOf(key.PublicKey, key.SharePoints)
		return key
	}
	var sent []events.Signed
	cfg := node.Config{Params: params, Identity: identity, Chain: epochChain{}, StakeTx: "stake-self", Share: oldShare, NoSync: true,
		Publish: func(m events.Signed) { sent = append(sent, m) }}
	probe, err := node.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	self = probe.ID()
	probe.Close()
	startKey := started(self)
	cfg.GenesisKey = startKey
	n, err := node.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	now := eventstest.Epoch.Add(-6 * time.Second)
	seq := uint64(0)
	tick := func() {
		t.Helper()
		now = now.Add(time.Second)
		if err := n.Tick(now.Std()); err != nil {
			t.Fatal(err)
		}
		seq++
		for _, peer := range []int{1, 2} { // the other members ping every second
			body, err := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(peer), Seq: seq, Time: now, StakeTx: "stake"})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Record(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, peer, body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// lastPing is the last ping sent, and which share its proof proves
	// ("old", "new" or "none").
	lastPing := func() (events.Ping, string) {
		t.Helper()
		for i := len(sent) - 1; i >= 0; i-- {
			if sent[i].Type != events.TypePing {
				continue
			}
			var p events.Ping
			if err := events.DecodePing(sent[i].Body, &p); err != nil {
				t.Fatal(err)
			}
			ctx := tss.ProofContext{Purpose: tss.ProofForPing, KeyID: p.KeyID, Peer: self, Bucket: projections.PingProofBucket(p.Time, params)}
			switch {
			case tss.VerifyShare(point(oldShare), p.TSSProof, ctx):
				return p, "old"
			case tss.VerifyShare(point(newShare), p.TSSProof, ctx):
				return p, "new"
			}
			return p, "none"
		}
		t.Fatal("no ping sent")
		return events.Ping{}, ""
	}
	for now < eventstest.Epoch { // the keygen attempt opens at the epoch
		tick()
	}
	var a *projections.Attempt
	n.View(func(s *projections.State) { a = s.Committees.Current() })
	if a == nil || !slices.Contains(a.Committee, self) || len(a.Committee) != 3 {
		t.Fatalf("no keygen attempt with this node in a committee of 3: %+v", a)
	}

	// Its session made the new key (a stand-in: no tss-lib here).
	newKey := events.KeyPublished{PublicKey: point(scalar("new group")), Address: "vault-2", Threshold: 1}
	for i, p := range a.Committee {
		share := scalar(fmt.Sprint("other share ", i))
		if p == self {
			share = newShare
		}
		newKey.SharePoints = append(newKey.SharePoints, events.SharePoint{Peer: p, Point: point(share)})
	}
	newKey.KeyID = events.KeyIDOf(newKey.PublicKey, newKey.SharePoints)
	own := newKey
	own.Session = a.Sum
	n.SetShare(newKey.KeyID, newShare)
	if err := n.Record(&events.TSSSessionFinished{Session: a.Sum, Outcome: events.OutcomeSuccess}, &own); err != nil {
		t.Fatal(err)
	}
	sent = nil
	for range 4 { // a ping is due every 3 s
		tick()
	}
	if p, share := lastPing(); p.KeyID != startKey.KeyID || share != "old" {
		t.Fatalf("with the new key not current yet, the ping names key %s and proves the %s share: want the start key and the old share",
			p.KeyID.String()[:12], share)
	}
	announced := slices.ContainsFunc(sent, func(m events.Signed) bool {
		var ann events.KeyAnnouncement
		return m.Type == events.TypeKey && events.Unmarshal(m.Body, &ann) == nil && ann.Session == a.Sum && ann.Key.KeyID == newKey.KeyID
	})
	if !announced {
		t.Fatal("the member did not announce the key it made")
	}

	other := slices.IndexFunc(a.Committee, func(p events.PeerID) bool { return p != self })
	peer := 1
	if a.Committee[other] == eventstest.Peer(2) {
		peer = 2
	}
	body, err := events.Marshal(nil, &events.KeyAnnouncement{Session: a.Sum, Key: newKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Record(&events.KeyAnnouncementReceived{Msg: eventstest.Signed(events.TypeKey, peer, body)}); err != nil {
		t.Fatal(err)
	}
	sent = nil
	for range 4 {
		tick()
	}
	if p, share := lastPing(); p.KeyID != newKey.KeyID || share != "new" {
		t.Fatalf("with the new key current, the ping names key %s and proves the %s share: want the new key and the new share",
			p.KeyID.String()[:12], share)
	}
}
