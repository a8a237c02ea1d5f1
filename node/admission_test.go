package node

import (
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/projections"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// queuedChain keeps the questions until the test answers them; valid
// says which stake txs exist. It records whether the node's lock was
// free when asked.
type queuedChain struct {
	n        *Node
	valid    map[string]bool
	asked    []projections.StakeCheck
	answers  []func(events.StakeChecked)
	underMu  bool
	minStake uint64
}

func (c *queuedChain) CheckStake(p events.PeerID, tx string, answer func(events.StakeChecked)) {
	if c.n.mu.TryLock() {
		c.n.mu.Unlock()
	} else {
		c.underMu = true
	}
	c.asked = append(c.asked, projections.StakeCheck{Peer: p, StakeTx: tx})
	c.answers = append(c.answers, answer)
}

// answerAll answers every open question.
func (c *queuedChain) answerAll() {
	asked, answers := c.asked, c.answers
	c.asked, c.answers = nil, nil
	for i, q := range asked {
		ans := events.StakeChecked{Peer: q.Peer, StakeTx: q.StakeTx}
		if c.valid[q.StakeTx] {
			ans.Found, ans.Confirmed, ans.Amount, ans.BoundPeer = true, true, c.minStake, q.Peer
			ans.ConfirmedAt = events.TimeOf(t0.Add(-100 * time.Hour))
		}
		answers[i](ans)
	}
}

type testPeer struct {
	key crypto.PrivKey
	id  events.PeerID
	seq uint64
}

func newPeer(t testing.TB, i int) *testPeer {
	t.Helper()
	seed := sha512.Sum512_256(fmt.Appendf(nil, "admission test peer %d", i))
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testPeer{key: key, id: events.PeerID(pid)}
}

func (p *testPeer) sign(t testing.TB, typ string, body any) events.Signed {
	t.Helper()
	data, err := events.Marshal(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := net.Sign(p.key, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (p *testPeer) ping(t testing.TB, at time.Time) events.Signed {
	p.seq++
	return p.sign(t, events.TypePing, &events.Ping{PeerID: p.id, Seq: p.seq, Time: events.TimeOf(at), StakeTx: "stake-" + p.id.Short()})
}

func (p *testPeer) checksum(t *testing.T, k int) events.Signed {
	return p.sign(t, events.TypeChecksum, &events.Checksum{Round: int64(k), Sum: sha512.Sum512_256(fmt.Appendf(nil, "%d", k))})
}

func openTest(t *testing.T, chain *queuedChain, tss bool) *Node {
	t.Helper()
	p := events.DefaultParams(4, 2)
	p.Network = "admissiontest"
	cfg := Config{Params: p, Chain: chain, StakeTx: "own-stake", NoSync: true}
	if tss {
		cfg.TSS = &TSS{}
	}
	n, err := Open(filepath.Join(t.TempDir(), "node"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	chain.n, chain.minStake = n, p.MinStake
	if err := n.Tick(t0); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *Node) logged() uint64 { return n.Status().Events }

// TestAdmission: a stranger's messages other than pings are dropped
// unlogged; its first ping is logged and leads to one stake check, asked
// outside the lock; further pings wait for the answer; once the answer is
// valid, everything it sends is logged.
func TestAdmission(t *testing.T) {
	chain := &queuedChain{valid: map[string]bool{}}
	n := openTest(t, chain, false)
	p := newPeer(t, 1)
	chain.valid["stake-"+p.id.Short()] = true

	before := n.logged()
	n.Receive(p.checksum(t, 1))
	if st := n.Status(); st.Events != before || st.DroppedUnadmitted != 1 {
		t.Fatalf("a stranger's checksum: %d events logged, %d dropped unadmitted; want none logged, 1 dropped", st.Events-before, st.DroppedUnadmitted)
	}
	n.Receive(p.ping(t, t0))
	if n.logged() != before+1 {
		t.Fatal("a stranger's first ping was not logged")
	}
	chain.answerAll() // the node's own stake: asked at the first tick
	for s := 1; s <= 5; s++ {
		if err := n.Tick(t0.Add(time.Duration(s) * time.Second)); err != nil {
			t.Fatal(err)
		}
		n.Receive(p.ping(t, t0.Add(time.Duration(s)*time.Second)))
	}
	if len(chain.asked) != 1 || chain.asked[0].Peer != p.id {
		t.Fatalf("%d checks asked, want one of the stranger in five ticks", len(chain.asked))
	}
	if chain.underMu {
		t.Fatal("the chain was asked under the node's lock")
	}
	if st := n.Status(); st.DroppedStrangers != 5 {
		t.Fatalf("%d stranger pings dropped while its check was open, want 5", st.DroppedStrangers)
	}
	n.View(func(s *projections.State) {
		if s.Peers.Admitted(p.id) {
			t.Fatal("admitted before the answer")
		}
	})
	chain.answerAll()
	n.View(func(s *projections.State) {
		if !s.Peers.Admitted(p.id) {
			t.Fatal("a valid answer did not admit the peer")
		}
	})
	before = n.logged()
	n.Receive(p.checksum(t, 2), p.ping(t, t0.Add(6*time.Second)))
	if n.logged() != before+2 {
		t.Fatalf("an admitted peer's messages: %d logged, want 2", n.logged()-before)
	}
}

// TestStrangerChecksBounded: at most MaxStrangerChecks strangers are
// being checked at once, within one batch or across batches; an unstaked
// stranger whose check failed gets no second ping logged within
// stake_recheck, and is forgotten after it.
func TestStrangerChecksBounded(t *testing.T) {
	chain := &queuedChain{valid: map[string]bool{}}
	n := openTest(t, chain, false)
	chain.answerAll()
	var peers []*testPeer
	for i := range projections.MaxStrangerChecks + 8 {
		peers = append(peers, newPeer(t, 100+i))
	}
	now := t0.Add(time.Second)
	if err := n.Tick(now); err != nil {
		t.Fatal(err)
	}
	var batch []events.Signed
	for _, p := range peers[:projections.MaxStrangerChecks+4] {
		batch = append(batch, p.ping(t, now))
	}
	before := n.logged()
	n.Receive(batch...)
	n.Receive(peers[len(peers)-1].ping(t, now))
	if got := n.logged() - before; got != projections.MaxStrangerChecks {
		t.Fatalf("%d stranger pings logged, want %d", got, projections.MaxStrangerChecks)
	}
	now = now.Add(time.Second)
	if err := n.Tick(now); err != nil {
		t.Fatal(err)
	}
	if len(chain.asked) != projections.MaxStrangerChecks {
		t.Fatalf("%d checks asked, want %d", len(chain.asked), projections.MaxStrangerChecks)
	}
	chain.answerAll() // none of them is staked
	// The slots are free again: new strangers get in, the checked ones not.
	before = n.logged()
	n.Receive(peers[0].ping(t, now), peers[len(peers)-1].ping(t, now))
	if got := n.logged() - before; got != 1 {
		t.Fatalf("%d pings logged, want only the new stranger's", got)
	}
	n.View(func(s *projections.State) {
		if s.Peers.Admitted(peers[0].id) {
			t.Fatal("an unstaked stranger was admitted")
		}
	})
	// After stake_recheck the failed stranger may try once more, and the
	// table has forgotten the others.
	now = now.Add(time.Minute)
	if err := n.Tick(now); err != nil {
		t.Fatal(err)
	}
	n.View(func(s *projections.State) {
		if all := len(s.Peers.All()); all != 1 {
			t.Fatalf("the peer table holds %d peers after stake_recheck, want only the node itself", all)
		}
	})
	before = n.logged()
	n.Receive(peers[0].ping(t, now))
	if n.logged() != before+1 {
		t.Fatal("a stranger's ping after stake_recheck was not logged")
	}
}

// admitAll makes peers admitted: a ping each, a tick to ask, answers.
func admitAll(t testing.TB, n *Node, chain *queuedChain, at time.Time, peers ...*testPeer) {
	t.Helper()
	for _, p := range peers {
		chain.valid["stake-"+p.id.Short()] = true
		n.Receive(p.ping(t, at))
	}
	if err := n.Tick(at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	chain.answerAll()
	n.View(func(s *projections.State) {
		for _, p := range peers {
			if !s.Peers.Admitted(p.id) {
				t.Fatalf("peer %s not admitted", p.id.Short())
			}
		}
	})
}

// TestEarlyBufferPerSender: a flooder fills at most MaxEarlyTSSPerPeer
// of the buffer for sessions not started yet; an honest peer's messages
// still find room.
func TestEarlyBufferPerSender(t *testing.T) {
	chain := &queuedChain{valid: map[string]bool{}}
	n := openTest(t, chain, true)
	flooder, honest := newPeer(t, 1), newPeer(t, 2)
	admitAll(t, n, chain, t0, flooder, honest)
	for i := range MaxEarlyTSSMessages + 10 {
		session := sha512.Sum512_256(fmt.Appendf(nil, "made up %d", i))
		n.Receive(flooder.sign(t, events.TypeTSS, &events.TSSMessage{Session: session, Broadcast: true, Payload: []byte{1}}))
	}
	real := sha512.Sum512_256([]byte("real session"))
	n.Receive(honest.sign(t, events.TypeTSS, &events.TSSMessage{Session: real, Broadcast: true, Payload: []byte{2}}))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.earlyLarge.by[flooder.id] != MaxEarlyTSSPerPeer {
		t.Fatalf("the flooder holds %d early messages, want %d", n.earlyLarge.by[flooder.id], MaxEarlyTSSPerPeer)
	}
	if e := n.early[real]; e == nil || len(e.msgs) != 1 {
		t.Fatal("the honest peer's message found no room in the early buffer")
	}
	if got := n.droppedEarly.Load(); got != MaxEarlyTSSMessages+10-MaxEarlyTSSPerPeer {
		t.Fatalf("%d early messages dropped, want %d", got, MaxEarlyTSSMessages+10-MaxEarlyTSSPerPeer)
	}
}

// TestSeenPerSender: the dedup table remembers at most maxSeenPerPeer
// envelopes of one sender, and forgets them after seenTTL.
func TestSeenPerSender(t *testing.T) {
	chain := &queuedChain{valid: map[string]bool{}}
	n := openTest(t, chain, false)
	flooder := newPeer(t, 1)
	admitAll(t, n, chain, t0, flooder)
	var batch []events.Signed
	for k := range maxSeenPerPeer + 50 {
		batch = append(batch, flooder.checksum(t, k))
	}
	n.Receive(batch...)
	n.mu.Lock()
	seen, by := len(n.seen), n.seenBy[flooder.id]
	n.mu.Unlock()
	if seen != maxSeenPerPeer || by != maxSeenPerPeer {
		t.Fatalf("dedup table: %d envelopes, %d of the flooder; want %d", seen, by, maxSeenPerPeer)
	}
	if err := n.Tick(t0.Add(seenTTL + 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.seen) != 0 || len(n.seenBy) != 0 {
		t.Fatalf("after seenTTL: %d envelopes, %d senders remembered", len(n.seen), len(n.seenBy))
	}
}

// benchNode is a node with 20 admitted peers; validation is left out (the
// gossip layer's signature check is measured elsewhere) so the figure is
// admission, log append (no fsync) and fold.
func benchNode(b *testing.B) (*Node, []*testPeer) {
	chain := &queuedChain{valid: map[string]bool{}}
	p := events.DefaultParams(4, 2)
	p.Network = "admissionbench"
	n, err := Open(filepath.Join(b.TempDir(), "node"), Config{Params: p, Chain: chain, StakeTx: "own-stake", NoSync: true,
		Validate: func(*events.Signed) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	chain.n, chain.minStake = n, p.MinStake
	if err := n.Tick(t0); err != nil {
		b.Fatal(err)
	}
	var peers []*testPeer
	for i := range 20 {
		peers = append(peers, newPeer(b, i))
	}
	// at most MaxStrangerChecks strangers are checked at once
	admitAll(b, n, chain, t0, peers[:10]...)
	admitAll(b, n, chain, t0.Add(time.Second), peers[10:]...)
	return n, peers
}

// BenchmarkReceivePings: admitted peers' pings through Receive (admission,
// dedup, append, fold), one batch of 20 per tick. Reports pings/s.
func BenchmarkReceivePings(b *testing.B) {
	n, peers := benchNode(b)
	const steps = 200
	batches := make([][]events.Signed, steps)
	for s := range steps {
		at := t0.Add(time.Duration(3+s) * time.Second)
		for _, p := range peers {
			batches[s] = append(batches[s], p.ping(b, at))
		}
	}
	b.ResetTimer()
	pings := 0
	for range b.N {
		for s, batch := range batches {
			if err := n.Tick(t0.Add(time.Duration(3+s) * time.Second)); err != nil {
				b.Fatal(err)
			}
			n.Receive(batch...) // after the first pass: replayed seqs, logged as evidence
			pings += len(batch)
		}
	}
	b.ReportMetric(float64(pings)/b.Elapsed().Seconds(), "pings/s")
}

// BenchmarkDropStrangerPings: pings of strangers while the check slots
// are full: judged and dropped before the log. Reports pings/s.
func BenchmarkDropStrangerPings(b *testing.B) {
	n, _ := benchNode(b)
	var batch []events.Signed
	for i := range projections.MaxStrangerChecks + 1000 {
		batch = append(batch, newPeer(b, 1000+i).ping(b, t0.Add(2*time.Second)))
	}
	n.Receive(batch[:projections.MaxStrangerChecks]...) // the slots fill
	rest := batch[projections.MaxStrangerChecks:]
	b.ResetTimer()
	for range b.N {
		n.Receive(rest...)
	}
	b.ReportMetric(float64(b.N*len(rest))/b.Elapsed().Seconds(), "pings/s")
	if got := n.droppedStrangers.Load(); got != uint64(b.N*len(rest)) {
		b.Fatalf("%d dropped, want %d", got, b.N*len(rest))
	}
}

// TestWelcomes: what a transport may forward. A stranger's first ping
// is welcome (it can lead to a stake check), the same ping again is not
// (anyone can re-send it), nor a ping far off the clock or of another
// network; other messages are admission's to judge.
func TestWelcomes(t *testing.T) {
	chain := &queuedChain{valid: map[string]bool{}}
	n := openTest(t, chain, false)
	p := newPeer(t, 1)
	first := p.ping(t, t0)
	if !n.Welcomes(&first) {
		t.Fatal("a stranger's first ping is not welcome")
	}
	n.Receive(first)
	if n.Welcomes(&first) {
		t.Fatal("a replayed ping is welcome")
	}
	if late := p.ping(t, t0.Add(-time.Minute)); n.Welcomes(&late) {
		t.Fatal("a ping a minute off the clock is welcome")
	}
	p.seq++
	other := p.sign(t, events.TypePing, &events.Ping{PeerID: p.id, Seq: p.seq, Time: events.TimeOf(t0), Genesis: sha512.Sum512_256([]byte("other"))})
	if n.Welcomes(&other) {
		t.Fatal("another network's ping is welcome")
	}
	if next := p.ping(t, t0); n.Welcomes(&next) {
		t.Fatal("a second stranger ping is welcome while its stake check is open")
	}
	chain.valid["stake-"+p.id.Short()] = true
	if err := n.Tick(t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	chain.answerAll()
	if next := p.ping(t, t0.Add(time.Second)); !n.Welcomes(&next) {
		t.Fatal("an admitted peer's next ping is not welcome")
	}
	// The transport judges the node's own messages too (pubsub validates
	// what it publishes): its pings are sent, logged first, and welcome.
	var own events.Signed
	if err := n.store.ForEach(1, n.store.LastSeq(), func(_ uint64, ev events.Event) error {
		if sent, ok := ev.(*events.MessageSent); ok && sent.Msg.Type == events.TypePing {
			own = sent.Msg
		}
		return nil
	}); err != nil || own.Type == "" {
		t.Fatalf("no own ping in the log (%v)", err)
	}
	if !n.Welcomes(&own) {
		t.Fatal("the node's own ping, logged as sent, is not welcome")
	}
	if c := p.checksum(t, 1); !n.Welcomes(&c) {
		t.Fatal("Welcomes judged a checksum: admission's job")
	}
}
