package sim

import (
	"cmp"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// Config describes a run.
type Config struct {
	Nodes     int
	Threshold int
	// Committee is how many nodes hold shares (n); default: all of them.
	Committee int
	Seed      uint64
	Duration  time.Duration
	// Dir receives each node's data under Dir/node-<i>.
	Dir     string
	Faults  []Fault
	Drop    float64 // probability a message to one receiver is lost
	DropTSS float64 // the same for tss messages only (on top of Drop)
	// Timing: realistic clocks, delays and chain views by default.
	Timing Timing
	// MaxDelay: with Timing.Lockstep, the delivery delay is uniform in
	// [0, MaxDelay] (default 300 ms).
	MaxDelay   time.Duration
	Partitions []Partition
	// DepositEvery is the mean time between deposits (default 1 min).
	DepositEvery time.Duration
	// KeygenFor runs keygen epochs for this long before the key locks;
	// zero starts with a key already generated and locked.
	KeygenFor time.Duration
	// Start is the virtual time the run starts at (default: Start).
	Start time.Time
	// TSS runs every tss session for real (see tss.go), on the test keys
	// of TestKeys (nil: the committed ones, tss/testkeys).
	TSS      bool
	TestKeys fs.FS
	// Replicas > 1 runs node 0 as that many HA replicas over real raft on
	// loopback (replicas.go); not with TSS.
	Replicas int
}

// Start is the virtual time every run starts at: ten minutes before a
// daily regroup at 00:00 UTC.
var Start = time.Date(2025, 12, 31, 23, 50, 0, 0, time.UTC)

// Params are the protocol parameters of a run.
func (c Config) Params() events.Params {
	p := events.DefaultParams(c.committee(), c.Threshold)
	p.Network = "sim"
	p.KeygenUntil = events.TimeOf(c.start().Add(c.KeygenFor))
	p.RefundAfter = 10 * time.Minute
	intentParams(&p)
	// A node sees a chain fact within the chain lag, on a clock up to
	// half the spread off: a deposit settled this long before a round
	// starts is in every node's view by then.
	timing := c.Timing.withDefaults()
	p.ChainSettle = 0
	if !timing.Lockstep {
		p.ChainSettle = timing.ChainLag + timing.ClockSpread/2 + time.Second
	}
	return p
}

func (c Config) committee() int {
	if c.Committee == 0 {
		return c.Nodes
	}
	return c.Committee
}

func (c Config) start() time.Time {
	if c.Start.IsZero() {
		return Start
	}
	return c.Start.UTC()
}

func (c Config) validate() error {
	if c.Nodes < 2 {
		return fmt.Errorf("sim: %d nodes: need at least 2", c.Nodes)
	}
	if c.Committee < 0 || c.Committee > c.Nodes {
		return fmt.Errorf("sim: committee of %d: need at most the %d nodes", c.Committee, c.Nodes)
	}
	if c.Threshold < 1 || c.Threshold >= c.committee() {
		return fmt.Errorf("sim: threshold t=%d: need 1 <= t < committee=%d", c.Threshold, c.committee())
	}
	if c.Duration <= 0 {
		return errors.New("sim: duration must be positive")
	}
	for _, f := range c.Faults {
		if f.Node >= c.Nodes {
			return fmt.Errorf("sim: %s@%d: there are only %d nodes", f.Behaviour, f.Node, c.Nodes)
		}
	}
	if c.Replicas > 1 && c.TSS {
		return errors.New("sim: replicas run stand-in sessions only (not with --tss)")
	}
	if c.Drop < 0 || c.Drop >= 1 || c.DropTSS < 0 || c.DropTSS >= 1 {
		return fmt.Errorf("sim: drop %v, tss drop %v: want 0 <= drop < 1", c.Drop, c.DropTSS)
	}
	return c.Params().Validate()
}

type simNode struct {
	index     int
	node      *node.Node
	id        events.PeerID
	key       crypto.PrivKey
	share     []byte
	faults    map[Behaviour]bool
	firstPing *events.Signed
	sent      int
}

func (n *simNode) has(b Behaviour) bool { return n.faults[b] }

type pendingFinish struct {
	at   events.Time
	node int
	duty projections.Duty
	// finished is the outcome of a real session; nil: a stand-in success.
	finished *events.TSSSessionFinished
	// epoch: node 0's leadership the session started under (replicas)
	epoch int
}

// Sim is one run.
type Sim struct {
	cfg    Config
	params events.Params
	rng    *rand.Rand
	now    events.Time
	nodes  []*simNode
	key    *events.KeyPublished

	timing   Timing
	clocks   []clock
	queue    arrivalQueue
	inbox    [][]events.Signed // realistic: messages waiting for their node's next event
	sendSeq  uint64
	finishes []pendingFinish
	// confirmed: sessions whose tx the chain has confirmed (once each).
	confirmed map[events.Hash]bool
	spends    map[events.Hash][]string
	deposits  int

	// starts: for every round, the session nonces nodes started.
	starts map[int64]map[events.Hash][]int
	// generation counts the keys stand-in sessions made; made: each
	// session's key
	generation int
	made       map[events.Hash]*madeKey
	framed     bool
	squatting  squatState
	tss        *tssState
	signatures int   // real signatures verified under the group key
	err        error // the first failure inside a node's callback

	replicas   *replicaSet // node 0's HA replicas (replicas.go)
	replicaCfg node.Config

	validated validationCache
	chain     stakeChain // answers stake checks a step later (chain.go)
	spam      spammers   // the unstaked identities of spam nodes (spam.go)
}

// validationCache remembers validation results, so a message broadcast
// to every node has its signature checked once, not once per receiver.
// The result depends only on the message's bytes.
type validationCache struct {
	current, previous map[events.Hash]error
	steps             int
}

func (c *validationCache) validate(m *events.Signed) error {
	h := sha512.New512_256()
	for _, part := range [][]byte{[]byte(m.Type), []byte(m.From), m.Body, m.Sig} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	var key events.Hash
	h.Sum(key[:0])
	if err, ok := c.current[key]; ok {
		return err
	}
	if err, ok := c.previous[key]; ok {
		return err
	}
	if c.current == nil {
		c.current = map[events.Hash]error{}
	}
	err := net.Validate(m)
	c.current[key] = err
	return err
}

// age drops results older than two generations of ten steps: every
// delivery is within a second of its sending.
func (c *validationCache) age() {
	c.steps++
	if c.steps%10 == 0 {
		c.previous, c.current = c.current, nil
	}
}

// derive is a seeded hash for deterministic identities and shares.
func derive(label string, seed uint64, i int) []byte {
	b := binary.BigEndian.AppendUint64([]byte(label), seed)
	b = binary.BigEndian.AppendUint64(b, uint64(i))
	sum := sha512.Sum512_256(b)
	return sum[:]
}

// New prepares a run: identities, shares and the published key.
func New(cfg Config) (*Sim, error) {
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 300 * time.Millisecond
	}
	if cfg.DepositEvery == 0 {
		cfg.DepositEvery = time.Minute
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sim{
		cfg: cfg, params: cfg.Params(), rng: rand.New(rand.NewPCG(cfg.Seed, 0x6d657461)),
		now: events.TimeOf(cfg.start()), confirmed: map[events.Hash]bool{}, spends: map[events.Hash][]string{},
		starts: map[int64]map[events.Hash][]int{}, timing: cfg.Timing.withDefaults(),
	}
	s.key = &events.KeyPublished{KeyID: sha512.Sum512_256(derive("sim-key", cfg.Seed, 0)), Address: "sim-vault", Threshold: cfg.Threshold}
	for i := range cfg.Nodes {
		key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(derive("sim-identity", cfg.Seed, i)))
		if err != nil {
			return nil, err
		}
		pid, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, err
		}
		n := &simNode{index: i, id: events.PeerID(pid), key: key, share: derive("sim-share", cfg.Seed, i), faults: map[Behaviour]bool{}}
		s.nodes = append(s.nodes, n)
		s.clocks = append(s.clocks, newClock(s.now, s.timing, s.rng))
	}
	for _, f := range cfg.Faults {
		s.nodes[f.Node].faults[f.Behaviour] = true
	}
	if cfg.TSS {
		s.key = nil // the test key, or keygen (loadTSS)
		return s, nil
	}
	if cfg.KeygenFor > 0 {
		s.key = nil // the nodes generate it
		return s, nil
	}
	// The key's committee is every node; a clone holds node 0's share,
	// and the corrupted keygen that gave it one published it so.
	for _, n := range s.nodes {
		if n.has(Clone) && n.index != 0 {
			n.share = s.nodes[0].share
		}
		point, err := tss.SharePoint(n.share)
		if err != nil {
			return nil, err
		}
		s.key.SharePoints = append(s.key.SharePoints, events.SharePoint{Peer: n.id, Point: point})
	}
	s.key.PublicKey = s.key.SharePoints[0].Point // stands in until real keygen
	return s, nil
}

// Run plays the whole run and returns its result. The nodes' logs stay
// in cfg.Dir.
func Run(cfg Config) (*Result, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Open(); err != nil {
		return nil, err
	}
	end := s.now.Add(cfg.Duration)
	for s.now < end {
		if err := s.Step(); err != nil {
			return nil, err
		}
	}
	return s.Result(), nil
}

// Now is the virtual time of the next step.
func (s *Sim) Now() time.Time { return s.now.Std() }

// Statuses reports every node's state.
func (s *Sim) Statuses() []node.Status {
	out := make([]node.Status, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = n.node.Status()
	}
	return out
}

// Open opens every node's log under cfg.Dir.
func (s *Sim) Open() error {
	if s.cfg.TSS && s.tss == nil {
		if err := s.loadTSS(); err != nil {
			return err
		}
	}
	for _, n := range s.nodes {
		sn := n
		dir := filepath.Join(s.cfg.Dir, fmt.Sprintf("node-%d", sn.index))
		var nodeTSS *node.TSS
		if s.tss != nil {
			var err error
			if nodeTSS, err = s.nodeTSS(sn, dir); err != nil {
				return fmt.Errorf("node %d: %w", sn.index, err)
			}
		}
		cfg := node.Config{
			Params:       s.params,
			Identity:     sn.key,
			Publish:      func(m events.Signed) { s.publish(sn, m) },
			Chain:        s.stakeChain(),
			StakeTx:      stakeTx(sn.index),
			Share:        sn.share,
			StartSession: func(d projections.Duty) { s.startSession(sn, d) },
			TSS:          nodeTSS,
			NoSync:       true,
			Validate:     s.validated.validate,
		}
		var err error
		if sn.index == 0 && s.cfg.Replicas > 1 {
			err = s.openReplicas(sn, dir, cfg)
		} else {
			sn.node, err = node.Open(dir, cfg)
		}
		if err != nil {
			return fmt.Errorf("node %d: %w", sn.index, err)
		}
		if s.key != nil {
			if err := s.recordAt(sn, s.key); err != nil {
				return err
			}
		}
		if !s.timing.Lockstep {
			s.scheduleTick(sn.index)
		}
	}
	return nil
}

// Close closes every node's log.
func (s *Sim) Close() {
	s.closeReplicas()
	for _, n := range s.nodes {
		if n.node != nil && (n.index != 0 || s.replicas == nil) {
			n.node.Close()
		}
	}
}

func stakeTx(i int) string { return fmt.Sprintf("stake-%d", i) }

// Step advances the world by one second of global time: realistic by
// default (timing.go), in lockstep when configured so.
func (s *Sim) Step() error {
	if s.err != nil {
		return s.err
	}
	if err := s.settleReplicas(); err != nil {
		return err
	}
	if s.timing.Lockstep {
		return s.lockstepStep()
	}
	return s.realisticStep()
}

// world plays the chain: deposits with swap intents, signing sessions
// ending, payouts confirming.
func (s *Sim) world() error {
	s.chain.answer()
	s.flood()
	if s.rng.Float64() < float64(time.Second)/float64(s.cfg.DepositEvery) {
		s.deposits++
		amount := worldAmount(s.deposits)
		dep := &events.DepositObserved{
			Chain: "sim", TxID: fmt.Sprintf("deposit-%d", s.deposits), Amount: amount,
			Sender: fmt.Sprintf("sender-%d", s.deposits), Confirmations: s.params.Confirmations, ConfirmedAt: s.now,
		}
		// Nine in ten deposits come with a swap intent, gossiped by a node.
		if s.rng.IntN(10) > 0 {
			by := s.nodes[s.rng.IntN(len(s.nodes))]
			if err := s.sendIntent(by, amount, []byte(fmt.Sprintf("pay %d to dest-%d", amount, s.deposits))); err != nil {
				return err
			}
		}
		if err := s.observe(dep); err != nil {
			return err
		}
	}
	s.validated.age()
	if err := s.squat(); err != nil {
		return err
	}
	if err := s.frame(); err != nil {
		return err
	}
	var later []pendingFinish
	for _, f := range s.finishes {
		if f.at > s.now {
			later = append(later, f)
			continue
		}
		session := f.duty.Session
		finished := f.finished
		if finished == nil {
			finished = &events.TSSSessionFinished{Session: session, Outcome: events.OutcomeSuccess}
		}
		if f.duty.Kind != projections.DutyStartSigning {
			if err := s.finishKeySession(f, finished); err != nil {
				return err
			}
			continue
		}
		if f.node == 0 && s.replicas != nil && f.epoch != s.replicas.epoch {
			continue // its replica lost the lead: the next one recorded it failed
		}
		if err := s.recordAt(s.nodes[f.node], finished); err != nil {
			return err
		}
		if s.confirmed[session] || finished.Outcome != events.OutcomeSuccess {
			continue
		}
		s.confirmed[session] = true
		confirmed := &events.TxConfirmed{Chain: "sim", TxID: session.String(), Height: uint64(s.now.Std().Unix()), Confirmations: 1, Spends: s.spends[session], Payouts: s.squatting.payouts[session]}
		if err := s.observe(confirmed); err != nil {
			return err
		}
	}
	s.finishes = later
	return nil
}

// finishKeySession stands in for the end of a node's keygen or
// resharing: its outcome and, for a member of the new committee after a
// success, the session's key as its own session would have published
// it. Like a real member, the node announces the key at its next tick,
// and it becomes current there only with t+1 members' announcements
// alike; its share waits until then (node.SetShare).
func (s *Sim) finishKeySession(f pendingFinish, finished *events.TSSSessionFinished) error {
	n := s.nodes[f.node]
	evs := []events.Event{finished}
	if finished.Outcome == events.OutcomeSuccess {
		made := s.sessionKey(f.duty)
		if i := slices.Index(f.duty.Signers, n.id); i >= 0 {
			s.setShare(n, made.key.KeyID, made.shares[i])
			own := *made.key
			own.Session = f.duty.Session
			evs = append(evs, &own)
		}
	}
	return s.recordAt(n, evs...)
}

// madeKey is a stand-in session's key and its members' shares.
type madeKey struct {
	key    *events.KeyPublished
	shares [][]byte // in committee order
}

// sessionKey stands in for the outcome of a keygen or resharing session,
// the same for each of its members: a new generation of shares for the
// duty's committee, the same public key after a resharing.
func (s *Sim) sessionKey(d projections.Duty) *madeKey {
	if made, ok := s.made[d.Session]; ok {
		return made
	}
	s.generation++
	key := &events.KeyPublished{Address: fmt.Sprintf("sim-vault-%d", s.generation), Threshold: s.cfg.Threshold}
	if d.Kind == projections.DutyStartResharing && s.key != nil {
		key.PublicKey, key.Address = s.key.PublicKey, s.key.Address
	}
	made := &madeKey{key: key}
	for i, member := range d.Signers {
		share := derive("sim-share", s.cfg.Seed, s.generation*100_000+i)
		point, err := tss.SharePoint(share)
		if err != nil {
			panic(err)
		}
		key.SharePoints = append(key.SharePoints, events.SharePoint{Peer: member, Point: point})
		made.shares = append(made.shares, share)
	}
	if key.PublicKey == nil {
		key.PublicKey = key.SharePoints[0].Point // stands in until real keygen
	}
	key.KeyID = events.KeyIDOf(key.PublicKey, key.SharePoints)
	s.key = key
	if s.made == nil {
		s.made = map[events.Hash]*madeKey{}
	}
	s.made[d.Session] = made
	return made
}

// frame makes every framing node's own log blame node N-1 as the culprit
// of a tss session, 8 minutes into the run: a local block nobody else
// can verify.
func (s *Sim) frame() error {
	if s.framed || s.now.Sub(events.TimeOf(s.cfg.start())) < 8*time.Minute {
		return nil
	}
	s.framed = true
	target := s.nodes[len(s.nodes)-1].id
	for _, n := range s.nodes {
		if n.has(Frame) {
			fake := &events.TSSSessionFinished{Session: sha512.Sum512_256([]byte("framed")), Outcome: events.OutcomeFailed,
				Culprits: []events.PeerID{target}, Error: "a proof failure only the framer's own log claims"}
			if err := s.recordAt(n, fake); err != nil {
				return err
			}
		}
	}
	return nil
}

// startSession notes which session each node started in each round
// (two in one round would be a protocol failure) and the deposits it
// spends. Without real tss it also stands in for the session: success 5 s
// later.
func (s *Sim) startSession(n *simNode, d projections.Duty) {
	if d.Kind == projections.DutyStartSigning {
		if s.starts[d.Round] == nil {
			s.starts[d.Round] = map[events.Hash][]int{}
		}
		s.starts[d.Round][d.Session] = append(s.starts[d.Round][d.Session], n.index)
		n.node.View(func(st *projections.State) {
			if cur := st.Rounds.Current(); cur != nil && s.spends[d.Session] == nil {
				s.spends[d.Session] = slices.Clone(cur.Transfers)
				s.notePayouts(d.Session, cur.Doc)
			}
		})
	}
	epoch := 0
	if n.index == 0 && s.replicas != nil {
		epoch = s.noteStarted(d)
	}
	if s.tss == nil {
		s.finishes = append(s.finishes, pendingFinish{at: s.now.Add(5 * time.Second), node: n.index, duty: d, epoch: epoch})
	}
}

// publish sends a node's message to every other node, through its
// byzantine behaviours and the network's loss, delay and partitions.
func (s *Sim) publish(from *simNode, m events.Signed) {
	for _, out := range s.misbehave(from, m) {
		for _, to := range s.nodes {
			drop := s.cfg.Drop
			if out.msg.Type == events.TypeTSS {
				drop = 1 - (1-drop)*(1-s.cfg.DropTSS)
			}
			if to == from || (out.only != nil && !out.only(to)) || s.cut(from.index, to.index) || s.rng.Float64() < drop {
				continue
			}
			at := s.now.Add(s.deliveryDelay() + out.later)
			if out.at != nil {
				at = max(s.now, out.at(to))
			}
			s.schedule(arrival{at: at, to: to.index, kind: arriveMessage, msg: out.msg})
		}
	}
}

// wire is one message as a node puts it on the network: to everyone
// with the network's delay, or (byzantine timing) only to some, later,
// or at a chosen instant.
type wire struct {
	msg   events.Signed
	only  func(to *simNode) bool
	later time.Duration
	at    func(to *simNode) events.Time
}

func honestWire(msgs ...events.Signed) []wire {
	out := make([]wire, len(msgs))
	for i, m := range msgs {
		out[i] = wire{msg: m}
	}
	return out
}

func (s *Sim) cut(a, b int) bool {
	offset := s.now.Sub(events.TimeOf(s.cfg.start()))
	for _, p := range s.cfg.Partitions {
		if offset >= p.From && offset < p.Until && slices.Contains(p.Nodes, a) != slices.Contains(p.Nodes, b) {
			return true
		}
	}
	return false
}

// misbehave returns what a node actually puts on the wire for m.
func (s *Sim) misbehave(n *simNode, m events.Signed) []wire {
	n.sent++
	switch {
	case n.has(Silent):
		return nil
	case n.has(Forge) && n.sent%2 == 0:
		forged := m
		forged.Sig = append([]byte{}, m.Sig...)
		forged.Sig[0] ^= 0x01
		return honestWire(forged)
	}
	if out, ok := s.targeted(n, m); ok {
		return out
	}
	return honestWire(s.rewrite(n, m)...)
}

// rewrite plays the untargeted behaviours: what a node sends everyone.
func (s *Sim) rewrite(n *simNode, m events.Signed) []events.Signed {
	out := []events.Signed{m}
	switch m.Type {
	case events.TypePing:
		if n.has(Replay) {
			if n.firstPing == nil {
				first := m
				n.firstPing = &first
			} else {
				out = append(out, *n.firstPing)
			}
		}
	case events.TypeProposal:
		if n.has(Equivocate) {
			var p events.Proposal
			if events.Unmarshal(m.Body, &p) == nil {
				p.M0[0] ^= 0xff
				p.Transfers = append(p.Transfers, "invented:0")
				out = append(out, s.resign(n, m.Type, &p))
			}
		}
	case events.TypeChecksum:
		if n.has(WrongChecksum) {
			var c events.Checksum
			if events.Unmarshal(m.Body, &c) == nil {
				c.Sum = sha512.Sum512_256(c.Sum[:])
				out = []events.Signed{s.resign(n, m.Type, &c)}
			}
		}
	case events.TypeTSS:
		switch {
		case n.has(TSSSilent):
			return nil
		case n.has(CorruptShare):
			out = []events.Signed{s.corruptShare(n, m, nil)}
		}
	case events.TypeSigningSet:
		if n.has(SmallSets) {
			var set events.SigningSet
			if events.Unmarshal(m.Body, &set) == nil && len(set.Members) > 1 {
				set.Members = []events.PeerID{n.id}
				out = []events.Signed{s.resign(n, m.Type, &set)}
			}
		}
	}
	return out
}

func (s *Sim) resign(n *simNode, typ string, body any) events.Signed {
	data, err := events.Marshal(nil, body)
	if err != nil {
		panic(err)
	}
	m, err := net.Sign(n.key, typ, data)
	if err != nil {
		panic(err)
	}
	return m
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
