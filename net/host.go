package net

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metanode/metanode/events"
)

// Transport is how a node's messages reach the network: the libp2p Host
// here, an in-memory one in tests.
type Transport interface {
	// Send routes m: a point-to-point tss message by a direct stream to
	// its one recipient, everything else by gossip on its type's topic.
	Send(m events.Signed) error
	Close() error
}

var _ Transport = (*Host)(nil)

// HostConfig configures a libp2p Host.
type HostConfig struct {
	// Identity is the node's Ed25519 key, also the libp2p host's
	// identity: the host's peer id is the node's events.PeerID.
	Identity crypto.PrivKey
	// Listen holds multiaddrs to listen on, e.g. "/ip4/127.0.0.1/tcp/12121"
	// (TCP and QUIC, "/ip4/127.0.0.1/udp/12121/quic-v1").
	Listen []string
	// Peers are the static peers, full multiaddrs ending in /p2p/<id>.
	// Gossipsub does no discovery: the host dials each, protects its
	// connection and re-dials it while it is down. The node's own id may
	// be among them (one list for every node); it is skipped.
	Peers []string
	// Network tags the network (e.g. the first 8 bytes of the genesis
	// hash, in hex). It is part of every topic name and protocol id, so
	// hosts of two networks never exchange messages. No "/" or spaces.
	Network string
	// Validate checks an envelope (default Validate). A message that
	// fails is rejected: not delivered, not forwarded, and its sender's
	// gossip score suffers.
	Validate func(*events.Signed) error
	// Admit says whether messages of type typ from a peer are wanted now
	// (node.Admits). No: the message is ignored, neither delivered nor
	// forwarded. nil admits all.
	Admit func(from events.PeerID, typ string) bool
	// Welcome, if set, judges an admitted message further before it is
	// delivered or forwarded (the node: a ping that would not count - a
	// replay, a clock far off, another network - goes no further).
	// false -> pubsub.ValidationIgnore.
	Welcome func(m *events.Signed) bool
	// Deliver receives every accepted message from another node, by
	// gossip or direct stream, exactly as its sender signed it. It is
	// called from several goroutines at once and may block briefly (a
	// gossip topic's backlog holds 1024 messages).
	Deliver func(m events.Signed)
	// Registerer, if set, gets libp2p's metrics and the host's own
	// (metanode_p2p_*). nil: no metrics are registered anywhere.
	Registerer prometheus.Registerer
	// Logger logs the host (default: discard).
	Logger *slog.Logger

	// PublishWait bounds how long Send waits for a topic's peers
	// (default 2 s): see Send.
	PublishWait time.Duration
	// SendTimeout bounds a direct send: connecting, opening the stream,
	// writing and the receiver's acknowledgement (default 10 s).
	SendTimeout time.Duration
	// RedialEvery is the first interval of the static peers' re-dial
	// backoff (default 2 s); it doubles to at most MaxRedialEvery
	// (default 10 s) while a peer stays unreachable.
	RedialEvery, MaxRedialEvery time.Duration
}

// Protocol ids and topics, all under /metanode/<network>/.
func gossipProtocol(network string) protocol.ID {
	return protocol.ID("/metanode/" + network + "/meshsub/1.2.0")
}

func directProtocol(network string) protocol.ID {
	return protocol.ID("/metanode/" + network + "/tss/1.0.0")
}

func topicName(network, typ string) string {
	return "/metanode/" + network + "/" + typ
}

// Gossip settings; DESIGN.md "Dependency facts checked for the next steps"
// says why each.
const (
	maxGossipMessage  = 4 << 20 // pubsub's default is 1 MiB; a tss envelope is up to 1 MiB + overhead
	queueSize         = 1024    // peer outbound, validation and subscription queues (default 32 lost 8-29% of a burst)
	directConnectTick = 5       // heartbeats (1 s) between gossipsub's own re-dials of direct peers (default 300); redialLoop is quicker
	directReadTimeout = 30 * time.Second
)

// TopicTypes are the message types that have a gossip topic: the keys of
// MaxBody, sorted.
func TopicTypes() []string {
	types := make([]string, 0, len(MaxBody))
	for typ := range MaxBody {
		types = append(types, typ)
	}
	sort.Strings(types)
	return types
}

// ErrClosed is returned by Send on a closed host.
var ErrClosed = errors.New("p2p host closed")

// Host is a node's libp2p transport: one libp2p host, gossipsub with a
// topic per message type, and direct streams for point-to-point tss.
type Host struct {
	cfg     HostConfig
	log     *slog.Logger
	host    host.Host
	ps      *pubsub.PubSub
	topics  map[string]*pubsub.Topic // by message type
	metrics *hostMetrics

	gossipProto protocol.ID
	directProto protocol.ID

	static     map[peer.ID]*staticPeer
	firstRound chan struct{} // closed when every static peer had its first dial
	kick       chan struct{} // a static peer disconnected: wakes the re-dial loop

	nonce atomic.Uint64

	waitedMu sync.Mutex
	waited   map[peer.ID]map[string]bool // topics (types) a peer was waited for in vain, until it (re)connects

	ctx       context.Context
	cancel    context.CancelFunc
	deliverMu sync.RWMutex
	closed    bool // under deliverMu
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewHost starts a host: it listens, joins every topic, and starts dialing
// the static peers in the background (WaitForPeers waits for them). The
// host lives until Close or until ctx ends.
func NewHost(ctx context.Context, cfg HostConfig) (*Host, error) {
	if cfg.Identity == nil || cfg.Identity.Type() != crypto.Ed25519 {
		return nil, errors.New("p2p host: the identity must be an Ed25519 key")
	}
	if cfg.Network == "" || strings.ContainsAny(cfg.Network, "/ \t\n") {
		return nil, fmt.Errorf("p2p host: bad network tag %q", cfg.Network)
	}
	if cfg.Validate == nil {
		cfg.Validate = Validate
	}
	if cfg.Deliver == nil {
		cfg.Deliver = func(events.Signed) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PublishWait <= 0 {
		cfg.PublishWait = 2 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 10 * time.Second
	}
	if cfg.RedialEvery <= 0 {
		cfg.RedialEvery = 2 * time.Second
	}
	if cfg.MaxRedialEvery < cfg.RedialEvery {
		cfg.MaxRedialEvery = max(10*time.Second, cfg.RedialEvery)
	}
	self, err := peer.IDFromPrivateKey(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("p2p host: %w", err)
	}
	static, err := parseStaticPeers(cfg.Peers, self)
	if err != nil {
		return nil, err
	}

	listen := make([]ma.Multiaddr, len(cfg.Listen))
	for i, s := range cfg.Listen {
		if listen[i], err = ma.NewMultiaddr(s); err != nil {
			return nil, fmt.Errorf("p2p host: listen address %q: %w", s, err)
		}
	}

	// The host listens only once gossipsub and our stream handler are
	// set: a peer that connected earlier would learn (identify) a
	// protocol list without them, and its gossipsub would never open a
	// stream to us.
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	lh, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p host: %w", err)
	}

	h := &Host{
		cfg:         cfg,
		log:         cfg.Logger.With("peer", events.PeerID(self).Short()),
		host:        lh,
		topics:      make(map[string]*pubsub.Topic, len(MaxBody)),
		gossipProto: gossipProtocol(cfg.Network),
		directProto: directProtocol(cfg.Network),
		static:      make(map[peer.ID]*staticPeer, len(static)),
		firstRound:  make(chan struct{}),
		kick:        make(chan struct{}, 1),
		waited:      make(map[peer.ID]map[string]bool),
	}
	for _, ai := range static {
		h.static[ai.ID] = &staticPeer{info: ai}
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.metrics = newHostMetrics(cfg.Registerer, func() float64 { return float64(len(lh.Network().Peers())) })
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	h.nonce.Store(binary.BigEndian.Uint64(seed[:]))

	err = h.start(static)
	if err == nil {
		err = lh.Network().Listen(listen...)
	}
	if err != nil {
		h.cancel()
		h.wg.Wait()
		_ = lh.Close()
		return nil, fmt.Errorf("p2p host: %w", err)
	}
	h.wg.Add(1)
	go h.redialLoop()
	go func() { // not in wg: it may be the one closing
		select {
		case <-ctx.Done():
			_ = h.Close()
		case <-h.ctx.Done():
		}
	}()
	h.log.Info("p2p host started", "addrs", h.Addrs(), "static_peers", len(h.static), "network", cfg.Network)
	return h, nil
}

func (h *Host) start(static []peer.AddrInfo) error {
	proto := h.gossipProto
	features := func(feat pubsub.GossipSubFeature, p protocol.ID) bool {
		// our protocol is gossipsub v1.2: mesh, peer exchange, IDONTWANT
		return p == proto && (feat == pubsub.GossipSubFeatureMesh ||
			feat == pubsub.GossipSubFeaturePX || feat == pubsub.GossipSubFeatureIdontwant)
	}
	ps, err := pubsub.NewGossipSub(h.ctx, h.host,
		pubsub.WithGossipSubProtocols([]protocol.ID{proto}, features),
		pubsub.WithMaxMessageSize(maxGossipMessage),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerOutboundQueueSize(queueSize),
		pubsub.WithValidateQueueSize(queueSize),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithDirectPeers(static),
		pubsub.WithDirectConnectTicks(directConnectTick),
		pubsub.WithLogger(h.cfg.Logger.With("component", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("gossipsub: %w", err)
	}
	h.ps = ps
	h.host.SetStreamHandler(h.directProto, h.handleDirect)

	for _, typ := range TopicTypes() {
		name := topicName(h.cfg.Network, typ)
		if err := ps.RegisterTopicValidator(name, h.validator(typ)); err != nil {
			return fmt.Errorf("validator for %s: %w", name, err)
		}
		t, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("join %s: %w", name, err)
		}
		sub, err := t.Subscribe(pubsub.WithBufferSize(queueSize))
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", name, err)
		}
		h.topics[typ] = t
		h.wg.Add(1)
		go h.readTopic(typ, sub)
	}

	h.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			h.forgetWaits(c.RemotePeer())
			h.log.Debug("p2p connected", "remote", events.PeerID(c.RemotePeer()).Short(), "addr", c.RemoteMultiaddr().String())
		},
		DisconnectedF: func(n network.Network, c network.Conn) {
			p := c.RemotePeer()
			h.forgetWaits(p)
			h.log.Debug("p2p disconnected", "remote", events.PeerID(p).Short())
			if h.static[p] != nil && n.Connectedness(p) != network.Connected {
				select {
				case h.kick <- struct{}{}:
				default:
				}
			}
		},
	})
	for _, ai := range static {
		h.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstorePermanent)
		h.host.ConnManager().Protect(ai.ID, "metanode-static")
	}
	return nil
}

// messageID is a gossip message's id: the SHA-256 of its frame (which
// holds a per-publish nonce, see host_wire.go).
func messageID(m *pb.Message) string {
	sum := sha256.Sum256(m.Data)
	return string(sum[:])
}

// ID is the host's peer id, the node's.
func (h *Host) ID() events.PeerID { return events.PeerID(h.host.ID()) }

// Addrs are the host's listen addresses as full multiaddrs with /p2p/<id>.
func (h *Host) Addrs() []string {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// ConnectedPeers are the peers with an open connection, sorted.
func (h *Host) ConnectedPeers() []events.PeerID {
	peers := h.host.Network().Peers()
	out := make([]events.PeerID, len(peers))
	for i, p := range peers {
		out[i] = events.PeerID(p)
	}
	slices.Sort(out)
	return out
}

// WaitForPeers waits until at least n peers are in every topic (their
// subscriptions arrived, so a publish reaches them), or ctx ends.
func (h *Host) WaitForPeers(ctx context.Context, n int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		least := -1
		for _, t := range h.topics {
			if k := len(t.ListPeers()); least < 0 || k < least {
				least = k
			}
		}
		if least >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d peers in every topic (have %d): %w", n, least, ctx.Err())
		case <-h.ctx.Done():
			return ErrClosed
		case <-tick.C:
		}
	}
}

// Send hands m to the network; it does not deliver m to this host.
//
// A tss message point to point to one peer (TSSMessage.Broadcast false,
// one To) goes over a direct stream to that peer, dialing it if needed;
// Send returns once the recipient has read the whole message, or an
// error (not connected and not reachable, timeout: the node retransmits).
// A point-to-point message to this host itself is nothing to send.
//
// Everything else is published on its type's topic. A topic's peers are
// known only once their subscriptions arrived, and pubsub drops a message
// published before: so Send first waits, at most PublishWait, until every
// connected peer that speaks our gossip protocol (or is not identified
// yet) is in the topic, and, until the first dial of every static peer has
// finished, every static peer too. In steady state there is no wait; an
// unreachable static peer is not waited for after its first dial, nor a
// peer that stays out of a topic more than once per connection. A daemon
// may also call WaitForPeers once at start.
//
// m is checked with cfg.Validate first: an invalid message is not sent.
func (h *Host) Send(m events.Signed) error {
	if h.ctx.Err() != nil {
		return ErrClosed
	}
	if err := h.cfg.Validate(&m); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	if to, ok := pointToPoint(&m); ok {
		if to == h.host.ID() {
			return nil
		}
		return h.sendDirect(to, &m)
	}
	return h.publish(&m)
}

// pointToPoint returns the recipient of a point-to-point tss message.
func pointToPoint(m *events.Signed) (peer.ID, bool) {
	if m.Type != events.TypeTSS {
		return "", false
	}
	var msg events.TSSMessage
	if err := events.Unmarshal(m.Body, &msg); err != nil {
		return "", false
	}
	if msg.Broadcast || len(msg.To) != 1 {
		return "", false
	}
	return peer.ID(msg.To[0]), true
}

func (h *Host) publish(m *events.Signed) error {
	t := h.topics[m.Type]
	if t == nil {
		return fmt.Errorf("send: %w %q", ErrUnknownType, m.Type)
	}
	data, err := encodeFrame(h.nonce.Add(1), m)
	if err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	h.waitTopic(m.Type, t)
	if err := t.Publish(h.ctx, data); err != nil {
		if h.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("publish %s: %w", m.Type, err)
	}
	h.metrics.sent.WithLabelValues(m.Type, pathGossip).Inc()
	return nil
}

// waitTopic waits, at most PublishWait, until topic t holds the peers a
// publish should reach (see Send). A peer still missing when the wait
// ends is not waited for again on this topic until it reconnects: a
// peer that never joins a topic costs one wait, not one per message.
func (h *Host) waitTopic(typ string, t *pubsub.Topic) {
	deadline := time.Now().Add(h.cfg.PublishWait)
	var tick *time.Ticker
	for {
		missing := h.missingFromTopic(typ, t)
		if len(missing) == 0 {
			return
		}
		if !time.Now().Before(deadline) {
			h.log.Debug("publishing without all peers in the topic", "type", typ, "missing", len(missing))
			h.waitedMu.Lock()
			for _, p := range missing {
				if h.waited[p] == nil {
					h.waited[p] = make(map[string]bool)
				}
				h.waited[p][typ] = true
			}
			h.waitedMu.Unlock()
			return
		}
		if tick == nil {
			tick = time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
		}
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// missingFromTopic lists the peers a publish on t should reach that are
// not in t yet.
func (h *Host) missingFromTopic(typ string, t *pubsub.Topic) []peer.ID {
	in := make(map[peer.ID]bool)
	for _, p := range t.ListPeers() {
		in[p] = true
	}
	starting := false
	select {
	case <-h.firstRound:
	default:
		starting = true
	}
	h.waitedMu.Lock()
	defer h.waitedMu.Unlock()
	var missing []peer.ID
	if starting {
		for p := range h.static {
			if !in[p] && !h.waited[p][typ] {
				missing = append(missing, p)
			}
		}
	}
	for _, p := range h.host.Network().Peers() {
		if in[p] || h.waited[p][typ] || (starting && h.static[p] != nil) {
			continue
		}
		if h.speaksGossip(p) {
			missing = append(missing, p)
		}
	}
	return missing
}

func (h *Host) forgetWaits(p peer.ID) {
	h.waitedMu.Lock()
	delete(h.waited, p)
	h.waitedMu.Unlock()
}

// speaksGossip says whether a connected peer speaks our gossip protocol,
// or is not identified yet (and may).
func (h *Host) speaksGossip(p peer.ID) bool {
	protos, err := h.host.Peerstore().GetProtocols(p)
	if err != nil || len(protos) == 0 {
		return true
	}
	return slices.Contains(protos, h.gossipProto)
}

// validator is topic typ's pubsub validator. It also runs for our own
// publishes and for messages we would forward: a message that fails is
// neither delivered nor forwarded.
func (h *Host) validator(typ string) func(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult {
	return func(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		m, reason, res := h.check(msg.Data, typ)
		if res != pubsub.ValidationAccept {
			if from != h.host.ID() {
				h.metrics.dropped.WithLabelValues(typ, reason).Inc()
			}
			return res
		}
		msg.ValidatorData = m
		return pubsub.ValidationAccept
	}
}

// check decodes and judges one frame that arrived for type typ (gossip or
// direct): the reason of a drop, and pubsub's verdict.
func (h *Host) check(data []byte, typ string) (*events.Signed, string, pubsub.ValidationResult) {
	m, err := decodeFrame(data)
	if err != nil {
		h.log.Debug("p2p drop: undecodable", "type", typ, "err", err)
		return nil, dropDecode, pubsub.ValidationReject
	}
	if m.Type != typ {
		h.log.Debug("p2p drop: wrong topic", "type", typ, "msg_type", m.Type, "from", m.From.Short())
		return nil, dropWrongTopic, pubsub.ValidationReject
	}
	if err := h.cfg.Validate(&m); err != nil {
		reason := dropInvalid
		switch {
		case errors.Is(err, ErrTooLarge):
			reason = dropTooLarge
		case errors.Is(err, ErrUnknownType):
			reason = dropUnknownType
		}
		h.log.Debug("p2p drop: invalid", "type", typ, "from", m.From.Short(), "err", err)
		return nil, reason, pubsub.ValidationReject
	}
	if h.cfg.Admit != nil && !h.cfg.Admit(m.From, m.Type) {
		h.log.Debug("p2p drop: peer not admitted", "type", typ, "from", m.From.Short())
		return nil, dropUnknownPeer, pubsub.ValidationIgnore
	}
	if h.cfg.Welcome != nil && !h.cfg.Welcome(&m) {
		h.log.Debug("p2p drop: not welcome", "type", typ, "from", m.From.Short())
		return nil, dropUnwelcome, pubsub.ValidationIgnore
	}
	return &m, "", pubsub.ValidationAccept
}

// readTopic delivers a topic's accepted messages from other nodes.
func (h *Host) readTopic(typ string, sub *pubsub.Subscription) {
	defer h.wg.Done()
	self := h.host.ID()
	for {
		msg, err := sub.Next(h.ctx)
		if err != nil {
			return // closed
		}
		if msg.ReceivedFrom == self {
			continue // our own publish
		}
		m, ok := msg.ValidatorData.(*events.Signed)
		if !ok { // cannot happen: every topic has our validator
			continue
		}
		h.deliver(typ, m)
	}
}

// deliver hands an accepted message to cfg.Deliver, unless the host is
// closed: Close waits for deliveries under way, and none starts after.
func (h *Host) deliver(typ string, m *events.Signed) {
	h.deliverMu.RLock()
	defer h.deliverMu.RUnlock()
	if h.closed {
		return
	}
	h.metrics.received.WithLabelValues(typ).Inc()
	h.cfg.Deliver(*m)
}

// Close stops the host: gossip, direct streams and re-dialing. It is
// safe to call more than once.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.cancel() // stops pubsub, the topic readers and the re-dial loop
		h.deliverMu.Lock()
		h.closed = true
		h.deliverMu.Unlock()
		h.wg.Wait()
		h.closeErr = h.host.Close()
		h.log.Info("p2p host closed")
	})
	return h.closeErr
}
