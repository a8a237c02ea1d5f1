package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// Layout of a node's data directory.
const (
	IdentityFile = "identity.key"
	LogDir       = "log"
)

// StakeChain answers stake checks. A chain query is slow and must never
// run under the node's lock, so CheckStake only asks: it returns at once
// (or when the query is handed off) and calls answer once, from any
// goroutine, even before it returns; the node records the answer as an
// event. It is called outside the node's lock.
type StakeChain interface {
	CheckStake(peer events.PeerID, stakeTx string, answer func(events.StakeChecked))
}

// Config is a node's surroundings.
type Config struct {
	// Params start a new log; an existing log keeps its own genesis.
	Params events.Params
	// Publish hands a signed message to the network.
	Publish func(events.Signed)
	// Identity is the node's Ed25519 key; nil loads or creates DIR/identity.key.
	Identity crypto.PrivKey
	// Chain answers stake checks; nil leaves them undone.
	Chain StakeChain
	// StakeTx is the node's own stake, announced in its pings.
	StakeTx string
	// Share is the node's secret share of the current key (32 bytes), or
	// of the key it starts on when its log holds none yet, for share
	// proofs; nil when it holds none. It follows the current key
	// (followKey).
	Share []byte
	// TSS runs the node's tss sessions (signing, keygen, resharing) for
	// real. Nil: a session's start is only logged, and StartSession may
	// stand in, its outcome coming back through Record.
	TSS *TSS
	// StartSession, if set, is told of every session start after it is
	// logged.
	StartSession func(projections.Duty)
	// NoSync makes appends non-durable: for simulations only.
	NoSync bool
	// LogObserve, if set, is told of every group commit of the node's
	// log: records written and the time the write and fsync took
	// (events.Options.Observe; metrics.Metrics.ObserveCommit).
	LogObserve func(records int, sync time.Duration)
	// Validate is the gossip validator (default net.Validate). A
	// simulation shares one that remembers results across its nodes.
	Validate func(*events.Signed) error
	// GenesisKey is the key the network starts on (a devnet's test key),
	// recorded when the log does not hold it yet.
	GenesisKey *events.KeyPublished
	// Replicated makes the node one replica of an HA node: Store is this
	// replica's event log, which raft's FSM writes; every append goes
	// through Log (ha.Replica), which returns once the events are
	// committed and in Store. The node opens following (no clock, no
	// duties) and folds what the FSM appends (CatchUp) until Lead.
	Replicated *Replicated
	// HighWaterFile, if set, keeps this machine's high-water mark of the
	// round messages it signed (highwater.go) across restarts.
	HighWaterFile string
}

// Appender appends events durably and returns the seq of the first:
// the node's own store, or raft on an HA replica.
type Appender interface {
	Append(evs ...events.Event) (first uint64, err error)
}

// Replicated is an HA replica's log: its store and raft's appender.
type Replicated struct {
	Store *events.Store
	Log   Appender
}

// Node is one metanode: its identity, its log and the state folded from it.
type Node struct {
	id    events.PeerID
	key   crypto.PrivKey
	store *events.Store
	log   Appender // store, or raft on an HA replica
	cfg   Config
	// folded is the seq of the last event folded into state; leading:
	// the node runs its duties (always, unless it is a replica that
	// follows); highWater: round messages signed (highwater.go)
	folded    uint64
	leading   bool
	highWater *highWater

	mu    sync.Mutex // one input at a time: append, fold, decide
	state *projections.State

	// tss sessions running here, messages for sessions not started yet,
	// sessions recently ended, and key data loaded (all under mu)
	sessions map[events.Hash]*session
	early    map[events.Hash]*earlyMessages
	// earlyLarge counts early tss-lib messages, earlySmall early echoes and
	// session keys (sessions.go)
	earlyLarge, earlySmall earlyBudget
	ended                  map[events.Hash]*endedSession
	// seen: the envelopes of deduplicated types logged lately (sender and
	// signature), so a retransmission is not logged twice; resends: sent
	// round and commit messages due for retransmission.
	seen    map[events.Hash]seenEnvelope
	seenBy  map[events.PeerID]int
	resends []resend
	// asked: stake checks asked of the chain and when (tick time), so a
	// check still unanswered, or answered within stake_recheck, is not
	// asked again.
	asked map[projections.StakeCheck]events.Time
	// regossip: anti-entropy of the intents in force (intents.go)
	regossip intentRegossip
	keys     map[events.Hash]*keygen.LocalPartySaveData
	// eraseDue: the current key changed, or a share was kept, since the
	// last erasure check; eraseMu: one check at a time (erasure.go, off
	// the lock), and guards groupOf: the group key of each superseded
	// share the checks have opened.
	eraseDue atomic.Bool
	eraseMu  sync.Mutex
	groupOf  map[events.Hash][]byte
	// shares: shares of keys installed with SetShare (a simulation's
	// stand-in keygen); shareOf: the key cfg.Share belongs to, zero when
	// unknown (a configured share, before the log names a key)
	shares  map[events.Hash][]byte
	shareOf events.Hash
	// receiveErr is a failure while answering a received message (the log
	// refused a write); the next Tick returns it.
	receiveErr error

	dropped atomic.Uint64 // failed validation or could not be logged
	// counters of messages dropped unlogged by admission and the bounds
	droppedUnadmitted atomic.Uint64 // not a ping, from a peer not admitted
	droppedStrangers  atomic.Uint64 // pings of strangers that cannot lead to a stake check now
	droppedEarly      atomic.Uint64 // tss messages over a sender's early bound
	stakeAsks         atomic.Uint64 // stake checks asked of the chain
}

// Open opens (or creates) the node in dir.
func Open(dir string, cfg Config) (*Node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node directory: %w", err)
	}
	key := cfg.Identity
	if key == nil {
		var err error
		if key, err = loadOrCreateIdentity(filepath.Join(dir, IdentityFile)); err != nil {
			return nil, err
		}
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	var store *events.Store
	var appender Appender
	if cfg.Replicated != nil {
		store, appender = cfg.Replicated.Store, cfg.Replicated.Log
	} else {
		if store, err = events.Open(filepath.Join(dir, LogDir), events.Options{NoSync: cfg.NoSync, Observe: cfg.LogObserve}); err != nil {
			return nil, err
		}
		appender = store
	}
	hw, err := openHighWater(cfg.HighWaterFile)
	if err != nil {
		if cfg.Replicated == nil {
			store.Close()
		}
		return nil, err
	}
	if cfg.Publish == nil {
		cfg.Publish = func(events.Signed) {}
	}
	if cfg.Validate == nil {
		cfg.Validate = net.Validate
	}
	n := &Node{id: events.PeerID(pid), key: key, store: store, log: appender, cfg: cfg, state: projections.NewState(),
		leading: cfg.Replicated == nil, highWater: hw,
		sessions: map[events.Hash]*session{}, early: map[events.Hash]*earlyMessages{}, ended: map[events.Hash]*endedSession{},
		seen: map[events.Hash]seenEnvelope{}, seenBy: map[events.PeerID]int{},
		earlyLarge: newEarlyBudget(MaxEarlyTSSMessages, MaxEarlyTSSPerPeer), earlySmall: newEarlyBudget(MaxEarlyTSSSmall, MaxEarlyTSSSmallPerPeer),
		asked: map[projections.StakeCheck]events.Time{},
		keys:  map[events.Hash]*keygen.LocalPartySaveData{}, groupOf: map[events.Hash][]byte{}, shares: map[events.Hash][]byte{}}
	closeStore := func() {
		if cfg.Replicated == nil {
			store.Close()
		}
	}
	if err := n.restore(cfg.Params); err != nil {
		closeStore()
		return nil, err
	}
	if err := n.loadShare(); err != nil {
		closeStore()
		return nil, err
	}
	if n.leading {
		if err := n.endInterrupted(); err != nil {
			closeStore()
			return nil, err
		}
	}
	n.eraseDue.Store(false)
	n.eraseSuperseded() // what a stop or a failure left undone
	return n, nil
}

// Stop records the sessions still running as interrupted (their parties
// live in memory only) and closes the log.
func (n *Node) Stop() error {
	n.mu.Lock()
	n.haltActors()
	var err error
	if n.leading {
		err = n.endInterrupted()
		if n.cfg.Replicated != nil && errors.Is(err, events.ErrNotLeader) {
			err = nil // the next leader records them
		}
	}
	n.leading = false
	n.mu.Unlock()
	return errors.Join(err, n.closeStore())
}

func (n *Node) closeStore() error {
	if n.cfg.Replicated != nil {
		return nil // the replica's: raft's FSM writes it until raft stops
	}
	return n.store.Close()
}

// endInterrupted records the sessions a stopped node left running as
// failed: their parties lived in memory only, so they cannot finish, and
// the round or key attempt waiting on them moves on. No culprits: the
// fault was this node's.
func (n *Node) endInterrupted() error {
	if n.cfg.TSS == nil {
		return nil
	}
	var evs []events.Event
	for _, id := range n.state.Unfinished() {
		evs = append(evs, &events.TSSSessionFinished{Session: id, Outcome: events.OutcomeFailed, Error: "interrupted: the node stopped during the session"})
	}
	return n.recordAll(evs)
}

// loadShare takes the node's share of the current key from its share
// store, for its share proofs, and the shares of keys it made that are
// not current yet, so that switching to one (followKey, under the lock)
// never reads the store.
func (n *Node) loadShare() error {
	key, ok := n.state.Keys.Current()
	if ok && n.cfg.Share != nil {
		n.shareOf = key.KeyID // a configured share is the current key's
	}
	if n.cfg.TSS == nil || n.cfg.TSS.Shares == nil {
		return nil
	}
	for _, pending := range n.state.Committees.OwnKeysPending() {
		if _, err := n.keyData(pending); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("share of key %s: %w", pending.KeyID.String()[:12], err)
		}
	}
	if !ok || !n.state.Keys.IsMember(n.id) {
		return nil
	}
	data, err := n.keyData(key)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a member whose share is elsewhere (Config.Share), or lost
	}
	if err != nil {
		return fmt.Errorf("share of key %s: %w", key.KeyID.String()[:12], err)
	}
	n.cfg.Share, n.shareOf = tss.ShareScalar(data), key.KeyID
	return nil
}

// followKey switches the node's share proofs to its share of the current
// key when the key changes, or when its share of it arrives (a key can
// become current on t+1 announcements before this member's own session
// has finished). Without a share of the current key it proves none: its
// share of an earlier key would prove nothing but a lie.
func (n *Node) followKey() {
	key, ok := n.state.Keys.Current()
	if !ok || key.KeyID == n.shareOf {
		return
	}
	if share, ok := n.shares[key.KeyID]; ok {
		n.cfg.Share, n.shareOf = share, key.KeyID
		return
	}
	if data, ok := n.keys[key.KeyID]; ok {
		n.cfg.Share, n.shareOf = tss.ShareScalar(data), key.KeyID
		return
	}
	if !n.shareOf.IsZero() {
		n.cfg.Share, n.shareOf = nil, events.Hash{}
	}
}

// restore folds the existing log, or writes the genesis of a new one.
func (n *Node) restore(params events.Params) error {
	if n.cfg.Replicated != nil {
		// a replica folds what its log holds; a new log's genesis is the
		// first leader's to write (Lead)
		if err := n.catchUp(); err != nil {
			return err
		}
		if n.folded == 0 {
			return nil
		}
		return n.checkOwnLog(params)
	}
	if n.store.LastSeq() == 0 {
		return n.writeGenesis(params)
	}
	if err := n.catchUp(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return n.checkOwnLog(params)
}

// writeGenesis starts a new log: the genesis, and the key the network
// starts on, in one append (a later open never adopts it again).
func (n *Node) writeGenesis(params events.Params) error {
	params.NodeID = n.id
	if err := params.Validate(); err != nil {
		return err
	}
	evs := []events.Event{&events.Genesis{Params: params}}
	if n.cfg.GenesisKey != nil {
		evs = append(evs, n.cfg.GenesisKey)
	}
	return n.recordAll(evs)
}

// checkOwnLog refuses a log of another network or another node.
func (n *Node) checkOwnLog(params events.Params) error {
	if started := n.state.Summary.Params().Genesis; params.Genesis != started && !params.Genesis.IsZero() {
		return fmt.Errorf("the genesis's hash %s differs from the one the log %s started with (%s): this log belongs to another network",
			short(params.Genesis), n.store.Path(), short(started))
	}
	if n.state.Summary.NodeID != n.id {
		return fmt.Errorf("log %s belongs to node %s, but the identity key is %s's", n.store.Path(), n.state.Summary.NodeID.Short(), n.id.Short())
	}
	return nil
}

// record appends an event and folds it into the state.
func (n *Node) record(ev events.Event) error {
	return n.recordAll([]events.Event{ev})
}

// ID is the node's peer id.
func (n *Node) ID() events.PeerID { return n.id }

// Log is the node's event log, for readers (the REST API, metrics):
// reading it never takes the node's lock.
func (n *Node) Log() *events.Store { return n.store }

// Key is the node's identity key.
func (n *Node) Key() crypto.PrivKey { return n.key }

// Tick records a clock reading and executes the duties now due. Like
// etcd's raft, the node acts only on ticks: messages and answers are
// recorded as they come, and what they call for is done at the next tick
// (every second), so a log's duties always follow its ticks.
// Messages are published after the node's lock is released, so nodes on a
// synchronous bus can tick each other without deadlock.
func (n *Node) Tick(now time.Time) error {
	var fx effects
	n.mu.Lock()
	err := n.receiveErr
	if !n.leading {
		err = events.ErrNotLeader
	}
	if err == nil {
		err = n.handle(&events.Tick{Time: events.TimeOf(now)}, &fx)
	}
	if errors.Is(err, events.ErrNotLeader) {
		// fenced: a replica that lost the lead mid-tick sends nothing,
		// not even retransmissions queued before its append failed
		fx = effects{}
	}
	n.mu.Unlock()
	n.apply(&fx)
	return err
}

// apply carries out what an input left for after the lock: so nodes on
// a synchronous bus can drive each other without deadlock.
func (n *Node) apply(fx *effects) {
	for _, m := range fx.publish {
		n.cfg.Publish(m)
	}
	if n.cfg.StartSession != nil {
		for _, d := range fx.started {
			n.cfg.StartSession(d)
		}
	}
	for _, c := range fx.checks {
		n.cfg.Chain.CheckStake(c.Peer, c.StakeTx, n.stakeAnswer)
	}
	if n.cfg.TSS != nil && n.cfg.TSS.Finished != nil {
		for _, f := range fx.finished {
			n.cfg.TSS.Finished(f.duty, f.fin, f.key)
		}
	}
	n.eraseIfDue()
}

// Record takes answers from outside (deposits seen, a tx confirmed, a tss
// session's outcome, a published key) in one append.
func (n *Node) Record(evs ...events.Event) error {
	n.mu.Lock()
	err := events.ErrNotLeader
	if n.leading || n.cfg.Replicated == nil {
		err = n.recordAll(evs)
	}
	n.mu.Unlock()
	n.eraseIfDue()
	return err
}

func (n *Node) recordAll(evs []events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	first, err := n.log.Append(evs...)
	if errors.Is(err, events.ErrNotLeader) {
		// fenced: the replica lost the lead (perhaps only for a moment,
		// and its entry may yet be committed); it runs nothing more until
		// its shell makes it Lead again, from its log
		n.leading = false
	}
	if err != nil {
		return err
	}
	if first != n.folded+1 {
		// an HA replica's log took entries this node has not folded (a
		// former leader's, committed after it lost the lead): in order
		if err := n.catchUpTo(first - 1); err != nil {
			return err
		}
	}
	before := n.currentKeyID()
	for i, ev := range evs {
		n.fold(first+uint64(i), ev)
	}
	n.followKey()
	n.noteKeyChange(before)
	return nil
}

// fold applies one logged event to the state.
func (n *Node) fold(seq uint64, ev events.Event) {
	n.state.Apply(seq, ev)
	n.highWater.note(ev, n.id)
	n.folded = seq
}

// catchUp folds what the log holds beyond what the state has.
func (n *Node) catchUp() error { return n.catchUpTo(n.store.LastSeq()) }

func (n *Node) catchUpTo(last uint64) error {
	if last <= n.folded {
		return nil
	}
	before := n.currentKeyID()
	err := n.store.ForEachChunked(n.folded+1, last, func(seq uint64, ev events.Event) error {
		if seq != n.folded+1 {
			return fmt.Errorf("log: seq %d after %d", seq, n.folded)
		}
		n.fold(seq, ev)
		return nil
	})
	n.followKey()
	n.noteKeyChange(before)
	return err
}

// handle records ev, ends tss sessions past their deadline, and executes
// duties until none is due.
func (n *Node) handle(ev events.Event, fx *effects) error {
	if err := n.record(ev); err != nil {
		return err
	}
	if tick, ok := ev.(*events.Tick); ok {
		n.resendDue(tick.Time, fx)
		n.forgetSeen(tick.Time)
		n.forgetAsked(tick.Time)
		n.regossipIntents(tick.Time, fx)
		if n.cfg.TSS != nil {
			if err := n.expireSessions(tick.Time, fx); err != nil {
				return err
			}
		}
	}
	// Executing a duty records an event, which may make another due (a
	// checksum completes the set: start signing). Each kind runs at most
	// once per input, which also bounds the loop.
	done := map[projections.DutyKind]bool{}
	for {
		var next *projections.Duty
		for _, d := range n.state.Duties() {
			if !done[d.Kind] && n.executable(d) {
				next = &d
				break
			}
		}
		if next == nil {
			return nil
		}
		done[next.Kind] = true
		if next.Kind == projections.DutyCheckStake {
			n.askStakes(fx)
			continue
		}
		if err := n.execute(*next, fx); err != nil {
			return err
		}
	}
}

// askStakes queues every due stake check not asked already for the
// chain, which is called after the lock (apply). A check stays asked for
// stake_recheck: an unanswered one is not asked again sooner (one query
// per peer and stake_recheck, whatever the chain's latency).
func (n *Node) askStakes(fx *effects) {
	now := n.state.Summary.LastTick
	for _, d := range n.state.Duties() {
		if d.Kind != projections.DutyCheckStake {
			continue
		}
		if at, ok := n.asked[d.StakeCheck]; ok && now.Sub(at) < n.state.Summary.Params().StakeRecheck {
			continue
		}
		n.asked[d.StakeCheck] = now
		n.stakeAsks.Add(1)
		fx.checks = append(fx.checks, d.StakeCheck)
	}
}

// forgetAsked drops asks older than stake_recheck: they may be asked again.
func (n *Node) forgetAsked(now events.Time) {
	recheck := n.state.Summary.Params().StakeRecheck
	for c, at := range n.asked {
		if now.Sub(at) >= recheck {
			delete(n.asked, c)
		}
	}
}

// stakeAnswer records the chain's answer to a stake check.
func (n *Node) stakeAnswer(ans events.StakeChecked) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.leading {
		return // the next leader asks again
	}
	if err := n.record(&ans); err != nil && !errors.Is(err, events.ErrClosed) && !errors.Is(err, events.ErrNotLeader) && n.receiveErr == nil {
		n.receiveErr = err // the next Tick reports it
	}
}

func (n *Node) executable(d projections.Duty) bool {
	switch d.Kind {
	case projections.DutyCheckStake:
		return n.cfg.Chain != nil
	case projections.DutySendProposal:
		return n.cfg.Share != nil
	}
	return true
}

// execute carries out one duty; the message it sends is recorded first.
func (n *Node) execute(d projections.Duty, fx *effects) error {
	var typ string
	var body any
	switch d.Kind {
	case projections.DutySendPing:
		ping := d.Ping
		ping.StakeTx = n.cfg.StakeTx
		if n.cfg.Share != nil && n.state.Keys.IsMember(n.id) {
			proof, err := tss.ProveShare(n.cfg.Share, tss.ProofContext{
				Purpose: tss.ProofForPing, KeyID: ping.KeyID, Peer: n.id,
				Bucket: projections.PingProofBucket(ping.Time, n.state.Summary.Params()),
			})
			if err != nil {
				return err
			}
			ping.TSSProof = proof
		}
		typ, body = events.TypePing, &ping
	case projections.DutySendProposal:
		p := d.Proposal
		key, _ := n.state.Keys.Current()
		proof, err := tss.ProveShare(n.cfg.Share, tss.ProofContext{Purpose: tss.ProofForProposal, KeyID: key.KeyID, Peer: n.id, Bucket: p.Round})
		if err != nil {
			return err
		}
		p.TSSProof = proof
		typ, body = events.TypeProposal, &p
	case projections.DutySendSigningSet:
		typ, body = events.TypeSigningSet, &d.SigningSet
	case projections.DutySendChecksum:
		typ, body = events.TypeChecksum, &d.Checksum
	case projections.DutySendKeygenCommit:
		typ, body = events.TypeKeygenCommit, &d.KeygenCommit
	case projections.DutySendEvidence:
		typ, body = events.TypeEvidence, &d.Evidence
	case projections.DutySendKeyAnnouncement:
		typ, body = events.TypeKey, &d.KeyAnnouncement
	case projections.DutyStartSigning, projections.DutyStartKeygen, projections.DutyStartResharing:
		// Committed before it runs: a replica that takes over never starts
		// the same session twice; and never a second doc for one round.
		if d.Kind == projections.DutyStartSigning {
			if err := n.highWater.admitSigning(d.Round, d.M0); errors.Is(err, ErrDoubleSign) {
				return nil
			} else if err != nil {
				return err
			}
		}
		if err := n.record(d.StartEvent()); err != nil {
			return err
		}
		fx.started = append(fx.started, d)
		if n.cfg.TSS != nil {
			return n.openSession(d, fx)
		}
		return nil
	default:
		return fmt.Errorf("duty %s: no executor", d.Kind)
	}
	return n.sendMessage(typ, body, fx)
}

// SetShare installs the node's share of a key (a stand-in for keygen or
// regroup, whose key data is not in a share store): its share proofs use
// it while that key is current.
func (n *Node) SetShare(keyID events.Hash, share []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.shares[keyID] = share
	if n.shareOf == keyID {
		n.shareOf = events.Hash{} // take the new share at once
	}
	n.followKey()
}

// send signs a message and records it as sent; it must be in the log
// before it reaches the network.
func (n *Node) send(typ string, body any) (*events.Signed, error) {
	data, err := events.Marshal(nil, body)
	if err != nil {
		return nil, err
	}
	if err := n.highWater.admit(typ, data); err != nil {
		return nil, err
	}
	m, err := net.Sign(n.key, typ, data)
	if err != nil {
		return nil, err
	}
	if err := n.record(&events.MessageSent{Msg: m}); err != nil {
		return nil, err
	}
	return &m, nil
}

// sendMessage signs and logs a message and queues it for the network,
// to be sent again while that helps (resend.go).
func (n *Node) sendMessage(typ string, body any, fx *effects) error {
	m, err := n.send(typ, body)
	if errors.Is(err, ErrDoubleSign) {
		return nil // refused and counted (Status.RefusedDoubleSign); the node goes on
	}
	if err != nil {
		return err
	}
	fx.publish = append(fx.publish, *m)
	n.scheduleResend(*m)
	return nil
}

// SendIntent signs and gossips a swap intent for the K/V store. Its
// Nonce must already be a valid proof of work (events.MineIntentPoW):
// without one no node, this one included, lets the intent count.
func (n *Node) SendIntent(kv events.KVEntry) error {
	n.mu.Lock()
	if !n.leading && n.cfg.Replicated != nil {
		n.mu.Unlock()
		return events.ErrNotLeader
	}
	m, err := n.send(events.TypeKVEntry, &kv)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	n.cfg.Publish(*m)
	return nil
}

// Receive takes messages from the network, recorded in one append. One
// that fails validation is dropped and counted, never logged; a valid one
// is logged even if it breaks the protocol, as evidence.
func (n *Node) Receive(msgs ...events.Signed) {
	evs := make([]events.Event, 0, len(msgs))
	for i := range msgs {
		if err := n.cfg.Validate(&msgs[i]); err != nil {
			n.dropped.Add(1)
			continue
		}
		if msgs[i].Type == events.TypeTSS && !n.forMe(&msgs[i]) {
			continue // a point-to-point tss message for another peer
		}
		ev, err := events.ReceivedEvent(msgs[i])
		if err != nil {
			n.dropped.Add(1)
			continue
		}
		evs = append(evs, ev)
	}
	var fx effects
	n.mu.Lock()
	if n.leading {
		n.receive(evs, &fx)
	}
	n.mu.Unlock()
	n.apply(&fx)
}

func (n *Node) receive(evs []events.Event, fx *effects) {
	evs = n.admit(evs)
	evs = n.dropRepeats(evs, fx)
	if err := n.recordAll(evs); err != nil {
		if errors.Is(err, events.ErrNotLeader) {
			*fx = effects{} // fenced, as in Tick
			return
		}
		if !errors.Is(err, events.ErrClosed) {
			// The log refused a write (disk full, I/O error): the messages
			// are lost to this node like a network drop, and counted so.
			n.dropped.Add(uint64(len(evs)))
		}
		return
	}
	if n.cfg.TSS == nil {
		return
	}
	for _, ev := range evs {
		switch e := ev.(type) {
		case *events.TSSMessageReceived:
			if err := n.receiveTSS(&e.Msg, fx); errors.Is(err, events.ErrNotLeader) {
				*fx = effects{}
				return
			} else if err != nil {
				n.receiveErr = err
			}
		case *events.CulpritReportReceived:
			n.noteDispute(&e.Msg)
		}
	}
}

// Status is a node's state at a glance.
type Status struct {
	ID          events.PeerID
	Events      uint64
	PeersSeen   int
	PeersListed int
	PingsSent   uint64
	Dropped     uint64 // every message dropped unlogged, for any reason
	// the part of Dropped that admission and the bounds dropped
	DroppedUnadmitted uint64 // not pings, from peers not admitted
	DroppedStrangers  uint64 // pings of strangers that could not lead to a stake check
	DroppedEarly      uint64 // tss messages over their sender's early-buffer bound
	StakeChecksAsked  uint64
	// RefusedDoubleSign counts messages and signing starts the
	// high-water mark refused (highwater.go): nonzero is a bug or a log
	// restored from an old copy.
	RefusedDoubleSign uint64
	// Leading: the node runs its duties (an HA replica that follows
	// does not).
	Leading       bool
	LastTick      events.Time
	StateHash     events.Hash
	LogPath       string
	PerKindCounts []projections.KindCount
}

// Status reports the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.state
	return Status{
		ID: n.id, Events: s.Summary.Events, PeersSeen: len(s.Summary.Peers()), PeersListed: len(s.Peers.List(s.Blocks.Blocked)),
		PingsSent: s.OwnPings.LastSeq(), LastTick: s.Summary.LastTick,
		Dropped:           n.dropped.Load() + n.droppedUnadmitted.Load() + n.droppedStrangers.Load() + n.droppedEarly.Load(),
		DroppedUnadmitted: n.droppedUnadmitted.Load(), DroppedStrangers: n.droppedStrangers.Load(), DroppedEarly: n.droppedEarly.Load(),
		StakeChecksAsked: n.stakeAsks.Load(), RefusedDoubleSign: n.highWater.refused, Leading: n.leading,
		StateHash: projections.StateHash(s), LogPath: n.store.Path(), PerKindCounts: s.Summary.PerKind(),
	}
}

// View runs fn with the node's state, under its lock; fn must not keep it.
func (n *Node) View(fn func(*projections.State)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fn(n.state)
}

// Close closes the node's log.
func (n *Node) Close() error {
	n.mu.Lock()
	n.haltActors()
	n.leading = false
	n.mu.Unlock()
	return n.closeStore()
}

// CheckLog reports, without writing anything, whether the log in dir
// (if there is one) started on the given genesis hash: a node refuses
// a genesis.toml other than the one its log began with.
func CheckLog(dir string, genesis events.Hash) error {
	path := filepath.Join(dir, LogDir)
	if _, err := os.Stat(filepath.Join(path, "events.db")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	store, err := events.Open(path, events.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	var started *events.Params
	err = store.ForEach(1, 1, func(_ uint64, ev events.Event) error {
		if g, ok := ev.(*events.Genesis); ok {
			started = &g.Params
		}
		return nil
	})
	if err != nil {
		return err
	}
	if started == nil {
		return nil // an empty log: the genesis is written at open
	}
	if started.Genesis != genesis {
		return fmt.Errorf("the genesis's hash %s differs from the one the log %s started with (%s): this log belongs to another network",
			short(genesis), store.Path(), short(started.Genesis))
	}
	return nil
}

func short(h events.Hash) string { return h.String()[:16] }
