package node

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bnb-chain/tss-lib/v3/common"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// TSS is what a node needs to run real tss sessions. Without it a node
// only logs the start of each session (Config.StartSession may stand in).
type TSS struct {
	// Shares keeps each key's save data, sealed, by key id; and, unless
	// PreParams is set, the pre-parameter pool.
	Shares *tss.ShareStore
	// PreParams hands out one pre-parameter set for each keygen party and
	// each new-side resharing party; nil takes them from Shares' pool.
	PreParams func() (*keygen.LocalPreParams, error)
	// Rand, if set, is tss-lib's randomness for one session and side (a
	// reproducible simulation); nil uses crypto/rand.
	Rand func(session events.Hash, side tss.Side) io.Reader
	// Address derives the vault address of a new group key (the chain
	// adapter's part); nil leaves it empty. A resharing keeps the old one.
	Address func(publicKey []byte) string
	// Finished is told of every session outcome after it is logged, with
	// the key the session made, if it made one here.
	Finished func(d projections.Duty, fin *events.TSSSessionFinished, key *events.KeyPublished)
	// Erased, if set, is told of each share of a superseded key the node
	// erased (err nil) or had to keep (err says why): erasure.go.
	Erased func(key events.Hash, err error)
	// Async runs every session as an actor, its tss-lib steps off the
	// node's lock (actor.go): for a daemon. Without it steps run inline,
	// reproducibly (the simulator).
	Async bool
	// SealRand, if set, is the randomness of a session's ephemeral sealing
	// key (a reproducible simulation); nil uses crypto/rand.
	SealRand func(session events.Hash) io.Reader
}

// MaxEarlyTSSMessages bounds the tss messages a node keeps for sessions
// it has not started yet (its peers may start a moment sooner), and
// MaxEarlyTSSPerPeer the part of them one sender may fill: a flooder
// (admitted: strangers' messages never get this far) cannot evict or
// crowd out honest peers' messages, which would time their sessions out
// and blame them. An honest party sends a few dozen messages per session
// (keygen of 7: ~40 including both resharing sides), so 256 holds several
// sessions' worth.
//
// Echoes of the broadcast check and session keys are small and many (a
// signer echoes each broadcast of each other signer: 8 per other signer
// and session), so they have a budget of their own, 8 times as large,
// and never crowd out the tss-lib messages.
const (
	MaxEarlyTSSMessages     = 4096
	MaxEarlyTSSPerPeer      = 256
	MaxEarlyTSSSmall        = 8 * MaxEarlyTSSMessages
	MaxEarlyTSSSmallPerPeer = 8 * MaxEarlyTSSPerPeer
)

// earlyBudget counts early entries of one size class, in all and per
// sender.
type earlyBudget struct {
	count, max, maxPerPeer int
	by                     map[events.PeerID]int
}

func newEarlyBudget(max, maxPerPeer int) earlyBudget {
	return earlyBudget{max: max, maxPerPeer: maxPerPeer, by: map[events.PeerID]int{}}
}

// take counts one entry of from, or false if a bound is reached.
func (b *earlyBudget) take(from events.PeerID) bool {
	if b.count >= b.max || b.by[from] >= b.maxPerPeer {
		return false
	}
	b.count++
	b.by[from]++
	return true
}

// give takes one entry of from off the counts.
func (b *earlyBudget) give(from events.PeerID) {
	b.count--
	if b.by[from]--; b.by[from] <= 0 {
		delete(b.by, from)
	}
}

// budget is the early budget an entry counts against.
func (n *Node) budget(small bool) *earlyBudget {
	if small {
		return &n.earlySmall
	}
	return &n.earlyLarge
}

// earlyTTL is how long a message for a session not started here waits,
// and how long an ended session still answers retransmissions.
const earlyTTL = 2 * time.Minute

// tssResendAfter: a session that has received nothing new for this long
// sends all its messages again (messages travel in well under a second). tss-lib runs in rounds, so when one
// message is lost every party soon waits, and all resend; receivers drop
// what they already have. A party that already finished answers a
// retransmission with its own messages, so a lost last message is
// recovered too. (Gossip may lose messages; one lost message must not
// time a session out and block honest peers.)
const tssResendAfter = 2 * time.Second

// seenTTL is how long a logged tss envelope is remembered.
const seenTTL = 10 * time.Minute

// endedSession is what a node keeps of a session it finished: until when,
// and its messages, to answer retransmissions.
type endedSession struct {
	until  events.Time
	sent   []events.Signed
	resent events.Time
}

// session is one tss session this node takes part in: one party, or in
// a resharing where it is on both sides two.
type session struct {
	duty     projections.Duty
	deadline events.Time
	signing  *tss.Session[*common.SignatureData]
	keyParts []keyPart // keygen: one; resharing: one per side this node is on
	// oldKey is the key a resharing hands on (its threshold and committee).
	oldKey *events.KeyPublished
	// sent: every message this node sent in the session, for resending;
	// progress: when a new message last arrived; resent: the last resend.
	sent     []events.Signed
	progress events.Time
	resent   events.Time
	// disputants: participants that reported a proof failure (noteDispute)
	disputants []events.PeerID
	// actor runs the parties' steps off the node's lock (TSS.Async; nil:
	// inline)
	actor *actor
	// sealKey is this node's ephemeral key for the session's
	// point-to-point payloads (tss/seal.go), announced at the start and
	// erased at the end; peerKeys are the keys the other participants
	// announced (the first of each counts); unsealed holds point-to-point
	// messages whose recipient's key has not arrived yet.
	sealKey  *tss.SessionKey
	peerKeys map[events.PeerID][]byte
	unsealed []tss.Outgoing
	// broadcasts are the signed broadcasts received for the session, by
	// H(sender || payload): the broadcast check passes a sender's own
	// message on when echoes disagree with it (tss/echo.go).
	broadcasts map[events.Hash]events.Signed
}

func broadcastID(from events.PeerID, payload []byte) events.Hash {
	return sha512.Sum512_256(append([]byte(from), payload...))
}

// echoesOf converts a message's echo, or false if it is malformed.
func echoesOf(msg *events.TSSMessage) ([]tss.Echo, bool) {
	if len(msg.Echo) > tss.MaxEchoEntries || len(msg.Payload) > 0 || !msg.Broadcast {
		return nil, false
	}
	out := make([]tss.Echo, len(msg.Echo))
	for i, e := range msg.Echo {
		if len(e.Type) > tss.MaxEchoTypeLen || e.FromSide > uint8(tss.SideNew) {
			return nil, false
		}
		out[i] = tss.Echo{From: e.From, FromSide: tss.Side(e.FromSide), Type: e.Type, Hash: e.Hash}
	}
	return out, true
}

// participant reports whether peer takes part in the session.
func (s *session) participant(peer events.PeerID) bool {
	return slices.Contains(s.duty.Signers, peer) || slices.Contains(s.duty.OldParties, peer)
}

// labels are the session's protocol and round as its messages carry them.
func (s *session) labels() (events.SessionKind, int64) {
	return s.duty.StartEvent().Protocol, s.duty.Round
}

type keyPart struct {
	side    tss.Side
	session *tss.Session[*keygen.LocalPartySaveData]
}

type stepper interface {
	Start() []tss.Outgoing
	Deliver(tss.Incoming) []tss.Outgoing
	Expire()
}

func (s *session) parts() []stepper {
	if s.signing != nil {
		return []stepper{s.signing}
	}
	out := make([]stepper, len(s.keyParts))
	for i, p := range s.keyParts {
		out[i] = p.session
	}
	return out
}

// onSide reports whether one of this node's parties is on side.
func (s *session) onSide(side tss.Side) bool {
	if s.signing != nil {
		return side == tss.SideOnly
	}
	for _, p := range s.keyParts {
		if p.side == side {
			return true
		}
	}
	return false
}

// finished is the session's outcome once every party has one, and the
// new key data of a keygen or of this node's new-side party. With two
// parties (a resharing where this node is on both sides) a failure
// outranks a timeout, and its culprits are tss-lib's evidence alone: the
// other party, starved by the failure, waited for everyone, which names
// no one.
func (s *session) finished() (*events.TSSSessionFinished, *keygen.LocalPartySaveData, bool) {
	type result struct {
		outcome  events.Outcome
		culprits []events.PeerID
		err      error
	}
	var results []result
	fin := &events.TSSSessionFinished{Session: s.duty.Session, Outcome: events.OutcomeSuccess}
	if s.signing != nil {
		res, ok := s.signing.Result()
		if !ok {
			return nil, nil, false
		}
		results = append(results, result{res.Outcome, res.Culprits, res.Err})
		if res.Outcome == events.OutcomeSuccess {
			fin.Signature = tss.CompactSignature(res.Value.R, res.Value.S)
		}
	}
	var made *keygen.LocalPartySaveData
	for _, p := range s.keyParts {
		res, ok := p.session.Result()
		if !ok {
			return nil, nil, false
		}
		results = append(results, result{res.Outcome, res.Culprits, res.Err})
		if res.Outcome == events.OutcomeSuccess && p.side != tss.SideOld {
			made = res.Value
		}
	}
	for _, worst := range []events.Outcome{events.OutcomeFailed, events.OutcomeTimeout} {
		var culprits []events.PeerID
		for _, r := range results {
			if r.outcome != worst {
				continue
			}
			if fin.Outcome == events.OutcomeSuccess {
				fin.Outcome = worst
				if r.err != nil {
					fin.Error = r.err.Error()
				}
			}
			culprits = append(culprits, r.culprits...)
		}
		if fin.Outcome == worst {
			fin.Culprits = slices.Compact(slices.Sorted(slices.Values(culprits)))
			return fin, nil, true
		}
	}
	return fin, made, true
}

// sessionOutcome is what a finished session leaves for after the lock.
type sessionOutcome struct {
	duty projections.Duty
	fin  *events.TSSSessionFinished
	key  *events.KeyPublished
}

// effects are what an input leaves to do once the node's lock is
// released: messages to publish, sessions that started or ended.
type effects struct {
	checks   []projections.StakeCheck
	publish  []events.Signed
	started  []projections.Duty
	finished []sessionOutcome
}

// openSession sets up this node's parties of a session whose start is
// logged, starts them, and feeds them what arrived early.
func (n *Node) openSession(d projections.Duty, fx *effects) error {
	s := &session{duty: d}
	now := n.state.Summary.LastTick
	params := n.state.Summary.Params()
	switch d.Kind {
	case projections.DutyStartSigning:
		s.deadline = now.Add(params.SigningDeadline)
		if cur := n.state.Rounds.Current(); cur != nil && cur.Number == d.Round {
			s.deadline = cur.Start.Add(params.SigningDeadline)
		}
		s.signing = n.signingSession(d)
	case projections.DutyStartKeygen:
		s.deadline = now.Add(params.KeygenEpoch / 2)
		k := tss.Keygen{Session: d.Session, Self: n.id, Committee: d.Signers, Threshold: params.Threshold, Rand: n.tssRand(d.Session, tss.SideOnly)}
		pre, err := n.preParams()
		if err != nil {
			s.keyParts = []keyPart{{side: tss.SideOnly, session: tss.FailedSession[*keygen.LocalPartySaveData](d.Session, err)}}
		} else {
			k.PreParams = *pre
			s.keyParts = []keyPart{{side: tss.SideOnly, session: k.NewSession()}}
		}
	case projections.DutyStartResharing:
		s.deadline = now.Add(params.KeygenEpoch / 2)
		s.keyParts = n.resharingParties(d, s)
	default:
		return fmt.Errorf("duty %s: not a tss session", d.Kind)
	}
	s.progress = now
	s.broadcasts = map[events.Hash]events.Signed{}
	n.sessions[d.Session] = s
	early := n.early[d.Session]
	if early != nil {
		delete(n.early, d.Session)
		n.forgetEarly(early)
	}
	if err := n.announceSealKey(s, early, fx); err != nil {
		return err
	}
	var earlyIn []tss.Incoming
	if early != nil {
		kind, round := s.labels()
		for _, e := range early.msgs {
			if e.kind == kind && e.round == round {
				earlyIn = append(earlyIn, e.in)
				if e.signed != nil {
					s.broadcasts[broadcastID(e.in.From, e.in.Payload)] = *e.signed
				}
			}
		}
	}
	if n.async() {
		s.actor = newActor()
		s.actor.enqueue(sessionJob{start: true})
		for _, in := range earlyIn {
			s.actor.enqueue(sessionJob{in: in})
		}
		go n.runActor(s)
		return nil
	}
	var out []tss.Outgoing
	for _, p := range s.parts() {
		out = append(out, p.Start()...)
	}
	if err := n.sendTSS(s, out, fx); err != nil {
		return err
	}
	for _, in := range earlyIn {
		if err := n.deliver(s, in, fx); err != nil {
			return err
		}
	}
	return n.finishIfDone(s, fx)
}

func (n *Node) tssRand(session events.Hash, side tss.Side) io.Reader {
	if n.cfg.TSS.Rand == nil {
		return nil
	}
	return n.cfg.TSS.Rand(session, side)
}

func (n *Node) preParams() (*keygen.LocalPreParams, error) {
	if n.cfg.TSS.PreParams != nil {
		return n.cfg.TSS.PreParams()
	}
	if n.cfg.TSS.Shares == nil {
		return nil, errors.New("no share store for pre-parameters")
	}
	return n.cfg.TSS.Shares.TakePreParams()
}

// keyData is this node's save data of a key, cached after the first load.
func (n *Node) keyData(key *events.KeyPublished) (*keygen.LocalPartySaveData, error) {
	if data, ok := n.keys[key.KeyID]; ok {
		return data, nil
	}
	if n.cfg.TSS.Shares == nil {
		return nil, errors.New("no share store")
	}
	data, err := n.cfg.TSS.Shares.Load(key.KeyID)
	if err != nil {
		return nil, err
	}
	n.keys[key.KeyID] = data
	return data, nil
}

// signingSession is this node's party of a signing duty on the current key.
func (n *Node) signingSession(d projections.Duty) *tss.Session[*common.SignatureData] {
	fail := func(err error) *tss.Session[*common.SignatureData] {
		return tss.FailedSession[*common.SignatureData](d.Session, fmt.Errorf("signing session %s: %w", d.Session.String()[:12], err))
	}
	key, ok := n.state.Keys.Current()
	if !ok {
		return fail(errors.New("no current key"))
	}
	data, err := n.keyData(key)
	if err != nil {
		return fail(err)
	}
	signers, err := partiesAmong(key, d.Signers)
	if err != nil {
		return fail(err)
	}
	return tss.Signing{Session: d.Session, Self: n.id, Signers: signers, Threshold: key.Threshold, Key: *data, Digest: d.M0,
		Rand: n.tssRand(d.Session, tss.SideOnly)}.NewSession()
}

// partiesAmong names the chosen members of a key as session parties.
func partiesAmong(key *events.KeyPublished, chosen []events.PeerID) ([]tss.Party, error) {
	all, err := tss.PartiesOf(key)
	if err != nil {
		return nil, err
	}
	out := make([]tss.Party, 0, len(chosen))
	for _, p := range chosen {
		i := slices.IndexFunc(all, func(party tss.Party) bool { return party.Peer == p })
		if i < 0 {
			return nil, fmt.Errorf("%s holds no share of key %s", p.Short(), key.KeyID.String()[:12])
		}
		out = append(out, all[i])
	}
	return out, nil
}

// resharingParties sets up this node's parties of a resharing: on the
// old side if it is one of the old parties, on the new side if it is in
// the new committee.
func (n *Node) resharingParties(d projections.Duty, s *session) []keyPart {
	fail := func(side tss.Side, err error) keyPart {
		return keyPart{side: side, session: tss.FailedSession[*keygen.LocalPartySaveData](d.Session, fmt.Errorf("resharing session %s: %w", d.Session.String()[:12], err))}
	}
	key, ok := n.state.Keys.Current()
	if !ok {
		return []keyPart{fail(tss.SideOld, errors.New("no current key to hand on"))}
	}
	s.oldKey = key
	old, err := partiesAmong(key, d.OldParties)
	if err != nil {
		return []keyPart{fail(tss.SideOld, err)}
	}
	r := tss.Resharing{Session: d.Session, Self: n.id, Old: old, New: d.Signers,
		OldThreshold: key.Threshold, NewThreshold: n.state.Summary.Params().Threshold}
	var parts []keyPart
	if slices.Contains(d.OldParties, n.id) {
		data, err := n.keyData(key)
		if err != nil {
			parts = append(parts, fail(tss.SideOld, err))
		} else {
			r := r
			r.Key, r.Rand = data, n.tssRand(d.Session, tss.SideOld)
			parts = append(parts, keyPart{side: tss.SideOld, session: r.NewSession(false)})
		}
	}
	if slices.Contains(d.Signers, n.id) {
		pre, err := n.preParams()
		if err != nil {
			parts = append(parts, fail(tss.SideNew, err))
		} else {
			r := r
			r.PreParams, r.Rand = pre, n.tssRand(d.Session, tss.SideNew)
			parts = append(parts, keyPart{side: tss.SideNew, session: r.NewSession(true)})
		}
	}
	return parts
}

// receiveTSS takes a logged tss message to the session it belongs to,
// or keeps it until that session starts here.
func (n *Node) receiveTSS(m *events.Signed, fx *effects) error {
	var msg events.TSSMessage
	if err := events.Unmarshal(m.Body, &msg); err != nil {
		return nil // logged as evidence; nothing to run
	}
	s, running := n.sessions[msg.Session]
	if running {
		if kind, round := s.labels(); msg.Kind != kind || msg.Round != round {
			n.dropped.Add(1) // not this session's protocol or round
			return nil
		}
	}
	if len(msg.Payload) == 0 && msg.SealKey != nil {
		return n.receiveSealKey(s, m.From, &msg, fx)
	}
	var echo []tss.Echo
	if len(msg.Echo) > 0 {
		var ok bool
		if echo, ok = echoesOf(&msg); !ok {
			n.dropped.Add(1)
			return nil
		}
	}
	payload := msg.Payload
	if !msg.Broadcast {
		// Sealed to this node's key of a session it runs: there is no other
		// way to open it, and nobody seals to a session not started here.
		if !running {
			n.dropped.Add(1)
			return nil
		}
		opened, err := s.sealKey.Open(msg.Session, m.From, n.id, msg.SealKey, payload)
		if err != nil {
			n.dropped.Add(1)
			return nil
		}
		payload = opened
	}
	for _, side := range targetSides(msg.ToOld, msg.ToNew) {
		in := tss.Incoming{Session: msg.Session, From: m.From, FromSide: tss.Side(msg.FromSide), ToSide: side, Broadcast: msg.Broadcast, Payload: payload, Echo: echo}
		if running {
			if msg.Broadcast && len(payload) > 0 && s.participant(m.From) {
				s.broadcasts[broadcastID(m.From, payload)] = *m
			}
			if err := n.deliver(s, in, fx); err != nil {
				return err
			}
			if s.actor != nil {
				continue // the actor records the outcome after its step
			}
			if err := n.finishIfDone(s, fx); err != nil {
				return err
			}
			continue
		}
		early := n.earlyFor(msg.Session, m.From, len(echo) > 0)
		if early == nil {
			continue
		}
		e := earlyTSS{in: in, kind: msg.Kind, round: msg.Round}
		if msg.Broadcast && len(payload) > 0 {
			e.signed = m
		}
		early.msgs = append(early.msgs, e)
	}
	return nil
}

// earlyFor is where a message from a sender for a session not started
// here waits, counted against its budget (small: an echo or a session
// key), or nil: the session ended, or the bounds are reached.
func (n *Node) earlyFor(session events.Hash, from events.PeerID, small bool) *earlyMessages {
	if _, over := n.ended[session]; over {
		return nil
	}
	if !n.budget(small).take(from) {
		n.droppedEarly.Add(1)
		return nil
	}
	early := n.early[session]
	if early == nil {
		early = &earlyMessages{since: n.state.Summary.LastTick}
		n.early[session] = early
	}
	return early
}

// announceSealKey draws this node's ephemeral key for a session and
// announces it to every participant (signed, so it is bound to this node
// and the session), taking the keys others announced early.
func (n *Node) announceSealKey(s *session, early *earlyMessages, fx *effects) error {
	var random io.Reader
	if n.cfg.TSS != nil && n.cfg.TSS.SealRand != nil {
		random = n.cfg.TSS.SealRand(s.duty.Session)
	}
	key, err := tss.NewSessionKey(random)
	if err != nil {
		return err
	}
	s.sealKey, s.peerKeys = key, map[events.PeerID][]byte{}
	if early != nil {
		kind, round := s.labels()
		for _, a := range early.keys {
			if a.kind == kind && a.round == round && s.participant(a.from) && s.peerKeys[a.from] == nil {
				s.peerKeys[a.from] = a.key
			}
		}
	}
	return n.sendTSSMessage(s, &events.TSSMessage{Session: s.duty.Session, Broadcast: true, SealKey: key.Public()}, fx)
}

// receiveSealKey takes a participant's announced session key (the first
// one counts) and seals to it what waited for it.
func (n *Node) receiveSealKey(s *session, from events.PeerID, msg *events.TSSMessage, fx *effects) error {
	if tss.CheckSessionKey(msg.SealKey) != nil {
		n.dropped.Add(1)
		return nil
	}
	if s == nil {
		if early := n.earlyFor(msg.Session, from, true); early != nil {
			early.keys = append(early.keys, earlyKey{from: from, key: msg.SealKey, kind: msg.Kind, round: msg.Round})
		}
		return nil
	}
	if !s.participant(from) || s.peerKeys[from] != nil || from == n.id {
		return nil
	}
	s.peerKeys[from] = msg.SealKey
	waiting := s.unsealed
	s.unsealed = nil
	for _, o := range waiting {
		if err := n.sendSealed(s, o, fx); err != nil {
			return err
		}
	}
	return nil
}

// sendSealed seals a point-to-point message to its one recipient's
// session key and sends it, or keeps it until that key arrives.
func (n *Node) sendSealed(s *session, o tss.Outgoing, fx *effects) error {
	to := o.To[0]
	key := s.peerKeys[to]
	if key == nil {
		s.unsealed = append(s.unsealed, o)
		return nil
	}
	sealed, err := s.sealKey.Seal(o.Session, n.id, to, key, o.Payload)
	if err != nil {
		// Not this node's fault (keys are checked when announced): the
		// one message is lost, the session goes on.
		n.dropped.Add(1)
		return nil
	}
	return n.sendTSSMessage(s, &events.TSSMessage{Session: o.Session, FromSide: uint8(o.FromSide), ToOld: o.ToOld, ToNew: o.ToNew,
		To: []events.PeerID{to}, Payload: sealed, SealKey: s.sealKey.Public()}, fx)
}

// forMe reports whether a tss message is addressed to this node (or to
// every party).
func (n *Node) forMe(m *events.Signed) bool {
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) != nil {
		return true // logged as evidence of a malformed message
	}
	// A broadcast is for every party of its sides, whatever To names: a
	// sender that addressed one to a few could otherwise show them a
	// version nobody else logs (the broadcast check needs every party to
	// hold what it passes on).
	return msg.Broadcast || len(msg.To) == 0 || slices.Contains(msg.To, n.id)
}

type earlyMessages struct {
	since events.Time
	msgs  []earlyTSS
	keys  []earlyKey
}

// earlyTSS is a message for a session not started here, with the labels
// it came with (checked against the session once it starts).
type earlyTSS struct {
	in     tss.Incoming
	kind   events.SessionKind
	round  int64
	signed *events.Signed // a broadcast's envelope
}

// earlyKey is a session key announced for a session not started here.
type earlyKey struct {
	from  events.PeerID
	key   []byte
	kind  events.SessionKind
	round int64
}

// forgetEarly takes a session's early messages off the counts.
func (n *Node) forgetEarly(e *earlyMessages) {
	for _, e := range e.msgs {
		n.budget(len(e.in.Echo) > 0).give(e.in.From)
	}
	for _, k := range e.keys {
		n.earlySmall.give(k.from)
	}
}

func targetSides(toOld, toNew bool) []tss.Side {
	var sides []tss.Side
	if toOld {
		sides = append(sides, tss.SideOld)
	}
	if toNew {
		sides = append(sides, tss.SideNew)
	}
	if len(sides) == 0 {
		sides = []tss.Side{tss.SideOnly}
	}
	return sides
}

// deliver feeds one message to every party of a session and sends what
// they answer.
func (n *Node) deliver(s *session, in tss.Incoming, fx *effects) error {
	s.progress = n.state.Summary.LastTick
	if s.actor != nil {
		s.actor.enqueue(sessionJob{in: in})
		return nil
	}
	var out []tss.Outgoing
	for _, p := range s.parts() {
		out = append(out, p.Deliver(in)...)
	}
	return n.sendTSS(s, out, fx)
}

// sendTSS signs, logs and queues a session's outgoing messages: sealed to
// a single recipient when point to point, and handed straight to this
// node's own party on the other side of a resharing.
func (n *Node) sendTSS(s *session, out []tss.Outgoing, fx *effects) error {
	for len(out) > 0 {
		o := out[0]
		out = out[1:]
		if o.Forward != nil {
			n.forwardBroadcast(s, o.Forward, fx)
			continue
		}
		// This node's party on another side of a resharing.
		for _, side := range targetSides(o.ToOld, o.ToNew) {
			if side != o.FromSide && s.onSide(side) && (len(o.To) == 0 || slices.Contains(o.To, n.id)) {
				in := tss.Incoming{Session: o.Session, From: n.id, FromSide: o.FromSide, ToSide: side, Broadcast: o.Broadcast, Payload: o.Payload, Echo: o.Echo}
				if s.actor != nil {
					s.actor.enqueue(sessionJob{in: in}) // a step of its own, off the lock
					continue
				}
				for _, p := range s.parts() {
					out = append(out, p.Deliver(in)...)
				}
			}
		}
		msg := events.TSSMessage{Session: o.Session, Broadcast: o.Broadcast, FromSide: uint8(o.FromSide), ToOld: o.ToOld, ToNew: o.ToNew}
		for _, e := range o.Echo {
			msg.Echo = append(msg.Echo, events.BroadcastHash{From: e.From, FromSide: uint8(e.FromSide), Type: e.Type, Hash: e.Hash})
		}
		if o.Broadcast || len(o.To) == 0 {
			msg.To, msg.Payload = o.To, o.Payload
			if err := n.sendTSSMessage(s, &msg, fx); err != nil {
				return err
			}
			continue
		}
		for _, to := range o.To {
			if to == n.id {
				continue // delivered above
			}
			single := o
			single.To = []events.PeerID{to}
			if err := n.sendSealed(s, single, fx); err != nil {
				return err
			}
		}
	}
	return nil
}

// forwardBroadcast passes another party's signed broadcast on to every
// party: an echo disagreed with it, so someone holds another version, and
// with both every party can name the sender. It goes out again with this
// node's resends.
func (n *Node) forwardBroadcast(s *session, in *tss.Incoming, fx *effects) {
	m, ok := s.broadcasts[broadcastID(in.From, in.Payload)]
	if !ok {
		return // this node's own party on the other side: nothing signed to pass on
	}
	s.sent = append(s.sent, m)
	fx.publish = append(fx.publish, m)
}

func (n *Node) sendTSSMessage(s *session, msg *events.TSSMessage, fx *effects) error {
	msg.Kind, msg.Round = s.labels()
	m, err := n.send(events.TypeTSS, msg)
	if err != nil {
		return err
	}
	s.sent = append(s.sent, *m)
	fx.publish = append(fx.publish, *m)
	return nil
}

// answerRetransmission: a repeated tss message for a session that ended
// here comes from a party still waiting; send it this node's messages of
// the session again (at most every tssResendAfter).
func (n *Node) answerRetransmission(m *events.Signed, now events.Time, fx *effects) {
	if n.cfg.TSS == nil {
		return
	}
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) != nil {
		return
	}
	if ended, ok := n.ended[msg.Session]; ok && len(ended.sent) > 0 && now.Sub(ended.resent) >= tssResendAfter {
		ended.resent = now
		fx.publish = append(fx.publish, ended.sent...)
	}
}

// finishIfDone logs a session's outcome once it has one: for a new key
// also the key data (sealed in the share store first) and its public
// data. That is the node's own announcement of the key, which it
// broadcasts at its next tick (a duty); the key becomes current, and the
// node's share proofs switch to it, only when t+1 members announced it
// alike, this node among them (followKey).
func (n *Node) finishIfDone(s *session, fx *effects) error {
	// A failure of one party fails the session (a resharing where this
	// node is on both sides): its other party need not wait for the
	// deadline.
	unlock := s.lockParts()
	for _, p := range s.keyParts {
		if res, ok := p.session.Result(); ok && res.Outcome == events.OutcomeFailed {
			for _, other := range s.keyParts {
				other.session.Expire()
			}
			break
		}
	}
	fin, made, done := s.finished()
	unlock()
	if !done {
		return nil
	}
	if s.actor != nil {
		s.actor.halt()
	}
	s.sealKey.Erase() // what it sealed and opened stays closed to everyone after
	s.unsealed = nil
	if fin.Outcome == events.OutcomeTimeout && len(s.disputants) > 0 {
		fin.Culprits = slices.DeleteFunc(fin.Culprits, func(p events.PeerID) bool { return slices.Contains(s.disputants, p) })
		fin.Error += " (participants that reported a proof failure are not named)"
	}
	delete(n.sessions, s.duty.Session)
	n.ended[s.duty.Session] = &endedSession{until: s.deadline, sent: s.sent}
	evs := []events.Event{fin}
	var key *events.KeyPublished
	if made != nil {
		var err error
		if key, err = n.publishKey(s, made); err != nil {
			fin.Outcome, fin.Error = events.OutcomeFailed, err.Error()
		} else {
			evs = append(evs, key)
		}
	}
	if err := n.recordAll(evs); err != nil {
		return err
	}
	if s.signing == nil && fin.Outcome != events.OutcomeSuccess && len(fin.Culprits) > 0 {
		// A keygen or resharing named culprits (tss-lib's proof checks, or
		// WaitingFor at the deadline): tell the nodes that did not take
		// part, so that all agree on the next committee.
		report := &events.CulpritReport{Session: s.duty.Session, Culprits: fin.Culprits, Error: fin.Error, Timeout: fin.Outcome == events.OutcomeTimeout}
		if err := n.sendMessage(events.TypeCulprits, report, fx); err != nil {
			return err
		}
	}
	fx.finished = append(fx.finished, sessionOutcome{duty: s.duty, fin: fin, key: key})
	return nil
}

// noteDispute remembers that another participant of a keygen or
// resharing this node runs reported a proof failure at its end: that
// party has stopped, so if this session times out, the reporter is not
// named as silent (it may be the honest victim of a share corrupted
// towards it alone). The dispute itself sits both out of the next
// attempt (projections/committee.go). The session runs on: this node's
// own checks may still name the culprit.
func (n *Node) noteDispute(m *events.Signed) {
	var r events.CulpritReport
	if events.Unmarshal(m.Body, &r) != nil || r.Timeout {
		return
	}
	s, ok := n.sessions[r.Session]
	if !ok || s.signing != nil || (!slices.Contains(s.duty.Signers, m.From) && !slices.Contains(s.duty.OldParties, m.From)) {
		return
	}
	if !slices.Contains(s.disputants, m.From) {
		s.disputants = append(s.disputants, m.From)
	}
}

// publishKey seals a new key's data in the share store and builds its
// public data. A resharing keeps the group key and vault address.
func (n *Node) publishKey(s *session, made *keygen.LocalPartySaveData) (*events.KeyPublished, error) {
	committee := make([]tss.Party, len(s.duty.Signers))
	for i, p := range s.duty.Signers {
		committee[i] = tss.Party{Peer: p, Key: tss.PartyKey(p, s.duty.Session)}
	}
	key, err := tss.PublishKey(made, committee, n.state.Summary.Params().Threshold)
	if err != nil {
		return nil, err
	}
	key.Session = s.duty.Session
	switch {
	case s.oldKey != nil:
		key.Address = s.oldKey.Address
	case n.cfg.TSS.Address != nil:
		key.Address = n.cfg.TSS.Address(key.PublicKey)
	}
	if err := n.keepShare(key, made); err != nil {
		return nil, err
	}
	return key, nil
}

// expireSessions ends the sessions whose deadline has passed, and
// forgets early messages nobody started a session for.
func (n *Node) expireSessions(now events.Time, fx *effects) error {
	ids := make([]events.Hash, 0, len(n.sessions))
	for id := range n.sessions {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b events.Hash) int { return slices.Compare(a[:], b[:]) })
	for _, id := range ids {
		s := n.sessions[id]
		if now < s.deadline {
			if now.Sub(s.progress) >= tssResendAfter && now.Sub(s.resent) >= tssResendAfter {
				s.resent = now
				fx.publish = append(fx.publish, s.sent...)
			}
			continue
		}
		unlock := s.lockParts() // an actor's step under way ends first
		for _, p := range s.parts() {
			p.Expire()
		}
		unlock()
		if err := n.finishIfDone(s, fx); err != nil {
			return err
		}
	}
	for id, e := range n.early {
		if now.Sub(e.since) > earlyTTL {
			n.forgetEarly(e)
			delete(n.early, id)
		}
	}
	for id, ended := range n.ended {
		if now.Sub(ended.until) > earlyTTL {
			delete(n.ended, id)
		}
	}
	return nil
}
