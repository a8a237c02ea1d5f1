package projections_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

// peerTable drives a Peers projection with a virtual clock.
type peerTable struct {
	t     *testing.T
	p     *projections.Peers
	now   events.Time
	seq   uint64
	pings map[int]uint64
}

func newPeerTable(t *testing.T) *peerTable {
	pt := &peerTable{t: t, p: projections.NewPeers(nil), now: eventstest.Epoch, pings: map[int]uint64{}}
	pt.apply(eventstest.Samples()[0]) // genesis: defaults, min stake 1, min age 72 h
	pt.apply(&events.Tick{Time: pt.now})
	return pt
}

func (pt *peerTable) apply(ev events.Event) {
	pt.seq++
	pt.p.Apply(pt.seq, ev)
}

func (pt *peerTable) advance(d time.Duration) {
	pt.now = pt.now.Add(d)
	pt.apply(&events.Tick{Time: pt.now})
}

func stakeTx(peer int) string { return fmt.Sprintf("stake-%d", peer) }

// ping sends peer's next ping, with the given time offset from our clock.
func (pt *peerTable) ping(peer int, skew time.Duration) {
	pt.pings[peer]++
	pt.pingSeq(peer, pt.pings[peer], skew)
}

func (pt *peerTable) pingSeq(peer int, seq uint64, skew time.Duration) {
	body, err := events.Marshal(nil, &events.Ping{
		PeerID: eventstest.Peer(peer), Seq: seq, Time: pt.now.Add(skew), StakeTx: stakeTx(peer),
	})
	if err != nil {
		pt.t.Fatal(err)
	}
	pt.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, peer, body)})
}

// stake answers a stake check for peer: a good stake confirmed age ago,
// changed by edit.
func (pt *peerTable) stake(peer int, age time.Duration, edit func(*events.StakeChecked)) {
	e := &events.StakeChecked{
		Peer: eventstest.Peer(peer), StakeTx: stakeTx(peer), Found: true, Confirmed: true,
		ConfirmedAt: pt.now.Add(-age), Amount: 100, BoundPeer: eventstest.Peer(peer),
	}
	if edit != nil {
		edit(e)
	}
	pt.apply(e)
}

func (pt *peerTable) list() []events.PeerID {
	var ids []events.PeerID
	for _, ps := range pt.p.List(nil) {
		ids = append(ids, ps.ID)
	}
	return ids
}

func (pt *peerTable) verdict(peer int) projections.PingVerdict {
	ps, ok := pt.p.Get(eventstest.Peer(peer))
	if !ok {
		pt.t.Fatalf("peer %d unknown", peer)
	}
	return ps.LastCheck
}

const old = 100 * time.Hour // older than the 72 h minimum stake age

func TestPingChecks(t *testing.T) {
	tests := []struct {
		name string
		send func(pt *peerTable)
		want projections.PingVerdict
	}{
		{"good ping", func(pt *peerTable) { pt.ping(1, 0) }, projections.PingAccepted},
		{"time 9 s ahead is within the 10 s skew", func(pt *peerTable) { pt.ping(1, 9*time.Second) }, projections.PingAccepted},
		{"time 11 s ahead", func(pt *peerTable) { pt.ping(1, 11*time.Second) }, projections.PingClockSkew},
		{"time 11 s behind", func(pt *peerTable) { pt.ping(1, -11*time.Second) }, projections.PingClockSkew},
		{"same seq again", func(pt *peerTable) { pt.pingSeq(1, 5, 0); pt.pingSeq(1, 5, 0) }, projections.PingReplayed},
		{"older seq", func(pt *peerTable) { pt.pingSeq(1, 5, 0); pt.pingSeq(1, 4, 0) }, projections.PingReplayed},
		{"seq may skip ahead", func(pt *peerTable) { pt.pingSeq(1, 5, 0); pt.pingSeq(1, 50, 0) }, projections.PingAccepted},
		{"body names another peer", func(pt *peerTable) {
			body, _ := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(2), Seq: 1, Time: pt.now})
			pt.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, 1, body)})
		}, projections.PingWrongSender},
		{"another network's genesis", func(pt *peerTable) {
			body, _ := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(1), Seq: 1, Time: pt.now, Genesis: eventstest.Hash("other network")})
			pt.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, 1, body)})
		}, projections.PingOtherNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPeerTable(t)
			tc.send(pt)
			if got := pt.verdict(1); got != tc.want {
				t.Fatalf("verdict %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRejectedPingDoesNotRefreshThePeer(t *testing.T) {
	pt := newPeerTable(t)
	pt.ping(1, 0)
	pt.stake(1, old, nil)
	pt.advance(8 * time.Second)
	pt.pingSeq(1, 1, 0) // a replay of the first ping
	pt.advance(3 * time.Second)
	if len(pt.list()) != 0 {
		t.Fatal("a replayed ping kept the peer alive past its expiry")
	}
}

func TestStakeRules(t *testing.T) {
	tests := []struct {
		name   string
		age    time.Duration
		edit   func(*events.StakeChecked)
		listed bool
	}{
		{"good stake", old, nil, true},
		{"exactly the minimum age", 72 * time.Hour, nil, true},
		{"too young", 71 * time.Hour, nil, false},
		{"below the minimum amount", old, func(e *events.StakeChecked) { e.Amount = 0 }, false},
		{"bound to another peer", old, func(e *events.StakeChecked) { e.BoundPeer = eventstest.Peer(9) }, false},
		{"unconfirmed", old, func(e *events.StakeChecked) { e.Confirmed = false }, false},
		{"not found", old, func(e *events.StakeChecked) { e.Found = false }, false},
		{"moved", old, func(e *events.StakeChecked) { e.Spent = true }, false},
		{"chain error", old, func(e *events.StakeChecked) { e.Error = "timeout" }, false},
		{"answer about another tx", old, func(e *events.StakeChecked) { e.StakeTx = "other" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPeerTable(t)
			pt.ping(1, 0)
			pt.stake(1, tc.age, tc.edit)
			if listed := len(pt.list()) == 1; listed != tc.listed {
				ps, _ := pt.p.Get(eventstest.Peer(1))
				t.Fatalf("listed=%t, want %t (%s)", listed, tc.listed, pt.p.StakeProblem(ps))
			}
		})
	}
}

func TestStakeComesOfAge(t *testing.T) {
	pt := newPeerTable(t)
	pt.ping(1, 0)
	pt.stake(1, 71*time.Hour, nil)
	if len(pt.list()) != 0 {
		t.Fatal("listed with a 71 h old stake")
	}
	for range 1200 { // an hour of pings every 3 s
		pt.advance(3 * time.Second)
		pt.ping(1, 0)
	}
	if len(pt.list()) != 1 {
		t.Fatal("not listed once the stake is 72 h old")
	}
}

func TestExpiry(t *testing.T) {
	pt := newPeerTable(t)
	pt.ping(1, 0)
	pt.stake(1, old, nil)
	pt.advance(10 * time.Second)
	if len(pt.list()) != 1 {
		t.Fatal("dropped at exactly peer_expiry")
	}
	pt.advance(time.Second)
	if len(pt.list()) != 0 {
		t.Fatal("still listed 11 s after its last ping")
	}
	pt.ping(1, 0)
	if len(pt.list()) != 1 {
		t.Fatal("a fresh ping did not bring the peer back")
	}
}

func TestSeniority(t *testing.T) {
	pt := newPeerTable(t)
	for _, peer := range []int{1, 2, 3, 4} {
		pt.ping(peer, 0)
	}
	pt.stake(1, 200*time.Hour, nil)
	pt.stake(2, 300*time.Hour, nil) // most senior
	pt.stake(3, 200*time.Hour, nil) // ties with 1: id bytes decide
	pt.stake(4, 100*time.Hour, nil)
	first, second := eventstest.Peer(1), eventstest.Peer(3)
	if second < first {
		first, second = second, first
	}
	want := []events.PeerID{eventstest.Peer(2), first, second, eventstest.Peer(4)}
	if got := pt.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}

	// Peer 2 moves its stake: it drops out; a new stake restarts its seniority.
	pt.stake(2, 300*time.Hour, func(e *events.StakeChecked) { e.Spent = true })
	if got := pt.list(); len(got) != 3 || got[0] == eventstest.Peer(2) {
		t.Fatalf("after moving its stake peer 2 is still listed: %v", got)
	}
	pt.pings[2]++
	body, _ := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(2), Seq: pt.pings[2], Time: pt.now, StakeTx: "new-stake"})
	pt.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, 2, body)})
	pt.apply(&events.StakeChecked{Peer: eventstest.Peer(2), StakeTx: "new-stake", Found: true, Confirmed: true,
		ConfirmedAt: pt.now.Add(-80 * time.Hour), Amount: 100, BoundPeer: eventstest.Peer(2)})
	if got := pt.list(); len(got) != 4 || got[3] != eventstest.Peer(2) {
		t.Fatalf("with a new 80 h stake peer 2 should be the most junior: %v", got)
	}
}

func TestBlockedPeersAreNotListed(t *testing.T) {
	pt := newPeerTable(t)
	pt.ping(1, 0)
	pt.ping(2, 0)
	pt.stake(1, old, nil)
	pt.stake(2, old, nil)
	list := pt.p.List(func(id events.PeerID) bool { return id == eventstest.Peer(1) })
	if len(list) != 1 || list[0].ID != eventstest.Peer(2) {
		t.Fatalf("blocked peer listed: %v", list)
	}
}

func TestStakeChecksDue(t *testing.T) {
	pt := newPeerTable(t)
	if len(pt.p.StakeChecksDue()) != 0 {
		t.Fatal("stake checks due with no peers")
	}
	pt.ping(1, 0)
	due := pt.p.StakeChecksDue()
	if len(due) != 1 || due[0] != (projections.StakeCheck{Peer: eventstest.Peer(1), StakeTx: stakeTx(1)}) {
		t.Fatalf("due %v, want a check of peer 1's stake", due)
	}
	pt.stake(1, old, nil)
	pt.advance(59 * time.Second)
	pt.ping(1, 0)
	if len(pt.p.StakeChecksDue()) != 0 {
		t.Fatal("rechecked within stake_recheck")
	}
	pt.advance(time.Second)
	pt.ping(1, 0)
	if len(pt.p.StakeChecksDue()) != 1 {
		t.Fatal("not rechecked after stake_recheck")
	}
	pt.advance(11 * time.Second)
	if len(pt.p.StakeChecksDue()) != 0 {
		t.Fatal("a check is due for a peer that stopped pinging")
	}
}
