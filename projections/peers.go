package projections

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// PingVerdict is what the peer table made of one received ping.
type PingVerdict uint8

// Ping verdicts. Every rejected ping stays in the log as evidence; the
// verdict only says why it did not count.
const (
	PingAccepted     PingVerdict = iota
	PingUndecodable              // the body is not a ping
	PingWrongSender              // the body names another peer than the signer
	PingReplayed                 // seq not above the last accepted seq
	PingClockSkew                // time too far from our clock
	PingNoClock                  // no tick yet: nothing to compare the time with
	PingBadProof                 // a committee member's share proof does not verify
	PingOtherNetwork             // the ping names another network's genesis
	pingVerdictCount
)

var pingVerdictNames = [pingVerdictCount]string{
	"accepted", "undecodable", "wrong sender", "replayed seq", "clock skew", "no clock yet", "bad share proof", "other network",
}

func (v PingVerdict) String() string {
	if v < pingVerdictCount {
		return pingVerdictNames[v]
	}
	return "unknown"
}

// Stake is the last stake-chain answer about one peer's stake tx.
type Stake struct {
	Tx          string        `msgpack:"x"`
	CheckedAt   events.Time   `msgpack:"c"` // tick time of the answer
	Found       bool          `msgpack:"f"`
	Confirmed   bool          `msgpack:"k"`
	ConfirmedAt events.Time   `msgpack:"t"`
	Amount      uint64        `msgpack:"a"`
	BoundPeer   events.PeerID `msgpack:"b"`
	Spent       bool          `msgpack:"s"`
	Error       string        `msgpack:"e"`
}

// PeerState is everything the table knows of one peer.
type PeerState struct {
	ID        events.PeerID    `msgpack:"id"`
	LastSeq   uint64           `msgpack:"q"`
	LastPing  events.Time      `msgpack:"p"` // our tick time when its last accepted ping arrived
	State     events.NodeState `msgpack:"s"`
	StakeTx   string           `msgpack:"x"` // as announced in its last accepted ping
	KeyID     events.Hash      `msgpack:"k"`
	TSSProof  []byte           `msgpack:"r"`
	Stake     Stake            `msgpack:"st"` // the last answer about StakeTx; zero if none
	Moved     bool             `msgpack:"m"`  // a stake of this peer was seen spent
	Rejected  uint64           `msgpack:"rj"` // pings that did not count
	LastCheck PingVerdict      `msgpack:"v"`  // verdict on its last ping
	// Admitted: a stake answer about its stake tx was valid for admission
	// (found, confirmed, bound to it, at least min_stake; age and
	// spent-ness count only for the peer list). Only a later definite
	// answer that is not valid ends it (a chain error does not).
	Admitted bool `msgpack:"ad"`
	// ProvedShare: its last ping proved its share of the current key.
	ProvedShare bool `msgpack:"ps"`
	// provenProof and provenBucket remember the last proof verified, so a
	// peer's identical proofs within one bucket are verified once.
	provenProof  []byte
	provenBucket int64
}

// Peers is the peer table of PROTOCOL.md section 2: who pings, with what
// stake, and in which seniority order.
type Peers struct {
	params events.Params
	keys   *Keys
	now    events.Time
	peers  map[events.PeerID]*PeerState
	// verdicts counts pings per verdict, for metrics and audit.
	verdicts [pingVerdictCount]uint64
}

// NewPeers returns an empty peer table that checks share proofs against
// the keys in keys (nil: no key is ever known).
func NewPeers(keys *Keys) *Peers {
	if keys == nil {
		keys = &Keys{}
	}
	return &Peers{keys: keys, peers: make(map[events.PeerID]*PeerState)}
}

// Apply implements Projection.
func (p *Peers) Apply(_ uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		p.params = e.Params
	case *events.Tick:
		p.now = e.Time
		p.forgetStrangers()
	case *events.PingReceived:
		p.applyPing(&e.Msg)
	case *events.MessageSent:
		if e.Msg.Type == events.TypePing && e.Msg.From == p.params.NodeID {
			p.applyPing(&e.Msg) // our own pings keep us in our own peer list
		}
	case *events.StakeChecked:
		p.applyStake(e)
	}
}

func (p *Peers) peer(id events.PeerID) *PeerState {
	ps, ok := p.peers[id]
	if !ok {
		ps = &PeerState{ID: id}
		p.peers[id] = ps
	}
	return ps
}

// CheckPing judges a ping against the table without changing it.
func (p *Peers) CheckPing(m *events.Signed) (events.Ping, PingVerdict) {
	ping, verdict, _ := p.checkPing(m)
	return ping, verdict
}

func (p *Peers) checkPing(m *events.Signed) (events.Ping, PingVerdict, proofResult) {
	var ping events.Ping
	if err := events.DecodePing(m.Body, &ping); err != nil {
		return ping, PingUndecodable, proofNotRequired
	}
	if ping.PeerID != m.From {
		return ping, PingWrongSender, proofNotRequired
	}
	if ping.Genesis != p.params.Genesis {
		return ping, PingOtherNetwork, proofNotRequired
	}
	if ps, ok := p.peers[m.From]; ok && ping.Seq <= ps.LastSeq {
		return ping, PingReplayed, proofNotRequired
	}
	if p.now == 0 {
		return ping, PingNoClock, proofNotRequired
	}
	if skew := ping.Time.Sub(p.now); skew > p.params.MaxClockSkew || -skew > p.params.MaxClockSkew {
		return ping, PingClockSkew, proofNotRequired
	}
	proof := p.proofState(&ping)
	if proof == proofInvalid {
		return ping, PingBadProof, proof
	}
	return ping, PingAccepted, proof
}

type proofResult uint8

const (
	proofNotRequired proofResult = iota // not a member of the current key
	proofValid
	proofInvalid
)

// PingProofBucket is the time bucket a ping's share proof is bound to:
// the signing epoch. An honest peer's proof is identical for a whole
// epoch (deterministic nonce), so it is verified once per epoch.
func PingProofBucket(t events.Time, params events.Params) int64 {
	return int64(t) / int64(params.SigningEpoch)
}

func (p *Peers) proofState(ping *events.Ping) proofResult {
	key, ok := p.keys.Current()
	if !ok || ping.KeyID != key.KeyID {
		return proofNotRequired
	}
	point, member := p.keys.SharePoint(ping.PeerID)
	if !member {
		return proofNotRequired
	}
	bucket := PingProofBucket(ping.Time, p.params)
	if ps, ok := p.peers[ping.PeerID]; ok && ps.provenBucket == bucket && bytes.Equal(ps.provenProof, ping.TSSProof) {
		return proofValid
	}
	if !tss.VerifyShare(point, ping.TSSProof, tss.ProofContext{Purpose: tss.ProofForPing, KeyID: key.KeyID, Peer: ping.PeerID, Bucket: bucket}) {
		return proofInvalid
	}
	return proofValid
}

func (p *Peers) applyPing(m *events.Signed) {
	ping, verdict, proof := p.checkPing(m)
	p.verdicts[verdict]++
	if verdict == PingUndecodable {
		return // not even a peer id to file it under
	}
	ps := p.peer(m.From)
	ps.LastCheck = verdict
	if verdict != PingAccepted {
		ps.Rejected++
		return
	}
	ps.LastSeq, ps.LastPing, ps.State, ps.KeyID, ps.TSSProof = ping.Seq, p.now, ping.State, ping.KeyID, ping.TSSProof
	ps.ProvedShare = proof == proofValid
	if ps.ProvedShare {
		ps.provenProof, ps.provenBucket = ping.TSSProof, PingProofBucket(ping.Time, p.params)
	}
	if ping.StakeTx != ps.StakeTx {
		// A new stake tx: judge it afresh, seniority follows the new stake.
		ps.StakeTx, ps.Stake = ping.StakeTx, Stake{}
	}
}

func (p *Peers) applyStake(e *events.StakeChecked) {
	ps, ok := p.peers[e.Peer]
	if !ok || e.StakeTx != ps.StakeTx {
		return // an answer about a stake the peer no longer announces
	}
	ps.Stake = Stake{
		Tx: e.StakeTx, CheckedAt: p.now, Found: e.Found, Confirmed: e.Confirmed, ConfirmedAt: e.ConfirmedAt,
		Amount: e.Amount, BoundPeer: e.BoundPeer, Spent: e.Spent, Error: e.Error,
	}
	if e.Spent {
		ps.Moved = true
	}
	if e.Error == "" {
		ps.Admitted = e.Found && e.Confirmed && e.BoundPeer == ps.ID && e.Amount >= p.params.MinStake
	}
}

// MaxStrangerChecks bounds the peers not admitted whose stake is being
// checked at once: anyone can make Ed25519 keys, and each one's ping would
// otherwise cost a stake-chain query and a peer-table entry.
const MaxStrangerChecks = 16

// Admitted reports whether a peer is admitted (PROTOCOL.md section 1): a
// stake check of the stake tx in its ping came back valid. Its messages
// are logged; a peer not admitted only gets pings logged, and only those
// WelcomePing allows. The node also admits blocked peers (their messages
// are evidence); Peers cannot see blocks, so the node asks Blocks too.
func (p *Peers) Admitted(id events.PeerID) bool {
	ps, ok := p.peers[id]
	return ok && ps.Admitted
}

// WelcomePing reports whether an accepted ping from a peer not admitted
// can lead to a stake check, so is worth logging: the peer announces a
// stake tx, no ping of it was logged within stake_recheck (so at most one
// check per stake_recheck per peer), and fewer than MaxStrangerChecks
// strangers are being checked. pending counts the strangers the caller
// already let in since the state was folded (one batch of messages).
func (p *Peers) WelcomePing(ping *events.Ping, pending int) bool {
	if ping.StakeTx == "" {
		return false
	}
	if ps, ok := p.peers[ping.PeerID]; ok && ps.LastPing != 0 && p.now.Sub(ps.LastPing) < p.params.StakeRecheck {
		return false
	}
	return p.StrangersChecking()+pending < MaxStrangerChecks
}

// StrangersChecking counts the peers not admitted whose stake check is
// still open: a ping of theirs was logged within stake_recheck and no
// answer about their current stake tx came back yet. A chain that never
// answers frees the slot after stake_recheck.
func (p *Peers) StrangersChecking() int {
	n := 0
	for _, ps := range p.peers {
		if p.checking(ps) {
			n++
		}
	}
	return n
}

func (p *Peers) checking(ps *PeerState) bool {
	return !ps.Admitted && ps.StakeTx != "" && ps.Stake.CheckedAt == 0 && ps.LastPing != 0 && p.now.Sub(ps.LastPing) < p.params.StakeRecheck
}

// forgetStrangers drops the peers never admitted whose last ping is
// stake_recheck old: nothing of theirs is logged after that until their
// next ping, which starts afresh. So the table holds the admitted peers
// and at most the strangers of one stake_recheck window. (Deleting
// during a map range is deterministic: the outcome does not depend on
// the order.)
func (p *Peers) forgetStrangers() {
	for id, ps := range p.peers {
		if !ps.Admitted && id != p.params.NodeID && p.now.Sub(ps.LastPing) >= p.params.StakeRecheck {
			delete(p.peers, id)
		}
	}
}

// StakeProblem says why a peer's stake does not count now, or "" if it does.
func (p *Peers) StakeProblem(ps *PeerState) string {
	s := ps.Stake
	switch {
	case ps.StakeTx == "":
		return "no stake announced"
	case s.CheckedAt == 0:
		return "stake not checked yet"
	case s.Error != "":
		return "stake chain error: " + s.Error
	case !s.Found:
		return "stake tx not found"
	case !s.Confirmed:
		return "stake tx unconfirmed"
	case s.Spent:
		return "stake moved"
	case s.Amount < p.params.MinStake:
		return fmt.Sprintf("stake %d below the minimum %d", s.Amount, p.params.MinStake)
	case s.BoundPeer != ps.ID:
		return "stake bound to another peer id"
	case p.now.Sub(s.ConfirmedAt) < p.params.MinStakeAge:
		return fmt.Sprintf("stake too young: confirmed %v ago, needs %v", p.now.Sub(s.ConfirmedAt), p.params.MinStakeAge)
	}
	return ""
}

// Live reports whether a peer's last accepted ping is within peer_expiry.
func (p *Peers) Live(ps *PeerState) bool {
	return ps.LastPing != 0 && p.now.Sub(ps.LastPing) <= p.params.PeerExpiry
}

// List is the peer list now, most senior first: peers pinging within
// peer_expiry whose stake counts, excluding blocked ones. Seniority is the
// stake's confirmation time, ties broken by peer id bytes.
func (p *Peers) List(blocked func(events.PeerID) bool) []*PeerState {
	var list []*PeerState
	for _, ps := range p.peers {
		if p.Live(ps) && p.StakeProblem(ps) == "" && (blocked == nil || !blocked(ps.ID)) {
			list = append(list, ps)
		}
	}
	slices.SortFunc(list, seniority)
	return list
}

func seniority(a, b *PeerState) int {
	if c := cmp.Compare(a.Stake.ConfirmedAt, b.Stake.ConfirmedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// All returns every peer ever seen, sorted by id.
func (p *Peers) All() []*PeerState {
	all := make([]*PeerState, 0, len(p.peers))
	for _, ps := range p.peers {
		all = append(all, ps)
	}
	slices.SortFunc(all, func(a, b *PeerState) int { return cmp.Compare(a.ID, b.ID) })
	return all
}

// Get returns a peer's state.
func (p *Peers) Get(id events.PeerID) (*PeerState, bool) {
	ps, ok := p.peers[id]
	return ps, ok
}

// Verdicts counts pings by verdict.
func (p *Peers) Verdicts() map[PingVerdict]uint64 {
	out := make(map[PingVerdict]uint64)
	for v, n := range p.verdicts {
		if n > 0 {
			out[PingVerdict(v)] = n
		}
	}
	return out
}

// StakeCheck is the duty to ask the stake chain about a peer's stake tx.
type StakeCheck struct {
	Peer    events.PeerID
	StakeTx string
}

// StakeChecksDue lists the stake checks due now: for every live peer whose
// announced stake tx has no answer yet, or an answer older than
// stake_recheck. Sorted by peer id.
func (p *Peers) StakeChecksDue() []StakeCheck {
	var due []StakeCheck
	for _, ps := range p.All() {
		if ps.StakeTx == "" || !p.Live(ps) {
			continue
		}
		if ps.Stake.CheckedAt == 0 || p.now.Sub(ps.Stake.CheckedAt) >= p.params.StakeRecheck {
			due = append(due, StakeCheck{Peer: ps.ID, StakeTx: ps.StakeTx})
		}
	}
	return due
}

type peersState struct {
	Now      events.Time     `msgpack:"t"`
	Peers    []*PeerState    `msgpack:"p"`
	Verdicts []uint64        `msgpack:"v"`
	List     []events.PeerID `msgpack:"l"`
}

// AppendState implements Projection.
func (p *Peers) AppendState(dst []byte) []byte {
	list := p.List(nil)
	ids := make([]events.PeerID, len(list))
	for i, ps := range list {
		ids[i] = ps.ID
	}
	out, err := events.Marshal(dst, &peersState{Now: p.now, Peers: p.All(), Verdicts: p.verdicts[:], List: ids})
	if err != nil {
		panic(fmt.Sprintf("encode peers state: %v", err))
	}
	return out
}
