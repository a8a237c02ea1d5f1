package net

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	stdnet "net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/metanode/metanode/events"
)

// These tests run real libp2p hosts on 127.0.0.1 in one process. Waits
// poll a condition with a deadline; METANODE_P2P_LOG=1 with -v logs the
// hosts at debug level.

const testNetwork = "test0001"

// recorder is a host's Deliver: it keeps everything delivered.
type recorder struct {
	mu  sync.Mutex
	got []events.Signed
}

func (r *recorder) deliver(m events.Signed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}

// count is how many delivered messages are exactly m.
func (r *recorder) count(m events.Signed) int {
	return r.countIf(func(got events.Signed) bool { return same(got, m) })
}

func (r *recorder) countIf(pred func(events.Signed) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, got := range r.got {
		if pred(got) {
			n++
		}
	}
	return n
}

func same(a, b events.Signed) bool {
	return a.Type == b.Type && a.From == b.From && bytes.Equal(a.Body, b.Body) && bytes.Equal(a.Sig, b.Sig)
}

type testHost struct {
	*Host
	key crypto.PrivKey
	rec *recorder
	reg *prometheus.Registry
}

func newTestKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// freePorts reserves n loopback TCP ports (listen on port 0, close).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := stdnet.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*stdnet.TCPAddr).Port
		defer l.Close()
	}
	return ports
}

func testLogger() *slog.Logger {
	if os.Getenv("METANODE_P2P_LOG") != "" && testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// hostConfigs makes n hosts' configurations: each listens on a free
// loopback port and has every host (itself included, which it skips) as
// a static peer.
func hostConfigs(t testing.TB, n int) ([]HostConfig, []*recorder, []*prometheus.Registry) {
	t.Helper()
	ports := freePorts(t, n)
	keys := make([]crypto.PrivKey, n)
	addrs := make([]string, n)
	for i := range keys {
		keys[i] = newTestKey(t)
		id, err := peer.IDFromPrivateKey(keys[i])
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", ports[i], id)
	}
	cfgs := make([]HostConfig, n)
	recs := make([]*recorder, n)
	regs := make([]*prometheus.Registry, n)
	for i := range cfgs {
		recs[i], regs[i] = &recorder{}, prometheus.NewRegistry()
		cfgs[i] = HostConfig{
			Identity:   keys[i],
			Listen:     []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", ports[i])},
			Peers:      addrs,
			Network:    testNetwork,
			Deliver:    recs[i].deliver,
			Registerer: regs[i],
			Logger:     testLogger(),
		}
	}
	return cfgs, recs, regs
}

func startHost(t testing.TB, cfg HostConfig, rec *recorder, reg *prometheus.Registry) *testHost {
	t.Helper()
	h, err := NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &testHost{Host: h, key: cfg.Identity, rec: rec, reg: reg}
}

// startHosts starts n fully connected hosts (tweak adjusts each
// configuration) and waits until each has the others in every topic.
func startHosts(t testing.TB, n int, tweak func(cfgs []HostConfig)) []*testHost {
	t.Helper()
	cfgs, recs, regs := hostConfigs(t, n)
	if tweak != nil {
		tweak(cfgs)
	}
	hosts := make([]*testHost, n)
	for i := range hosts {
		hosts[i] = startHost(t, cfgs[i], recs[i], regs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, h := range hosts {
		if err := h.WaitForPeers(ctx, n-1); err != nil {
			t.Fatal(err)
		}
	}
	return hosts
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDelivered waits until every host in to has m, at least count times.
func waitDelivered(t testing.TB, timeout time.Duration, m events.Signed, count int, to ...*testHost) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d× %s from %s", count, m.Type, m.From.Short()), func() bool {
		for _, h := range to {
			if h.rec.count(m) < count {
				return false
			}
		}
		return true
	})
}

func counter(c *prometheus.CounterVec, labels ...string) float64 {
	var m dto.Metric
	if err := c.WithLabelValues(labels...).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func sign(t testing.TB, key crypto.PrivKey, typ string, body any) events.Signed {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = events.Marshal(nil, body); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Sign(key, typ, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func payload(label string, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = label[i%len(label)] ^ byte(i>>8)
	}
	return out
}

func others(hosts []*testHost, except ...*testHost) []*testHost {
	var out []*testHost
next:
	for _, h := range hosts {
		for _, e := range except {
			if h == e {
				continue next
			}
		}
		out = append(out, h)
	}
	return out
}

// sampleMessages builds a valid message of every type, signed by
// hosts[i % len(hosts)] for the i-th type, and a ~1 MiB broadcast tss one.
func sampleMessages(t testing.TB, hosts []*testHost) []events.Signed {
	t.Helper()
	id := func(i int) events.PeerID { return hosts[i%len(hosts)].ID() }
	round := int64(7)
	bodies := map[string]any{
		events.TypePing:       events.Ping{PeerID: id(0), Seq: 1, Time: 1, State: events.StateIdle, StakeTx: "stake"},
		events.TypeProposal:   events.Proposal{Round: round, Transfers: []string{"btc:aa:0", "btc:bb:1"}, TSSProof: payload("proof", 64)},
		events.TypeSigningSet: events.SigningSet{Round: round, Members: []events.PeerID{id(0), id(1), id(2)}},
		events.TypeChecksum:   events.Checksum{Round: round, Set: []events.PeerID{id(0), id(1)}},
		events.TypeKeygenCommit: events.KeygenCommit{
			Epoch: 3, Regroup: true,
		},
		events.TypeKVEntry: events.KVEntry{Amount: 123456, Intent: []byte("bc1qdestination"), Nonce: payload("nonce", 16)},
		events.TypeTSS: events.TSSMessage{Broadcast: true, Payload: payload("tss-broadcast", 1<<20-1<<10),
			FromSide: events.SideOnly},
		events.TypeKey: events.KeyAnnouncement{Key: events.KeyPublished{PublicKey: payload("pk", 33), Address: "bc1qvault", Threshold: 2,
			SharePoints: []events.SharePoint{{Peer: id(0), Point: payload("x0", 33), ShareID: []byte{1}}}}},
		events.TypeCulprits: events.CulpritReport{Culprits: []events.PeerID{id(3)}, Error: "bad proof"},
	}
	p1 := sign(t, hosts[1%len(hosts)].key, events.TypeProposal, events.Proposal{Round: round, M0: events.Hash{1}})
	p2 := sign(t, hosts[1%len(hosts)].key, events.TypeProposal, events.Proposal{Round: round, M0: events.Hash{2}})
	bodies[events.TypeEvidence] = events.Evidence{A: p1, B: p2}

	var msgs []events.Signed
	for i, typ := range TopicTypes() {
		m := sign(t, hosts[i%len(hosts)].key, typ, bodies[typ])
		if len(m.Body) > MaxBody[typ] {
			t.Fatalf("sample %s body of %d bytes over its limit", typ, len(m.Body))
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func senderOf(hosts []*testHost, m events.Signed) *testHost {
	for _, h := range hosts {
		if h.ID() == m.From {
			return h
		}
	}
	return nil
}

// TestHostDeliversEveryType: 4 hosts connected by their static peers;
// a message of every type (a ~1 MiB broadcast tss one among them) reaches
// every other host exactly as signed and once; a point-to-point tss
// message reaches only its recipient, by direct stream.
func TestHostDeliversEveryType(t *testing.T) {
	hosts := startHosts(t, 4, nil)
	msgs := sampleMessages(t, hosts)
	for _, m := range msgs {
		if err := senderOf(hosts, m).Send(m); err != nil {
			t.Fatalf("send %s: %v", m.Type, err)
		}
	}
	for _, m := range msgs {
		from := senderOf(hosts, m)
		waitDelivered(t, 20*time.Second, m, 1, others(hosts, from)...)
		if n := from.rec.count(m); n != 0 {
			t.Errorf("%s delivered to its own sender %d times", m.Type, n)
		}
	}

	// point to point: host 0 to host 2 only
	a, b := hosts[0], hosts[2]
	p2p := sign(t, a.key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{b.ID()}, Payload: payload("sealed", 200<<10)})
	if err := a.Send(p2p); err != nil {
		t.Fatalf("send point to point: %v", err)
	}
	waitDelivered(t, 10*time.Second, p2p, 1, b)
	// a later gossip message from the same sender reached the others...
	marker := sign(t, a.key, events.TypePing, events.Ping{PeerID: a.ID(), Seq: 2})
	if err := a.Send(marker); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, 10*time.Second, marker, 1, others(hosts, a)...)
	// ...and the point-to-point one none of them
	for _, h := range others(hosts, a, b) {
		if n := h.rec.count(p2p); n != 0 {
			t.Errorf("point-to-point tss reached a third host %d times", n)
		}
	}
	if got := counter(a.metrics.sent, events.TypeTSS, pathDirect); got != 1 {
		t.Errorf("direct tss sends = %v, want 1", got)
	}
	var gossipTSS float64
	for _, h := range hosts {
		gossipTSS += counter(h.metrics.sent, events.TypeTSS, pathGossip)
	}
	if gossipTSS != 1 {
		t.Errorf("gossip tss sends = %v, want 1 (the broadcast)", gossipTSS)
	}

	// exactly once each, and every received message counted
	for _, h := range hosts {
		for _, m := range append(msgs, p2p, marker) {
			if m.From == h.ID() {
				continue
			}
			want := 1
			if same(m, p2p) && h != b {
				want = 0
			}
			if n := h.rec.count(m); n != want {
				t.Errorf("host %s: %s from %s delivered %d times, want %d", h.ID().Short(), m.Type, m.From.Short(), n, want)
			}
		}
		var total float64
		for _, typ := range TopicTypes() {
			total += counter(h.metrics.received, typ)
		}
		if want := float64(h.rec.countIf(func(events.Signed) bool { return true })); total != want {
			t.Errorf("host %s: received_total %v, delivered %v", h.ID().Short(), total, want)
		}
	}
}

// TestHostValidators: a forged signature and an oversized body are
// rejected everywhere; a peer that Admit refuses has its messages
// ignored, except its pings. Both by gossip and by direct stream.
func TestHostValidators(t *testing.T) {
	hosts := startHosts(t, 4, func(cfgs []HostConfig) {
		// the misbehaving host sends what its own validation would stop
		cfgs[3].Validate = func(*events.Signed) error { return nil }
		stranger := events.PeerID(mustID(t, cfgs[3].Identity))
		for i := range 3 {
			cfgs[i].Admit = func(from events.PeerID, typ string) bool { return from != stranger || typ == events.TypePing }
		}
	})
	bad, good := hosts[3], hosts[:3]
	friend := hosts[1]

	forged := sign(t, friend.key, events.TypeProposal, events.Proposal{Round: 1})
	forged.Sig = bytes.Clone(forged.Sig)
	forged.Sig[5] ^= 1
	oversized := sign(t, bad.key, events.TypePing, payload("big", MaxBody[events.TypePing]+1))
	unadmitted := sign(t, bad.key, events.TypeProposal, events.Proposal{Round: 2})
	ping := sign(t, bad.key, events.TypePing, events.Ping{PeerID: bad.ID(), Seq: 1})
	wrongTopic := sign(t, bad.key, events.TypeChecksum, events.Checksum{Round: 3})
	// to a friend's host directly: forged, and from the stranger
	forgedDirect := sign(t, friend.key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{hosts[0].ID()}, Payload: []byte("x")})
	forgedDirect.Sig = bytes.Clone(forgedDirect.Sig)
	forgedDirect.Sig[0] ^= 1
	unadmittedDirect := sign(t, bad.key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{hosts[0].ID()}, Payload: []byte("y")})

	for _, m := range []events.Signed{forged, oversized, unadmitted, ping} {
		if err := bad.Send(m); err != nil {
			t.Fatalf("send %s: %v", m.Type, err)
		}
	}
	// A stranger's direct streams are refused before anything is read.
	for _, m := range []events.Signed{forgedDirect, unadmittedDirect} {
		if err := bad.Send(m); err == nil {
			t.Fatalf("a stranger's direct tss message was acknowledged")
		}
	}
	// An admitted peer relaying another's point-to-point message: a
	// direct message comes from its author only.
	relayed := sign(t, hosts[2].key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{hosts[0].ID()}, Payload: []byte("z")})
	if err := friend.Send(relayed); err != nil {
		t.Fatalf("relay: %v", err)
	}
	// a checksum framed on the proposal topic (the bad host's own
	// validator would stop it)
	if err := bad.ps.UnregisterTopicValidator(topicName(testNetwork, events.TypeProposal)); err != nil {
		t.Fatal(err)
	}
	data, err := encodeFrame(1, &wrongTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.topics[events.TypeProposal].Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}

	waitDelivered(t, 10*time.Second, ping, 1, good...)
	for _, h := range good {
		waitFor(t, 10*time.Second, "drops counted at "+h.ID().Short(), func() bool {
			return counter(h.metrics.dropped, events.TypeProposal, dropInvalid) >= 1 &&
				counter(h.metrics.dropped, events.TypePing, dropTooLarge) >= 1 &&
				counter(h.metrics.dropped, events.TypeProposal, dropUnknownPeer) >= 1 &&
				counter(h.metrics.dropped, events.TypeProposal, dropWrongTopic) >= 1
		})
	}
	waitFor(t, 10*time.Second, "direct drops counted", func() bool {
		return counter(hosts[0].metrics.dropped, events.TypeTSS, dropUnknownPeer) >= 2 &&
			counter(hosts[0].metrics.dropped, events.TypeTSS, dropMisrouted) >= 1
	})
	for _, h := range good {
		h.rec.mu.Lock()
		got := h.rec.got
		h.rec.mu.Unlock()
		if len(got) != 1 || !same(got[0], ping) {
			t.Errorf("host %s delivered %d messages, want only the stranger's ping", h.ID().Short(), len(got))
		}
	}

	// an honest host's own Send refuses what its validation refuses
	if err := friend.Send(forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("sending a forged message: %v, want ErrBadSignature", err)
	}
	if err := friend.Send(oversized); !errors.Is(err, ErrTooLarge) {
		t.Errorf("sending an oversized message: %v, want ErrTooLarge", err)
	}
}

// TestHostBurst: 100 messages of 100 KB published back to back all arrive.
func TestHostBurst(t *testing.T) {
	hosts := startHosts(t, 4, nil)
	from := hosts[0]
	const count = 100
	msgs := make([]events.Signed, count)
	for i := range msgs {
		msgs[i] = sign(t, from.key, events.TypeTSS, events.TSSMessage{Broadcast: true, Payload: payload(fmt.Sprintf("burst-%03d", i), 100<<10)})
	}
	start := time.Now()
	for _, m := range msgs {
		if err := from.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 40*time.Second, "the burst everywhere", func() bool {
		for _, h := range hosts[1:] {
			if h.rec.countIf(func(events.Signed) bool { return true }) < count {
				return false
			}
		}
		return true
	})
	t.Logf("%d × 100 KB to 3 hosts in %v", count, time.Since(start).Round(time.Millisecond))
	for _, h := range hosts[1:] {
		for i, m := range msgs {
			if n := h.rec.count(m); n != 1 {
				t.Fatalf("host %s has burst message %d %d times", h.ID().Short(), i, n)
			}
		}
	}
}

// TestHostRetransmission: the same envelope sent again (a node's resend)
// is delivered again, although pubsub dedups a message id for 120 s.
func TestHostRetransmission(t *testing.T) {
	hosts := startHosts(t, 3, nil)
	from := hosts[0]
	m := sign(t, from.key, events.TypeProposal, events.Proposal{Round: 9, Transfers: []string{"btc:cc:0"}})
	if err := from.Send(m); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, 10*time.Second, m, 1, hosts[1:]...)
	time.Sleep(time.Second) // the scenario: a resend a second later (not a wait for correctness)
	if err := from.Send(m); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, 10*time.Second, m, 2, hosts[1:]...)
}

// TestHostRedial: a static peer whose connection is closed is reconnected;
// one that is down at start is connected once it comes up; Close stops it all.
func TestHostRedial(t *testing.T) {
	hosts := startHosts(t, 2, nil)
	a, b := hosts[0], hosts[1]
	old := a.host.Network().ConnsToPeer(b.host.ID())
	if len(old) == 0 {
		t.Fatal("not connected")
	}
	if err := a.host.Network().ClosePeer(b.host.ID()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "reconnection", func() bool {
		conns := a.host.Network().ConnsToPeer(b.host.ID())
		for _, c := range conns {
			if slices.Contains(old, c) {
				return false
			}
		}
		return len(conns) > 0
	})
	t.Logf("reconnected in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitForPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	m := sign(t, a.key, events.TypePing, events.Ping{PeerID: a.ID(), Seq: 5})
	if err := a.Send(m); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, 10*time.Second, m, 1, b)

	// c has d as its only static peer; d, which knows no peer, starts late
	cfgs, recs, regs := hostConfigs(t, 2)
	cfgs[1].Peers = nil
	c := startHost(t, cfgs[0], recs[0], regs[0])
	select {
	case <-c.firstRound: // the first dial failed: d is not up
	case <-time.After(10 * time.Second):
		t.Fatal("no first dial round")
	}
	if len(c.ConnectedPeers()) != 0 {
		t.Fatal("connected to a host not started")
	}
	d := startHost(t, cfgs[1], recs[1], regs[1])
	start = time.Now()
	if err := c.WaitForPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("late static peer connected in %v", time.Since(start).Round(time.Millisecond))
	if got := c.ConnectedPeers(); len(got) != 1 || got[0] != d.ID() {
		t.Fatalf("connected peers %v", got)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := c.Send(m); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// TestHostPublishAtStart: a message sent right after NewHost, before any
// subscription arrived, is not lost (Send waits for the topic's peers).
func TestHostPublishAtStart(t *testing.T) {
	cfgs, recs, regs := hostConfigs(t, 2)
	b := startHost(t, cfgs[1], recs[1], regs[1])
	a := startHost(t, cfgs[0], recs[0], regs[0])
	m := sign(t, a.key, events.TypeKeygenCommit, events.KeygenCommit{Epoch: 1})
	if err := a.Send(m); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, 10*time.Second, m, 1, b)
}

// TestHostPublishWaitBounded: a connected peer that speaks our gossip
// protocol but stays out of a topic costs one PublishWait on that topic,
// not one per message; a peer that does not speak it costs none.
func TestHostPublishWaitBounded(t *testing.T) {
	cfgs, recs, regs := hostConfigs(t, 1)
	cfgs[0].PublishWait = time.Second
	a := startHost(t, cfgs[0], recs[0], regs[0])
	target := peer.AddrInfo{ID: a.host.ID(), Addrs: a.host.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// a peer of our network in the ping topic only
	partial, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	proto := gossipProtocol(testNetwork)
	ps, err := pubsub.NewGossipSub(ctx, partial,
		pubsub.WithGossipSubProtocols([]protocol.ID{proto}, func(_ pubsub.GossipSubFeature, p protocol.ID) bool { return p == proto }),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(messageID))
	if err != nil {
		t.Fatal(err)
	}
	pingTopic, err := ps.Join(topicName(testNetwork, events.TypePing))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pingTopic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	if err := partial.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the partial peer in the ping topic", func() bool { return len(a.topics[events.TypePing].ListPeers()) == 1 })

	// a plain libp2p peer without gossip
	plain, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "identify of the plain peer", func() bool {
		protos, _ := a.host.Peerstore().GetProtocols(plain.ID())
		return len(protos) > 0
	})

	timed := func(m events.Signed) time.Duration {
		start := time.Now()
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	ping := sign(t, a.key, events.TypePing, events.Ping{PeerID: a.ID(), Seq: 1})
	if d := timed(ping); d > 500*time.Millisecond {
		t.Errorf("a ping (every gossip peer in the topic) waited %v", d)
	}
	proposal := sign(t, a.key, events.TypeProposal, events.Proposal{Round: 1})
	if d := timed(proposal); d < time.Second {
		t.Errorf("the first proposal waited only %v for the partial peer", d)
	}
	if d := timed(proposal); d > 500*time.Millisecond {
		t.Errorf("the second proposal waited %v", d)
	}
}

// TestHostDirectUnreachable: a point-to-point message to a peer that
// cannot be reached is an error (the node retransmits).
func TestHostDirectUnreachable(t *testing.T) {
	cfgs, recs, regs := hostConfigs(t, 2) // the second never starts
	cfgs[0].SendTimeout = 2 * time.Second
	a := startHost(t, cfgs[0], recs[0], regs[0])
	other, _ := peer.AddrInfoFromString(cfgs[0].Peers[1])
	m := sign(t, a.key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{events.PeerID(other.ID)}, Payload: []byte("z")})
	if err := a.Send(m); err == nil {
		t.Fatal("sending to an unreachable peer succeeded")
	}
	stranger := events.PeerID(mustID(t, newTestKey(t)))
	m = sign(t, a.key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{stranger}, Payload: []byte("z")})
	if err := a.Send(m); err == nil {
		t.Fatal("sending to a peer of unknown address succeeded")
	}
	self := sign(t, a.key, events.TypeTSS, events.TSSMessage{To: []events.PeerID{a.ID()}, Payload: []byte("z")})
	if err := a.Send(self); err != nil {
		t.Fatalf("a point-to-point message to oneself: %v", err)
	}
}

func mustID(t testing.TB, key crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestHostConfigAndMetrics: configuration errors, names, addresses, and
// the metrics on the registry (ours and libp2p's).
func TestHostConfigAndMetrics(t *testing.T) {
	key := newTestKey(t)
	secp, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	for name, cfg := range map[string]HostConfig{
		"no identity":  {Network: "n"},
		"secp256k1":    {Identity: secp, Network: "n"},
		"no network":   {Identity: key},
		"slash":        {Identity: key, Network: "a/b"},
		"bad peer":     {Identity: key, Network: "n", Peers: []string{"/ip4/127.0.0.1/tcp/1"}},
		"garbage peer": {Identity: key, Network: "n", Peers: []string{"nonsense"}},
	} {
		if h, err := NewHost(context.Background(), cfg); err == nil {
			_ = h.Close()
			t.Errorf("%s: NewHost succeeded", name)
		}
	}

	if got := TopicTypes(); len(got) != 10 || got[0] != events.TypeChecksum || got[9] != events.TypeTSS {
		t.Errorf("topic types %v", got)
	}

	hosts := startHosts(t, 2, nil)
	a := hosts[0]
	if a.ID() != events.PeerID(mustID(t, a.key)) {
		t.Error("host id is not the identity's")
	}
	addrs := a.Addrs()
	if len(addrs) == 0 || !strings.HasSuffix(addrs[0], "/p2p/"+peer.ID(a.ID()).String()) {
		t.Errorf("addrs %v", addrs)
	}
	if _, err := peer.AddrInfoFromString(addrs[0]); err != nil {
		t.Errorf("addr %s: %v", addrs[0], err)
	}
	if got := a.ConnectedPeers(); len(got) != 1 || got[0] != hosts[1].ID() {
		t.Errorf("connected peers %v", got)
	}
	m := sign(t, a.key, events.TypeKVEntry, events.KVEntry{Amount: 1})
	if err := a.Send(m); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, 10*time.Second, m, 1, hosts[1])

	families, err := hosts[1].reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	libp2p := false
	for _, f := range families {
		seen[f.GetName()] = true
		libp2p = libp2p || strings.HasPrefix(f.GetName(), "libp2p_")
	}
	for _, name := range []string{"metanode_p2p_messages_received_total", "metanode_p2p_peers_connected"} {
		if !seen[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
	if !libp2p {
		t.Error("no libp2p metrics on the registry")
	}
	if got := counter(hosts[1].metrics.received, events.TypeKVEntry); got != 1 {
		t.Errorf("received kv = %v", got)
	}
	if got := counter(a.metrics.sent, events.TypeKVEntry, pathGossip); got != 1 {
		t.Errorf("sent kv = %v", got)
	}

	// a host whose context ends closes
	ctx, cancel := context.WithCancel(context.Background())
	cfgs, _, _ := hostConfigs(t, 1)
	cfgs[0].Registerer = nil
	h, err := NewHost(ctx, cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, 5*time.Second, "close on context end", func() bool { return errors.Is(h.Send(m), ErrClosed) })
	_ = h.Close()
}

func TestFrame(t *testing.T) {
	key := newTestKey(t)
	m := sign(t, key, events.TypeTSS, events.TSSMessage{Broadcast: true, Payload: payload("p", 1000)})
	a, err := encodeFrame(1, &m)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := encodeFrame(2, &m)
	if bytes.Equal(a, b) || messageID(wirePB(a)) == messageID(wirePB(b)) {
		t.Error("two publishes of one envelope share a message id")
	}
	got, err := decodeFrame(a)
	if err != nil || !same(got, m) {
		t.Fatalf("round trip: %v", err)
	}
	if err := Validate(&got); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, a[:5], append([]byte{2}, a[1:]...), a[:len(a)-1], append(bytes.Clone(a), 0)} {
		if _, err := decodeFrame(bad); err == nil {
			t.Errorf("decoded a bad frame of %d bytes", len(bad))
		}
	}
	if len(a) > maxDirectFrame {
		t.Error("frame over the direct limit")
	}
	big := sign(t, key, events.TypeTSS, payload("q", MaxBody[events.TypeTSS]))
	if f, _ := encodeFrame(3, &big); len(f) > maxDirectFrame || len(f) > maxGossipMessage {
		t.Errorf("the largest tss frame (%d bytes) is over the limits", len(f))
	}
}

func FuzzDecodeFrame(f *testing.F) {
	key := newTestKey(f)
	m := sign(f, key, events.TypePing, events.Ping{Seq: 1})
	good, _ := encodeFrame(7, &m)
	f.Add(good)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0x84})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeFrame(data)
		if err != nil {
			return
		}
		again, err := encodeFrame(binaryNonce(data), &got)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := decodeFrame(again); err != nil || !same(back, got) {
			t.Fatalf("re-encoded frame differs: %v", err)
		}
	})
}

func wirePB(data []byte) *pb.Message { return &pb.Message{Data: data} }

func binaryNonce(frame []byte) uint64 { return binary.BigEndian.Uint64(frame[1:frameHeader]) }
