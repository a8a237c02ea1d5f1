package daemon

import (
	"context"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	stdnet "net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/metanode/metanode/chain"
	"github.com/metanode/metanode/chain/devchain"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/internal/durable"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/node/api"
	"github.com/metanode/metanode/node/metrics"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// Version is the node's version, shown by the API.
var Version = "dev"

// ByzantineEnv makes a devnet node faulty on purpose; only a binary built
// with -tags devnet plays it (byzantine.go), any other refuses to start.
const ByzantineEnv = "METANODE_DEVNET_BYZANTINE"

// Queue bounds between the network and the node.
const (
	inboxSize  = 8192 // received messages waiting for the node
	outboxSize = 8192 // messages waiting for the transport
	batchMax   = 512  // received messages recorded in one append
)

// HighWaterFile keeps the node's anti-double-sign mark (node.Config.HighWaterFile).
const HighWaterFile = "highwater.json"

// RaftDir holds an HA replica's raft files (raft.db, snapshots).
const RaftDir = "raft"

// Run runs the node in home until ctx ends (SIGINT/SIGTERM in `metanode
// run`), then stops it cleanly: sessions still running are recorded as
// interrupted and the log is closed. Every input is checked before
// anything is written: a bad config, genesis or passphrase, or a port in
// use, is one line of error and no change.
//
// With [raft] the node is one replica of an HA node (replica.go): it
// follows the log raft replicates, serving its REST API and metrics,
// and runs the node (p2p, clock, chain) only while raft makes it lead.
func Run(ctx context.Context, home string, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	genesis, params, err := LoadGenesis(home)
	if err != nil {
		return err
	}
	startKey, _ := genesis.StartKey()
	passphrase, err := Passphrase(home, cfg)
	if err != nil {
		return err
	}
	shares, identity, err := openSecrets(home, passphrase, cfg.TSS.KDF())
	if err != nil {
		return err
	}
	self, err := peer.IDFromPrivateKey(identity)
	if err != nil {
		return err
	}
	if err := node.CheckLog(home, params.Genesis); err != nil {
		return err
	}
	restListener, err := listen("[rest]", cfg.REST.Listen)
	if err != nil {
		return err
	}
	defer closeListener(restListener)
	metricsListener, err := listen("[metrics]", cfg.Metrics.Listen)
	if err != nil {
		return err
	}
	defer closeListener(metricsListener)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &daemon{log: log, inbox: make(chan events.Signed, inboxSize), outbox: make(chan events.Signed, outboxSize), docs: map[events.Hash]chain.SignedTx{},
		ctx: ctx, cancel: cancel, home: home, cfg: cfg, params: params, identity: identity}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "metanode_inbox_dropped_total",
			Help: "Received messages dropped because the queue to the node was full.",
		}, func() float64 { return float64(d.dropped.Load()) }))
	d.reg = reg

	// A single node holds its p2p host from the start (a port in use is
	// refused before anything is written); a replica only while it leads.
	var host *net.Host
	var send func(events.Signed) error
	if !cfg.Raft.Enabled() {
		if host, send, err = d.openHost(); err != nil {
			return err
		}
		defer host.Close()
	}

	chainClient := devchain.NewClient(cfg.Chain.URL, events.PeerID(self), log.With("part", "chain"))
	chainClient.Progress = func(after uint64) {
		if err := durable.WriteFile(filepath.Join(home, ChainCursorFile), []byte(strconv.FormatUint(after, 10)+"\n"), 0o600); err != nil {
			log.Warn("chain cursor not kept", "err", err)
		}
	}
	d.chainClient = chainClient
	d.chain = chainClient
	var commits metrics.CommitHook
	nodeCfg := node.Config{
		Params: params, Identity: identity, Publish: d.publish, Chain: d.chain, StakeTx: cfg.Chain.StakeTx,
		GenesisKey: startKey, StartSession: d.sessionStarted,
		TSS: &node.TSS{
			Shares:   shares,
			Address:  func(pub []byte) string { return fmt.Sprintf("%s-vault-%x", params.Network, pub[1:9]) },
			Finished: d.sessionFinished,
			Erased:   d.shareErased,
			Async:    true, // a tss step never delays a tick or a ping
		},
		LogObserve:    commits.Observe,
		HighWaterFile: filepath.Join(home, HighWaterFile),
	}
	var rep *replicaParts
	if cfg.Raft.Enabled() {
		if rep, err = openReplica(home, cfg.Raft, commits.Observe, reg, shares, d.checkErasure); err != nil {
			return err
		}
		nodeCfg.Replicated = &node.Replicated{Store: rep.store, Log: rep.replica}
	}
	n, err := node.Open(home, nodeCfg)
	if err != nil {
		if rep != nil {
			rep.close()
		}
		return err
	}
	d.node.Store(n)
	m := metrics.New(reg, n)
	commits.Attach(m)

	listenAddr := ""
	if host != nil {
		listenAddr = firstOf(host.Addrs())
		log.Info("node started", "peer", self.String(), "moniker", cfg.P2P.Moniker, "p2p", host.Addrs(),
			"rest", cfg.REST.Listen, "metrics", cfg.Metrics.Listen, "genesis", params.Genesis.String()[:16], "log_seq", n.Log().LastSeq())
	} else {
		listenAddr = cfg.P2P.Listen[0] + "/p2p/" + self.String()
		log.Info("replica started: following until raft makes it lead", "peer", self.String(), "moniker", cfg.P2P.Moniker,
			"raft_id", cfg.Raft.ID, "raft_bind", cfg.Raft.Bind, "replicas", cfg.Raft.Replicas,
			"rest", cfg.REST.Listen, "metrics", cfg.Metrics.Listen, "genesis", params.Genesis.String()[:16], "log_seq", n.Log().LastSeq())
	}

	var wg sync.WaitGroup
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.Error(name+" stopped", "err", err)
				d.fail(fmt.Errorf("%s: %w", name, err))
				cancel()
			}
		}()
	}
	goRun("metrics follower", m.Run)
	if cfg.TSS.PreParamsPool > 0 {
		goRun("pre-parameters", func(ctx context.Context) error { return fillPool(ctx, shares, cfg.TSS.PreParamsPool, log) })
	}
	var servers []*http.Server
	info := api.Info{Moniker: cfg.P2P.Moniker, Version: Version, ListenAddr: listenAddr, RestAddr: cfg.REST.Listen,
		Network: params.Network, GenesisHash: params.Genesis.String()}
	if restListener != nil {
		opts := api.Options{Connected: d.connectedPeers, Ready: d.ready, Logger: log.With("part", "rest")}
		if rep != nil {
			opts.Raft = rep.replica.Status
		}
		servers = append(servers, serve(restListener, api.New(n, info, opts), log))
	}
	if metricsListener != nil {
		servers = append(servers, serve(metricsListener, m.Handler(reg), log))
	}

	var runErr error
	if rep == nil {
		duties := d.startDuties(host, send)
		<-ctx.Done()
		log.Info("stopping")
		stopServers(servers)
		duties.stop()
	} else {
		d.replica = rep.replica
		runErr = d.followOrLead(ctx, n, rep)
		log.Info("stopping")
		stopServers(servers)
		cancel()
	}
	wg.Wait()
	d.broadcasts.Wait()
	stopErr := n.Stop() // a leading replica records its sessions as interrupted through raft
	if rep != nil {
		stopErr = errors.Join(stopErr, rep.close())
	}
	if err := errors.Join(runErr, d.failure()); err != nil {
		return err
	}
	if stopErr != nil {
		return fmt.Errorf("stop: %w", stopErr)
	}
	log.Info("stopped cleanly")
	return nil
}

func stopServers(servers []*http.Server) {
	for _, s := range servers {
		shutdownCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(shutdownCtx)
		done()
	}
}

// openHost starts the node's libp2p host, and the send function its
// messages go through (the host's, or a byzantine behaviour's).
func (d *daemon) openHost() (*net.Host, func(events.Signed) error, error) {
	host, err := net.NewHost(d.ctx, net.HostConfig{
		Identity: d.identity, Listen: d.cfg.P2P.Listen, Peers: d.cfg.P2P.Peers,
		Network:  hex.EncodeToString(d.params.Genesis[:8]),
		Validate: net.Validate, Admit: d.admits, Welcome: d.welcomes, Deliver: d.deliver, Registerer: d.reg, Logger: d.log.With("part", "p2p"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("[p2p] %w", err)
	}
	send := host.Send
	if b := os.Getenv(ByzantineEnv); b != "" {
		if send, err = byzantine(b, d.identity, host.Send, d.log); err != nil {
			host.Close()
			return nil, nil, err
		}
	}
	return host, send, nil
}

// duties are the goroutines that make input events or send: on a single
// node for the whole run, on a replica while it leads.
type duties struct {
	host   *net.Host
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// lost is closed when a loop found the lead lost (events.ErrNotLeader)
	lost     chan struct{}
	lostOnce sync.Once
}

// startDuties runs the node's receive, send, clock and chain loops on host.
func (d *daemon) startDuties(host *net.Host, send func(events.Signed) error) *duties {
	ctx, cancel := context.WithCancel(d.ctx)
	s := &duties{host: host, cancel: cancel, lost: make(chan struct{})}
	d.host.Store(host)
	goRun := func(name string, fn func(context.Context) error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := fn(ctx)
			switch {
			case errors.Is(err, events.ErrNotLeader):
				s.lostOnce.Do(func() { close(s.lost) })
			case err != nil && ctx.Err() == nil:
				d.log.Error(name+" stopped", "err", err)
				d.fail(fmt.Errorf("%s: %w", name, err))
				d.cancel()
			}
		}()
	}
	goRun("receive", d.receiveLoop)
	goRun("send", func(ctx context.Context) error { return d.sendLoop(ctx, send) })
	goRun("clock", d.clockLoop)
	goRun("chain", func(ctx context.Context) error {
		d.chainClient.After = readCursor(d.home)
		return d.watchChain(ctx, d.params)
	})
	return s
}

// stop ends the duties' loops and closes their host (first, so sends
// blocked on a peer return), and waits for them.
func (s *duties) stop() {
	s.cancel()
	s.host.Close()
	s.wg.Wait()
}

// daemon is the shell around one node: its queues and outside parts.
type daemon struct {
	log      *slog.Logger
	node     atomic.Pointer[node.Node]
	host     atomic.Pointer[net.Host] // nil while a replica follows
	replica  *ha.Replica              // nil on a single node
	chain    chain.Chain
	inbox    chan events.Signed
	outbox   chan events.Signed
	home     string
	cfg      Config
	params   events.Params
	identity crypto.PrivKey
	reg      *prometheus.Registry
	// chainClient is chain's devchain client: its cursor is set anew at
	// each start of the duties
	chainClient *devchain.Client

	dropped atomic.Uint64 // received messages the inbox had no room for
	ticked  atomic.Bool

	mu   sync.Mutex
	docs map[events.Hash]chain.SignedTx // signing sessions' docs, by session
	err  error

	ctx        context.Context    // the run's; ends at stop
	cancel     context.CancelFunc // ends the run (a failure)
	broadcasts sync.WaitGroup     // broadcasts under way
}

func (d *daemon) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

func (d *daemon) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// admits is the transport's admission: before the node is open, pings only.
func (d *daemon) admits(from events.PeerID, typ string) bool {
	n := d.node.Load()
	if n == nil {
		return typ == events.TypePing
	}
	return n.Admits(from, typ)
}

// welcomes is the transport's further judgement (node.Welcomes).
func (d *daemon) welcomes(m *events.Signed) bool {
	n := d.node.Load()
	return n == nil || n.Welcomes(m)
}

// deliver queues a received message for the node; a full queue drops it
// (counted), as a congested network would.
func (d *daemon) deliver(m events.Signed) {
	select {
	case d.inbox <- m:
	default:
		d.dropped.Add(1)
	}
}

// receiveLoop hands received messages to the node in batches: one
// append for everything that arrived since the last.
func (d *daemon) receiveLoop(ctx context.Context) error {
	batch := make([]events.Signed, 0, batchMax)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-d.inbox:
			batch = append(batch[:0], m)
		}
	drain:
		for len(batch) < batchMax {
			select {
			case m := <-d.inbox:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if n := d.node.Load(); n != nil {
			n.Receive(batch...)
		}
	}
}

// publish is the node's Publish: it never blocks the node.
func (d *daemon) publish(m events.Signed) {
	select {
	case d.outbox <- m:
	default:
		d.log.Warn("outbox full: message not sent (the node sends it again)", "type", m.Type)
	}
}

// sendLoop hands the node's messages to the transport. Gossip goes out
// in order from here; a point-to-point tss message goes to a queue of its
// recipient's, so a slow or unreachable peer delays only what is for it.
func (d *daemon) sendLoop(ctx context.Context, send func(events.Signed) error) error {
	queues := map[events.PeerID]chan events.Signed{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-d.outbox:
			to, direct := recipient(&m)
			if !direct {
				if err := send(m); err != nil && ctx.Err() == nil {
					d.log.Debug("send failed", "type", m.Type, "err", err)
				}
				continue
			}
			q, ok := queues[to]
			if !ok {
				q = make(chan events.Signed, 1024)
				queues[to] = q
				go d.sendDirect(ctx, send, to, q)
			}
			select {
			case q <- m:
			default:
				d.log.Warn("queue to a peer full: message not sent (the node sends it again)", "to", to.Short())
			}
		}
	}
}

// sendDirect sends one recipient's point-to-point messages in order.
func (d *daemon) sendDirect(ctx context.Context, send func(events.Signed) error, to events.PeerID, q <-chan events.Signed) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-q:
			if err := send(m); err != nil && ctx.Err() == nil {
				d.log.Debug("direct send failed", "to", to.Short(), "err", err)
			}
		}
	}
}

// recipient is the one peer a point-to-point tss message is for.
func recipient(m *events.Signed) (events.PeerID, bool) {
	if m.Type != events.TypeTSS {
		return "", false
	}
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) != nil || msg.Broadcast || len(msg.To) != 1 {
		return "", false
	}
	return msg.To[0], true
}

// clockLoop ticks the node every second of the wall clock. A replica
// that lost the lead (events.ErrNotLeader) stops quietly: the leadership
// loop makes it follow.
func (d *daemon) clockLoop(ctx context.Context) error {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	n := d.node.Load()
	for {
		if err := n.Tick(time.Now()); err != nil {
			if errors.Is(err, events.ErrNotLeader) && d.replica != nil {
				d.log.Info("clock stopped: this replica does not lead", "err", err)
				return events.ErrNotLeader
			}
			return fmt.Errorf("tick: %w", err)
		}
		d.ticked.Store(true)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// watchChain records the chain's facts and gossips the swap intents the
// chain's users hand this node, each with its proof of work.
func (d *daemon) watchChain(ctx context.Context, params events.Params) error {
	n := d.node.Load()
	err := d.chain.Watch(ctx, func(ev events.Event) {
		if err := n.Record(ev); err != nil && ctx.Err() == nil && !errors.Is(err, events.ErrNotLeader) {
			d.log.Error("chain fact not recorded", "kind", ev.Kind().String(), "err", err)
		}
	}, func(kv events.KVEntry) {
		// The search starts from the intent's own hash: the same intent
		// handed over again (a restart) gets the same nonce and id.
		start := sha512.Sum512_256(kv.Intent)
		events.MineIntentPoW(params, &kv, binary.BigEndian.Uint64(start[:8]))
		if err := n.SendIntent(kv); err != nil && ctx.Err() == nil && !errors.Is(err, events.ErrNotLeader) {
			d.log.Warn("intent not sent", "err", err)
		}
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// sessionStarted keeps the doc a signing session signs, for the tx the
// chain will confirm: this node's own doc when it is the one chosen (its
// hash is the session's M0). A member that signs another member's doc
// does not hold it; that member broadcasts.
func (d *daemon) sessionStarted(duty projections.Duty) {
	if duty.Kind != projections.DutyStartSigning {
		return
	}
	var doc []byte
	d.node.Load().View(func(st *projections.State) {
		if cur := st.Rounds.Current(); cur != nil && cur.Doc != nil && cur.Doc.M0() == duty.M0 {
			doc = cur.Doc.Encode()
		}
	})
	if doc == nil {
		d.log.Info("signing another member's doc: its owner broadcasts the tx", "round", duty.Round)
		return
	}
	d.mu.Lock()
	d.docs[duty.Session] = chain.SignedTx{Session: duty.Session, M0: duty.M0, Doc: doc}
	d.mu.Unlock()
}

// sessionFinished broadcasts a signed tx, trying again for a minute
// while the chain cannot be reached.
func (d *daemon) sessionFinished(duty projections.Duty, fin *events.TSSSessionFinished, _ *events.KeyPublished) {
	d.mu.Lock()
	tx, ok := d.docs[duty.Session]
	delete(d.docs, duty.Session)
	d.mu.Unlock()
	d.log.Info("tss session finished", "kind", duty.Kind.String(), "round", duty.Round, "outcome", fin.Outcome.String(), "error", fin.Error)
	if !ok || fin.Outcome != events.OutcomeSuccess || duty.Kind != projections.DutyStartSigning {
		return
	}
	tx.Signature = fin.Signature
	d.broadcasts.Add(1)
	go func() {
		defer d.broadcasts.Done()
		for attempt := range 6 {
			ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
			err := d.chain.Broadcast(ctx, tx)
			cancel()
			if err == nil || d.ctx.Err() != nil {
				return
			}
			d.log.Warn("broadcast failed", "session", duty.Session.String()[:12], "attempt", attempt+1, "err", err)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
	}()
}

// shareErased logs the erasure of a superseded key's share, or why the
// node kept it.
func (d *daemon) shareErased(key events.Hash, err error) {
	if err != nil {
		d.log.Warn("superseded share not erased", "key", key.String()[:12], "err", err)
		return
	}
	d.log.Info("superseded share erased", "key", key.String()[:12])
}

// ChainCursorFile keeps the last chain fact the node recorded, so a
// restart does not take the chain's whole history again. Lost or behind
// (a crash between a record and its write), facts are taken twice, which
// changes nothing.
const ChainCursorFile = "chain.cursor"

func readCursor(home string) uint64 {
	data, err := os.ReadFile(filepath.Join(home, ChainCursorFile))
	if err != nil {
		return 0
	}
	after, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return after
}

// ready: the node has ticked and has a peer. A replica that follows is
// ready as a reader once it knows its leader: it serves every read from
// the log raft replicates to it, so a load balancer may send reads its
// way; it is not ready while no leader is known (an election, or cut off
// from the others), when its state may be stale for good.
func (d *daemon) ready() error {
	if d.replica != nil && d.host.Load() == nil {
		if st := d.replica.Status(); st.LeaderID == "" {
			return fmt.Errorf("raft replica %s (%s) knows no leader", st.ID, st.Role)
		}
		return nil
	}
	if !d.ticked.Load() {
		return errors.New("the clock has not ticked yet")
	}
	if len(d.connectedPeers()) == 0 {
		return errors.New("no peer connected")
	}
	return nil
}

// connectedPeers are the host's connected peers (none without a host).
func (d *daemon) connectedPeers() []events.PeerID {
	if h := d.host.Load(); h != nil {
		return h.ConnectedPeers()
	}
	return nil
}

// fillPool keeps the pre-parameter pool full, checking every minute.
func fillPool(ctx context.Context, shares *tss.ShareStore, want int, log *slog.Logger) error {
	for {
		err := shares.FillPreParams(ctx, want, func(ctx context.Context) (*keygen.LocalPreParams, error) {
			return keygen.GeneratePreParamsWithContext(ctx)
		}, func(have, want int, took time.Duration) {
			log.Info("pre-parameters generated", "have", have, "want", want, "took", took.Round(time.Millisecond).String())
		})
		if err != nil && ctx.Err() == nil {
			log.Warn("pre-parameters", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Minute):
		}
	}
}

func listen(section, addr string) (stdnet.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := stdnet.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", section, addr, errors.Unwrap(err))
	}
	return l, nil
}

func closeListener(l stdnet.Listener) {
	if l != nil {
		l.Close()
	}
}

func serve(l stdnet.Listener, h http.Handler, log *slog.Logger) *http.Server {
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "addr", l.Addr().String(), "err", err)
		}
	}()
	return s
}

func firstOf(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}
