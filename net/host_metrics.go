package net

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a message is dropped, the "reason" label of
// metanode_p2p_messages_dropped_total.
const (
	dropDecode      = "decode"       // not a frame holding an envelope
	dropWrongTopic  = "wrong_topic"  // the envelope's type is not its topic's (or not tss on the tss stream)
	dropUnknownType = "unknown_type" // Validate: ErrUnknownType
	dropTooLarge    = "too_large"    // Validate: ErrTooLarge, or a direct stream over its limit
	dropInvalid     = "invalid"      // Validate: bad sender or signature, or any other validation error
	dropUnknownPeer = "unknown_peer" // Admit said no: pubsub.ValidationIgnore
	dropUnwelcome   = "unwelcome"    // Welcome said no: pubsub.ValidationIgnore
	dropMisrouted   = "misrouted"    // a direct stream's tss message that is not point to point to us
	dropStream      = "stream"       // a direct stream that failed before its end
)

// Paths a message is sent by, the "path" label of metanode_p2p_messages_sent_total.
const (
	pathGossip = "gossip"
	pathDirect = "direct"
)

type hostMetrics struct {
	received *prometheus.CounterVec // {topic}
	dropped  *prometheus.CounterVec // {topic, reason}
	sent     *prometheus.CounterVec // {topic, path}
}

// newHostMetrics makes the host's metrics and registers them on reg (if
// not nil), with the peers gauge reading peers. A registry that holds
// them already (another host on it) lends its own collectors.
func newHostMetrics(reg prometheus.Registerer, peers func() float64) *hostMetrics {
	m := &hostMetrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_p2p_messages_received_total",
			Help: "Messages accepted from the network and delivered, by topic (message type).",
		}, []string{"topic"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_p2p_messages_dropped_total",
			Help: "Messages from the network dropped at validation, by topic and reason.",
		}, []string{"topic", "reason"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_p2p_messages_sent_total",
			Help: "Messages sent, by topic and path (gossip or direct stream).",
		}, []string{"topic", "path"}),
	}
	if reg == nil {
		return m
	}
	m.received = register(reg, m.received)
	m.dropped = register(reg, m.dropped)
	m.sent = register(reg, m.sent)
	// the gauge reads the newest host on the registry: an HA replica
	// that leads again opens a new host, and the old one is closed
	register(reg, newPeersGauge()).peers.Store(&peers)
	return m
}

// peersGauge is metanode_p2p_peers_connected, reading the peers of the
// host that registered it last.
type peersGauge struct {
	gauge prometheus.GaugeFunc
	peers atomic.Pointer[func() float64]
}

func newPeersGauge() *peersGauge {
	g := &peersGauge{}
	g.gauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "metanode_p2p_peers_connected",
		Help: "Peers with an open connection.",
	}, func() float64 {
		if peers := g.peers.Load(); peers != nil {
			return (*peers)()
		}
		return 0
	})
	return g
}

func (g *peersGauge) Describe(ch chan<- *prometheus.Desc) { g.gauge.Describe(ch) }
func (g *peersGauge) Collect(ch chan<- prometheus.Metric) { g.gauge.Collect(ch) }

// register registers c, or returns the equal collector reg holds already.
// Any other failure leaves c working but unexported.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}
