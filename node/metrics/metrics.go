// Package metrics is the node's Prometheus metrics, all named
// metanode_*. Three sources feed them:
//
//   - the node's Status and state, read at scrape time (a Collector):
//     peers, log seq and appends, dropped messages, stake checks, blocks
//     in force, the clock, the current round, the key;
//   - the log's commit observer (ObserveCommit, through
//     node.Config.LogObserve): fsync latency;
//   - the log itself, followed by Run from its end when Run starts:
//     messages received and sent per type, events per kind, rounds by
//     outcome, tss session durations.
//
// Counters that come from following the log count from when Run started;
// those read from Status count from when the node opened (its process),
// except metanode_pings_sent_total, which is the log's own ping seq.
package metrics

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node/api"
	"github.com/metanode/metanode/projections"
)

// SessionBuckets are the tss session duration buckets, in seconds: a
// 2-signer signing takes ~0.35 s on two cores, a 10-party keygen ~75 s,
// and sessions time out at the signing deadline.
var SessionBuckets = []float64{0.3, 0.5, 1, 2, 4, 8, 15, 30, 60, 90, 120}

// FsyncBuckets are the log commit duration buckets, in seconds: 100 µs
// to ~1.6 s.
var FsyncBuckets = prometheus.ExponentialBuckets(0.0001, 2, 15)

// MessageTypes are the protocol message types, the values of the type
// label; anything else counts as "other".
var MessageTypes = []string{events.TypePing, events.TypeProposal, events.TypeSigningSet, events.TypeChecksum, events.TypeKeygenCommit,
	events.TypeKVEntry, events.TypeTSS, events.TypeKey, events.TypeCulprits, events.TypeEvidence}

// RoundOutcomes are the outcomes of a finished round, the values of
// metanode_rounds_total's outcome label (projections' names, spaces
// made underscores).
var RoundOutcomes = []string{outcomeLabel(projections.OutcomeSigned), outcomeLabel(projections.OutcomeSetSigning),
	outcomeLabel(projections.OutcomeAborted), outcomeLabel(projections.OutcomeSkipped)}

// Metrics holds the node's collectors.
type Metrics struct {
	src api.Source

	fsync    prometheus.Histogram
	received *prometheus.CounterVec
	sent     *prometheus.CounterVec
	events   *prometheus.CounterVec
	rounds   *prometheus.CounterVec
	sessions *prometheus.HistogramVec
	followed prometheus.Gauge

	running atomic.Bool
	// follow state, Run's own
	lastRound int64 // the last finished round counted
	epoch     int64 // signing epoch, ns
	tickRound int64 // the round of the last tick followed
	started   map[events.Hash]startedSession
}

type startedSession struct {
	kind string
	at   time.Time
}

// maxOpenSessions bounds the sessions Run times at once; a start whose
// end never comes is forgotten when the bound is hit.
const maxOpenSessions = 1024

// New makes the node's metrics and registers them with reg (it panics if
// a name is taken, as prometheus.MustRegister does).
func New(reg prometheus.Registerer, src api.Source) *Metrics {
	m := &Metrics{
		src: src,
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "metanode_log_fsync_seconds",
			Help:    "Time a group commit of the event log took to write and fsync its records.",
			Buckets: FsyncBuckets,
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_messages_received_total",
			Help: "Protocol messages received and logged, by type (since the metrics started following the log).",
		}, []string{"type"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_messages_sent_total",
			Help: "Protocol messages this node signed and sent, by type (since the metrics started following the log).",
		}, []string{"type"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_events_total",
			Help: "Events appended to the log, by kind (since the metrics started following the log).",
		}, []string{"kind"}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metanode_rounds_total",
			Help: "Signing rounds finished, by outcome as this node saw them (signed, set_signing, aborted, skipped).",
		}, []string{"outcome"}),
		sessions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "metanode_tss_session_seconds",
			Help: "Duration of tss sessions by kind (signing, keygen, resharing) and outcome (success, failed, timeout): " +
				"wall-clock time between the metrics reading the session's start and its end from the log.",
			Buckets: SessionBuckets,
		}, []string{"kind", "outcome"}),
		followed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metanode_metrics_followed_seq",
			Help: "The last log seq the metrics have read.",
		}),
		lastRound: math.MinInt64,
		started:   map[events.Hash]startedSession{},
	}
	for _, typ := range slices.Concat(MessageTypes, []string{"other"}) {
		m.received.WithLabelValues(typ)
		m.sent.WithLabelValues(typ)
	}
	for _, o := range RoundOutcomes {
		m.rounds.WithLabelValues(o)
	}
	for _, k := range events.Kinds() {
		m.events.WithLabelValues(k.String())
	}
	reg.MustRegister(m.fsync, m.received, m.sent, m.events, m.rounds, m.sessions, m.followed, newStatusCollector(src))
	return m
}

// ObserveCommit records one group commit of the log: how many records,
// and how long the write and fsync took. It is node.Config.LogObserve's
// (events.Options.Observe) and must stay quick. The records count too,
// but metanode_log_appends_total reads the store's own counter.
func (m *Metrics) ObserveCommit(records int, d time.Duration) {
	m.fsync.Observe(d.Seconds())
}

// Handler serves the metrics gathered from g (the registry New
// registered with, and whatever else shares it) in Prometheus's text
// format.
func (m *Metrics) Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

var errCaughtUp = errors.New("caught up")

// Run follows the log from its end to count what only events show, until
// ctx ends or the log closes (both return nil), or reading the log
// fails. Run once at a time per Metrics.
//
// Session durations are wall-clock time between Run reading a session's
// start and its end: sub-second resolution, unlike the log's tick times
// (one a second). Run reads each commit as it lands, so the error is
// that of waking up (well under a millisecond), unless Run falls
// behind. Sessions that started before Run did are not timed.
//
// Reads of the log only count in memory; what needs the node's state
// (rounds finished) is read after the read transaction ends, so a
// follower never holds up the node.
func (m *Metrics) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("metrics: Run is already running")
	}
	defer m.running.Store(false)
	store := m.src.Log()
	next := store.LastSeq() + 1
	m.src.View(func(s *projections.State) {
		m.epoch = int64(s.Summary.Params().SigningEpoch)
		if h := s.Rounds.History(); len(h) > 0 {
			m.lastRound = h[len(h)-1].Number
		}
		if cur := s.Rounds.Current(); cur != nil {
			m.tickRound = cur.Number
		}
	})
	for {
		roundsEnded := false
		err := store.Follow(ctx, next, func(seq uint64, ev events.Event) error {
			next = seq + 1
			if m.count(ev) {
				roundsEnded = true
			}
			m.followed.Set(float64(seq))
			if seq >= store.LastSeq() || roundsEnded {
				return errCaughtUp
			}
			return nil
		})
		if roundsEnded {
			m.countRounds()
		}
		switch {
		case errors.Is(err, errCaughtUp):
			continue
		case ctx.Err() != nil, errors.Is(err, events.ErrClosed):
			return nil
		}
		return err
	}
}

// count counts one event; it reports whether a tick began a new round
// (the one before it has ended).
func (m *Metrics) count(ev events.Event) bool {
	m.events.WithLabelValues(ev.Kind().String()).Inc()
	switch e := ev.(type) {
	case *events.Tick:
		if m.epoch > 0 {
			if round := int64(e.Time) / m.epoch; round > m.tickRound {
				m.tickRound = round
				return true
			}
		}
	case *events.Genesis:
		m.epoch = int64(e.Params.SigningEpoch)
	case *events.MessageSent:
		m.sent.WithLabelValues(messageType(e.Msg.Type)).Inc()
	case *events.TSSSessionStarted:
		if len(m.started) >= maxOpenSessions {
			clear(m.started)
		}
		m.started[e.Session] = startedSession{kind: e.Protocol.String(), at: time.Now()}
	case *events.TSSSessionFinished:
		if s, ok := m.started[e.Session]; ok {
			delete(m.started, e.Session)
			m.sessions.WithLabelValues(s.kind, e.Outcome.String()).Observe(time.Since(s.at).Seconds())
		}
	default:
		if msg, ok := events.SignedOf(ev); ok {
			m.received.WithLabelValues(messageType(msg.Type)).Inc()
		}
	}
	return false
}

// countRounds counts the rounds the state finished since the last count.
func (m *Metrics) countRounds() {
	var ended []projections.RoundSummary
	m.src.View(func(s *projections.State) {
		h := s.Rounds.History()
		i := len(h)
		for i > 0 && h[i-1].Number > m.lastRound {
			i--
		}
		ended = append(ended, h[i:]...)
	})
	for _, r := range ended {
		m.rounds.WithLabelValues(outcomeLabel(r.Outcome)).Inc()
		m.lastRound = r.Number
	}
}

// outcomeLabel makes a projection's name a label value: spaces become
// underscores.
func outcomeLabel(outcome string) string { return strings.ReplaceAll(outcome, " ", "_") }

var knownTypes = func() map[string]bool {
	known := map[string]bool{}
	for _, t := range MessageTypes {
		known[t] = true
	}
	return known
}()

func messageType(t string) string {
	if knownTypes[t] {
		return t
	}
	return "other"
}

// CommitHook hands the log's commit observations to Metrics made after
// the node: node.Open needs its observer (node.Config.LogObserve) before
// the node exists, and New needs the node. Observations before Attach
// are dropped (the few commits of node.Open).
//
//	var hook metrics.CommitHook
//	n, err := node.Open(dir, node.Config{..., LogObserve: hook.Observe})
//	m := metrics.New(reg, n)
//	hook.Attach(m)
type CommitHook struct {
	m atomic.Pointer[Metrics]
}

// Observe is the observer to pass as node.Config.LogObserve.
func (h *CommitHook) Observe(records int, d time.Duration) {
	if m := h.m.Load(); m != nil {
		m.ObserveCommit(records, d)
	}
}

// Attach sends the observations from now on to m.
func (h *CommitHook) Attach(m *Metrics) { h.m.Store(m) }

// statusCollector reads the node's Status and state at scrape time.
type statusCollector struct {
	src api.Source
	mu  sync.Mutex // one scrape at a time reads the node

	peersListed, peersSeen, peersKnown, logSeq, appends, commits, dropped, stakeAsks, pingsSent,
	blocks, lastTick, round, hasKey, keyMember *prometheus.Desc
}

func newStatusCollector(src api.Source) *statusCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &statusCollector{
		src:         src,
		peersListed: d("metanode_peers_listed", "Peers in the peer list: pinging within peer_expiry, stake valid, not blocked."),
		peersSeen:   d("metanode_peers_seen", "Peers whose messages the log holds."),
		peersKnown:  d("metanode_peers_known", "Peers in the peer table now."),
		logSeq:      d("metanode_log_seq", "The last durable seq of the event log."),
		appends:     d("metanode_log_appends_total", "Records appended to the event log since the node opened it."),
		commits:     d("metanode_log_commits_total", "Group commits (fsyncs) of the event log since the node opened it."),
		dropped: d("metanode_messages_dropped_total",
			"Messages dropped unlogged since the node started, by reason: unadmitted (not pings, from peers not admitted), "+
				"strangers (pings that could not lead to a stake check), early (tss messages over the sender's bound), "+
				"invalid (failed validation, or the log refused them).", "reason"),
		stakeAsks: d("metanode_stake_checks_asked_total", "Stake checks asked of the stake chain since the node started."),
		pingsSent: d("metanode_pings_sent_total", "Pings this node sent (its ping seq, kept in the log)."),
		blocks: d("metanode_blocks_in_force",
			"Blocks in force now, by reason: equivocation, tss_culprit, checksum_outlier, tss_timeout.", "reason"),
		lastTick:  d("metanode_last_tick_timestamp_seconds", "Time of the last clock tick the log holds, unix seconds."),
		round:     d("metanode_round", "The current signing round number."),
		hasKey:    d("metanode_key_current", "1 when a threshold key is current."),
		keyMember: d("metanode_key_member", "1 when this node holds a share of the current key."),
	}
}

// Describe implements prometheus.Collector.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.peersListed, c.peersSeen, c.peersKnown, c.logSeq, c.appends, c.commits, c.dropped,
		c.stakeAsks, c.pingsSent, c.blocks, c.lastTick, c.round, c.hasKey, c.keyMember} {
		ch <- d
	}
}

var blockReasons = []projections.BlockReason{projections.BlockEquivocation, projections.BlockCulprit, projections.BlockOutlier, projections.BlockTimeout}

// Collect implements prometheus.Collector.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.src.Status() // the node's lock: never inside View
	store := c.src.Log()
	stats := store.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.peersListed, float64(st.PeersListed))
	gauge(c.peersSeen, float64(st.PeersSeen))
	gauge(c.logSeq, float64(store.LastSeq()))
	counter(c.appends, float64(stats.Events))
	counter(c.commits, float64(stats.Commits))
	counter(c.dropped, float64(st.DroppedUnadmitted), "unadmitted")
	counter(c.dropped, float64(st.DroppedStrangers), "strangers")
	counter(c.dropped, float64(st.DroppedEarly), "early")
	counter(c.dropped, float64(api.DroppedInvalid(st)), "invalid")
	counter(c.stakeAsks, float64(st.StakeChecksAsked))
	counter(c.pingsSent, float64(st.PingsSent))
	if st.LastTick != 0 {
		gauge(c.lastTick, float64(st.LastTick)/1e9)
	}
	var (
		known            int
		blocks           = map[projections.BlockReason]int{}
		round            *int64
		hasKey, isMember bool
	)
	c.src.View(func(s *projections.State) {
		known = len(s.Peers.All())
		for _, b := range s.Blocks.Active() {
			blocks[b.Reason]++
		}
		if cur := s.Rounds.Current(); cur != nil {
			n := cur.Number
			round = &n
		}
		_, hasKey = s.Keys.Current()
		isMember = s.Keys.IsMember(st.ID)
	})
	gauge(c.peersKnown, float64(known))
	for _, r := range blockReasons {
		gauge(c.blocks, float64(blocks[r]), outcomeLabel(r.String()))
	}
	if round != nil {
		gauge(c.round, float64(*round))
	}
	gauge(c.hasKey, boolFloat(hasKey))
	gauge(c.keyMember, boolFloat(isMember))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
