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
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/metanode/metanode/chain"
	"github.com/metanode/metanode/chain/devchain"
	"github.com/metanode/metanode/events"
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

// Run runs the node in home until ctx ends (SIGINT/SIGTERM in `metanode
// run`), then stops it cleanly: sessions still running are recorded as
// interrupted and the log is closed. Every input is checked before
// anything is written: a bad config, genesis or passphrase, or a port in
// use, is one line of error and no change.
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
	d := &daemon{log: log, inbox: make(chan events.Signed, inboxSize), outbox: make(chan events.Signed, outboxSize), docs: map[events.Hash]chain.SignedTx{}, ctx: ctx}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "metanode_inbox_dropped_total",
			Help: "Received messages dropped because the queue to the node was full.",
		}, func() float64 { return float64(d.dropped.Load()) }))

	host, err := net.NewHost(ctx, net.HostConfig{
		Identity: identity, Listen: cfg.P2P.Listen, Peers: cfg.P2P.Peers,
		Network:  hex.EncodeToString(params.Genesis[:8]),
		Validate: net.Validate, Admit: d.admits, Welcome: d.welcomes, Deliver: d.deliver, Registerer: reg, Logger: log.With("part", "p2p"),
	})
	if err != nil {
		return fmt.Errorf("[p2p] %w", err)
	}
	defer host.Close()
	d.host = host
	d.send = host.Send
	if b := os.Getenv(ByzantineEnv); b != "" {
		if d.send, err = byzantine(b, identity, host.Send, log); err != nil {
			return err
		}
	}

	chainClient := devchain.NewClient(cfg.Chain.URL, host.ID(), log.With("part", "chain"))
	chainClient.After = readCursor(home)
	chainClient.Progress = func(after uint64) {
		if err := durable.WriteFile(filepath.Join(home, ChainCursorFile), []byte(strconv.FormatUint(after, 10)+"\n"), 0o600); err != nil {
			log.Warn("chain cursor not kept", "err", err)
		}
	}
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
		LogObserve: commits.Observe,
	}
	n, err := node.Open(home, nodeCfg)
	if err != nil {
		return err
	}
	d.node.Store(n)
	m := metrics.New(reg, n)
	commits.Attach(m)
	log.Info("node started", "peer", peer.ID(n.ID()).String(), "moniker", cfg.P2P.Moniker, "p2p", host.Addrs(),
		"rest", cfg.REST.Listen, "metrics", cfg.Metrics.Listen, "genesis", params.Genesis.String()[:16], "log_seq", n.Log().LastSeq())

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
	goRun("receive", d.receiveLoop)
	goRun("send", d.sendLoop)
	goRun("clock", d.clockLoop)
	goRun("chain", func(ctx context.Context) error { return d.watchChain(ctx, params) })
	goRun("metrics follower", m.Run)
	if cfg.TSS.PreParamsPool > 0 {
		goRun("pre-parameters", func(ctx context.Context) error { return fillPool(ctx, shares, cfg.TSS.PreParamsPool, log) })
	}
	var servers []*http.Server
	info := api.Info{Moniker: cfg.P2P.Moniker, Version: Version, ListenAddr: firstOf(host.Addrs()), RestAddr: cfg.REST.Listen,
		Network: params.Network, GenesisHash: params.Genesis.String()}
	if restListener != nil {
		handler := api.New(n, info, api.Options{Connected: host.ConnectedPeers, Ready: d.ready, Logger: log.With("part", "rest")})
		servers = append(servers, serve(restListener, handler, log))
	}
	if metricsListener != nil {
		servers = append(servers, serve(metricsListener, m.Handler(reg), log))
	}

	<-ctx.Done()
	log.Info("stopping")
	for _, s := range servers {
		shutdownCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(shutdownCtx)
		done()
	}
	host.Close()
	wg.Wait()
	d.broadcasts.Wait()
	stopErr := n.Stop()
	if err := d.failure(); err != nil {
		return err
	}
	if stopErr != nil {
		return fmt.Errorf("stop: %w", stopErr)
	}
	log.Info("stopped cleanly")
	return nil
}

// daemon is the shell around one node: its queues and outside parts.
type daemon struct {
	log    *slog.Logger
	node   atomic.Pointer[node.Node]
	host   *net.Host
	send   func(events.Signed) error // the host's, or a byzantine behaviour's
	chain  chain.Chain
	inbox  chan events.Signed
	outbox chan events.Signed

	dropped atomic.Uint64 // received messages the inbox had no room for
	ticked  atomic.Bool

	mu   sync.Mutex
	docs map[events.Hash]chain.SignedTx // signing sessions' docs, by session
	err  error

	ctx        context.Context // the run's; ends at stop
	broadcasts sync.WaitGroup  // broadcasts under way
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
func (d *daemon) sendLoop(ctx context.Context) error {
	queues := map[events.PeerID]chan events.Signed{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-d.outbox:
			to, direct := recipient(&m)
			if !direct {
				if err := d.send(m); err != nil && ctx.Err() == nil {
					d.log.Debug("send failed", "type", m.Type, "err", err)
				}
				continue
			}
			q, ok := queues[to]
			if !ok {
				q = make(chan events.Signed, 1024)
				queues[to] = q
				go d.sendDirect(ctx, to, q)
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
func (d *daemon) sendDirect(ctx context.Context, to events.PeerID, q <-chan events.Signed) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-q:
			if err := d.send(m); err != nil && ctx.Err() == nil {
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

// clockLoop ticks the node every second of the wall clock.
func (d *daemon) clockLoop(ctx context.Context) error {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	n := d.node.Load()
	for {
		if err := n.Tick(time.Now()); err != nil {
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
		if err := n.Record(ev); err != nil && ctx.Err() == nil {
			d.log.Error("chain fact not recorded", "kind", ev.Kind().String(), "err", err)
		}
	}, func(kv events.KVEntry) {
		// The search starts from the intent's own hash: the same intent
		// handed over again (a restart) gets the same nonce and id.
		start := sha512.Sum512_256(kv.Intent)
		events.MineIntentPoW(params, &kv, binary.BigEndian.Uint64(start[:8]))
		if err := n.SendIntent(kv); err != nil && ctx.Err() == nil {
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

// ready: the node has ticked and has a peer.
func (d *daemon) ready() error {
	if !d.ticked.Load() {
		return errors.New("the clock has not ticked yet")
	}
	if len(d.host.ConnectedPeers()) == 0 {
		return errors.New("no peer connected")
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
