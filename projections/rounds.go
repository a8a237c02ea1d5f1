package projections

import (
	"bytes"
	"cmp"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// Round outcomes.
const (
	OutcomePending = "pending"
	OutcomeSigning = "signing"
	OutcomeSigned  = "signed"
	OutcomeAborted = "aborted"
	OutcomeSkipped = "skipped"
	// OutcomeSetSigning: every checksum matched and the threshold set,
	// which this node is not in, signs.
	OutcomeSetSigning = "set signing"
)

// ProposalRecord is a received proposal and what this node made of it.
type ProposalRecord struct {
	Seq      uint64          `msgpack:"q"`
	From     events.PeerID   `msgpack:"f"`
	Proposal events.Proposal `msgpack:"p"`
	Accepted bool            `msgpack:"a"`
	Reason   string          `msgpack:"r"` // why not accepted
	// Point is the share point its proof proved, if any.
	Point []byte `msgpack:"x"`
}

// SetRecord is a signing set this node holds (its own included).
type SetRecord struct {
	Seq     uint64            `msgpack:"q"`
	From    events.PeerID     `msgpack:"f"`
	Set     events.SigningSet `msgpack:"s"`
	Ignored string            `msgpack:"i"` // why it does not count
}

// ChecksumRecord is a checksum of a threshold set member.
type ChecksumRecord struct {
	Seq  uint64        `msgpack:"q"`
	From events.PeerID `msgpack:"f"`
	Sum  events.Hash   `msgpack:"s"`
}

// Round is the state of one signing round; it is replaced at the next
// epoch boundary, leaving its RoundSummary in the history.
type Round struct {
	Number        int64       `msgpack:"n"`
	Start         events.Time `msgpack:"t"`
	Participating bool        `msgpack:"p"`
	NotTakingPart string      `msgpack:"np"` // why not, when not

	Doc       *TxDoc      `msgpack:"d"`
	M0        events.Hash `msgpack:"m0"`
	Transfers []string    `msgpack:"tr"`

	Proposals     []*ProposalRecord `msgpack:"pr"` // first per sender, by arrival
	Equivocations []Block           `msgpack:"eq"`
	Sets          []*SetRecord      `msgpack:"ss"`
	Threshold     *ThresholdResult  `msgpack:"th"`
	Expected      events.Hash       `msgpack:"ex"` // H(r || m0 || set ids)
	Checksums     []*ChecksumRecord `msgpack:"cs"`
	Outliers      []events.PeerID   `msgpack:"ol"`

	SigningPeers []events.PeerID `msgpack:"sp"` // listed peers seen pinging Signing, sorted
	Cooldown     bool            `msgpack:"cd"`

	SentProposal bool         `msgpack:"s1"`
	SentSet      bool         `msgpack:"s2"`
	SentChecksum bool         `msgpack:"s3"`
	Session      *events.Hash `msgpack:"se"`
	Outcome      string       `msgpack:"o"`
	Reason       string       `msgpack:"or"`
}

// RoundSummary is what the history keeps of a finished round.
type RoundSummary struct {
	Number  int64           `msgpack:"n"`
	Outcome string          `msgpack:"o"`
	Reason  string          `msgpack:"r"`
	M0      events.Hash     `msgpack:"m"`
	Set     []events.PeerID `msgpack:"s"`
	Pruned  []Pruned        `msgpack:"p"`
	// Cooldown: this node saw t+1 listed peers pinging Signing.
	Cooldown bool `msgpack:"cd"`
}

// Rounds runs the signing rounds of PROTOCOL.md section 3.
type Rounds struct {
	params     events.Params
	self       events.PeerID
	now        events.Time
	keys       *Keys
	peers      *Peers
	blocks     *Blocks
	transfers  *Transfers
	committees *Committees

	cur      *Round
	history  []RoundSummary
	sessions map[events.Hash][]string // signing session -> transfers it spends
}

// NewRounds returns the rounds projection over the given projections,
// which must be folded before it.
func NewRounds(keys *Keys, peers *Peers, blocks *Blocks, transfers *Transfers, committees *Committees) *Rounds {
	return &Rounds{keys: keys, peers: peers, blocks: blocks, transfers: transfers, committees: committees, sessions: map[events.Hash][]string{}}
}

// Current returns the current round (nil before the first tick).
func (r *Rounds) Current() *Round { return r.cur }

// History returns the summaries of finished rounds, oldest first.
func (r *Rounds) History() []RoundSummary { return r.history }

func (r *Rounds) offset() events.Time { return r.now - r.cur.Start }

// Apply implements Projection.
func (r *Rounds) Apply(seq uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		r.params, r.self = e.Params, e.Params.NodeID
	case *events.Tick:
		r.tick(e.Time)
	case *events.ProposalReceived:
		r.onProposal(seq, &e.Msg)
	case *events.SigningSetReceived:
		r.onSigningSet(seq, &e.Msg)
	case *events.ChecksumReceived:
		r.onChecksum(seq, &e.Msg)
	case *events.PingReceived:
		r.onPing(&e.Msg)
	case *events.MessageSent:
		r.onSent(seq, &e.Msg)
	case *events.TSSSessionStarted:
		if e.Protocol == events.SessionSigning && r.cur != nil && e.Round == r.cur.Number {
			nonce := e.Session
			r.cur.Session = &nonce
			r.cur.Outcome = OutcomeSigning
			r.sessions[nonce] = slices.Clone(r.cur.Transfers)
		}
	case *events.TSSSessionFinished:
		spends, ok := r.sessions[e.Session]
		if !ok {
			return
		}
		delete(r.sessions, e.Session)
		if e.Outcome == events.OutcomeSuccess {
			for _, id := range spends {
				r.transfers.Consume(id)
			}
		}
		if r.cur != nil && r.cur.Session != nil && *r.cur.Session == e.Session {
			if e.Outcome == events.OutcomeSuccess {
				r.cur.Outcome, r.cur.Reason = OutcomeSigned, ""
			} else {
				r.cur.Outcome, r.cur.Reason = OutcomeAborted, "tss session "+e.Outcome.String()
			}
		}
	}
}

func (r *Rounds) tick(now events.Time) {
	r.now = now
	if r.params.SigningEpoch <= 0 {
		return
	}
	number := int64(now) / int64(r.params.SigningEpoch)
	if r.cur == nil || number != r.cur.Number {
		r.closeRound()
		r.openRound(number)
	}
	cur := r.cur
	if cur.Threshold == nil && r.offset() >= events.Time(r.params.SigningSetPhase) {
		r.computeThreshold()
	}
	if cur.Outcome == OutcomePending && r.offset() >= events.Time(r.params.CheckPhase) && cur.Threshold != nil && cur.Threshold.Found {
		switch {
		case r.ChecksumsComplete() && !slices.Contains(cur.Threshold.Set, r.self):
			cur.Outcome = OutcomeSetSigning
		case r.ChecksumsComplete():
			cur.Outcome, cur.Reason = OutcomeAborted, "checksums matched but the signing session did not start"
		default:
			cur.Outcome, cur.Reason = OutcomeAborted, "checksums incomplete at the end of the check phase"
		}
	}
}

func (r *Rounds) closeRound() {
	cur := r.cur
	if cur == nil {
		return
	}
	if cur.Outcome == OutcomePending {
		cur.Outcome = OutcomeSkipped
		if cur.Reason == "" {
			cur.Reason = "no threshold set"
		}
	}
	sum := RoundSummary{Number: cur.Number, Outcome: cur.Outcome, Reason: cur.Reason, Cooldown: cur.Cooldown}
	if cur.Threshold != nil {
		sum.Pruned = cur.Threshold.Pruned
		if cur.Threshold.Found {
			sum.M0, sum.Set = cur.Threshold.M0, cur.Threshold.Set
		}
	}
	r.history = append(r.history, sum)
}

func (r *Rounds) openRound(number int64) {
	cur := &Round{Number: number, Start: events.Time(number * int64(r.params.SigningEpoch)), Outcome: OutcomePending}
	r.cur = cur
	key, hasKey := r.keys.Current()
	switch {
	case !hasKey || !r.keys.IsMember(r.self):
		cur.NotTakingPart = "holds no share of the current key"
	case !r.listed(r.self):
		cur.NotTakingPart = "not in its own peer list"
	case r.busy():
		cur.NotTakingPart = "not idle: a keygen or regroup session runs"
	default:
		doc, ok := r.transfers.Doc(number, key)
		if !ok {
			cur.NotTakingPart = "no transfer, no round"
			cur.Reason = "no transfers"
			return
		}
		cur.Participating = true
		cur.Doc, cur.M0, cur.Transfers = doc, doc.M0(), doc.Inputs
	}
}

func (r *Rounds) busy() bool {
	if r.committees == nil {
		return false
	}
	_, busy := r.committees.NodeState()
	return busy
}

// listed reports whether a peer is in the peer list and not blocked.
func (r *Rounds) listed(p events.PeerID) bool {
	_, ok := r.seniority()(p)
	return ok
}

// seniority maps the current peer list (blocked peers excluded).
func (r *Rounds) seniority() func(events.PeerID) (int, bool) {
	rank := map[events.PeerID]int{}
	for i, ps := range r.peers.List(r.blocks.Blocked) {
		rank[ps.ID] = i
	}
	return func(p events.PeerID) (int, bool) { i, ok := rank[p]; return i, ok }
}

func (r *Rounds) proposalOf(p events.PeerID) *ProposalRecord {
	for _, pr := range r.cur.Proposals {
		if pr.From == p {
			return pr
		}
	}
	return nil
}

func (r *Rounds) onProposal(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	var p events.Proposal
	if events.Unmarshal(m.Body, &p) != nil || p.Round != r.cur.Number {
		return // undecodable or for another round: kept in the log only
	}
	if prev := r.proposalOf(m.From); prev != nil {
		if !sameProposal(&prev.Proposal, &p) { // a gossip duplicate is no equivocation
			block := Block{Peer: m.From, Reason: BlockEquivocation, Evidence: []uint64{prev.Seq, seq}, Round: p.Round,
				Note: "two different proposals for one round"}
			// The round keeps the evidence; the block list gains an entry
			// only when the peer is not already blocked for it.
			if !r.blocks.BlockedFor(m.From, BlockEquivocation) {
				r.blocks.Add(block)
			}
			r.cur.Equivocations = append(r.cur.Equivocations, block)
		}
		return
	}
	rec := &ProposalRecord{Seq: seq, From: m.From, Proposal: p}
	r.cur.Proposals = append(r.cur.Proposals, rec)
	rec.Point, rec.Reason = r.judgeProposal(m.From, &p)
	rec.Accepted = rec.Reason == ""
}

// sameProposal compares two proposals by content.
func sameProposal(a, b *events.Proposal) bool {
	return a.Round == b.Round && a.M0 == b.M0 && a.M1 == b.M1 && slices.Equal(a.Transfers, b.Transfers) && bytes.Equal(a.TSSProof, b.TSSProof)
}

// judgeProposal returns the share point the proposal's proof proves and
// why the sender does not join this node's signing set ("" if it does).
func (r *Rounds) judgeProposal(from events.PeerID, p *events.Proposal) ([]byte, string) {
	point := r.provenPoint(from, p)
	cur := r.cur
	switch {
	case r.offset() >= events.Time(r.params.ProposalPhase):
		return point, "arrived after the proposal phase"
	case !cur.Participating:
		return point, "this node does not take part: " + cur.NotTakingPart
	case p.M0 != cur.M0:
		return point, "another doc (m0 differs)"
	case p.M1 != cur.Doc.M1(from):
		return point, "m1 does not match H(sender || own doc)"
	case !r.keys.IsMember(from):
		return point, "not a committee member"
	case !r.listed(from):
		return point, "not in the peer list, or blocked"
	case point == nil:
		return point, "share proof does not verify"
	}
	if own, _ := r.keys.SharePoint(from); !bytes.Equal(own, point) {
		return point, "share proof proves another member's share"
	}
	return point, ""
}

// provenPoint finds the committee share point a proposal's proof proves:
// the sender's own first, then every other (a cloned share).
func (r *Rounds) provenPoint(from events.PeerID, p *events.Proposal) []byte {
	key, ok := r.keys.Current()
	if !ok {
		return nil
	}
	ctx := tss.ProofContext{Purpose: tss.ProofForProposal, KeyID: key.KeyID, Peer: from, Bucket: p.Round}
	if own, ok := r.keys.SharePoint(from); ok && tss.VerifyShare(own, p.TSSProof, ctx) {
		return own
	}
	for _, sp := range key.SharePoints {
		if sp.Peer != from && tss.VerifyShare(sp.Point, p.TSSProof, ctx) {
			return sp.Point
		}
	}
	return nil
}

func (r *Rounds) onSigningSet(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	var s events.SigningSet
	if events.Unmarshal(m.Body, &s) != nil || s.Round != r.cur.Number {
		return
	}
	r.addSet(seq, m.From, s)
}

func (r *Rounds) addSet(seq uint64, from events.PeerID, s events.SigningSet) {
	for _, prev := range r.cur.Sets {
		if prev.From == from {
			return // the first set of a sender counts
		}
	}
	rec := &SetRecord{Seq: seq, From: from, Set: s}
	switch {
	case !r.keys.IsMember(from):
		rec.Ignored = "sender is not a committee member"
	case len(s.Members) < r.params.Threshold+1:
		rec.Ignored = fmt.Sprintf("%d members, under t+1 = %d", len(s.Members), r.params.Threshold+1)
	case !slices.IsSorted(s.Members) || !slices.Contains(s.Members, from):
		rec.Ignored = "members not sorted or sender missing"
	case r.cur.Threshold != nil:
		rec.Ignored = "arrived after the threshold set was computed"
	}
	r.cur.Sets = append(r.cur.Sets, rec)
}

func (r *Rounds) computeThreshold() {
	cur := r.cur
	// Docs: every m0 a counted set is for; valid transfers from the
	// proposals that announced that m0.
	var sets []SigningSetView
	docs := map[events.Hash]*DocCandidate{}
	for _, s := range cur.Sets {
		if s.Ignored != "" {
			continue
		}
		sets = append(sets, SigningSetView{Sender: s.From, M0: s.Set.M0, Members: s.Set.Members})
		if _, ok := docs[s.Set.M0]; !ok {
			docs[s.Set.M0] = &DocCandidate{M0: s.Set.M0, Own: cur.Participating && s.Set.M0 == cur.M0, ValidTransfers: r.validTransfers(s.Set.M0)}
		}
	}
	var candidates []DocCandidate
	for _, d := range docs {
		candidates = append(candidates, *d)
	}
	slices.SortFunc(candidates, func(a, b DocCandidate) int { return bytes.Compare(a.M0[:], b.M0[:]) })
	points := map[events.PeerID][]byte{}
	for _, p := range cur.Proposals {
		if p.Point != nil {
			points[p.From] = p.Point
		}
	}
	if cur.Participating {
		points[r.self], _ = r.keys.SharePoint(r.self)
	}
	res := ComputeThresholdSet(ThresholdInput{
		Docs: candidates, Sets: sets, Size: r.params.Threshold + 1, Seniority: r.seniority(),
		ProvenPoint: func(p events.PeerID) ([]byte, bool) { pt, ok := points[p]; return pt, ok && pt != nil },
	})
	cur.Threshold = &res
	if !res.Found {
		switch {
		case len(candidates) == 0 && !cur.Participating:
			cur.Reason = "no signing sets; this node did not take part: " + cur.NotTakingPart
		case len(candidates) == 0:
			cur.Reason = "no signing set counted"
		default:
			cur.Reason = "no doc reached t+1 mutually visible peers"
		}
		cur.Outcome = OutcomeSkipped
		return
	}
	cur.Expected = SessionNonce(cur.Number, res.M0, res.Set)
	for _, c := range cur.Checksums {
		r.checkChecksum(c)
	}
}

// validTransfers counts a doc's transfers valid in this node's view; the
// own doc counts all of its own.
func (r *Rounds) validTransfers(m0 events.Hash) int {
	if r.cur.Participating && m0 == r.cur.M0 {
		return len(r.cur.Transfers)
	}
	for _, p := range r.cur.Proposals {
		if p.Proposal.M0 == m0 {
			n := 0
			for _, id := range p.Proposal.Transfers {
				if r.transfers.IsValid(id) {
					n++
				}
			}
			return n
		}
	}
	return 0
}

// SessionNonce is H(r || m0 || set ids): the checksum members broadcast
// and the tss session nonce. Ids are length-prefixed, in set order.
func SessionNonce(round int64, m0 events.Hash, set []events.PeerID) events.Hash {
	h := sha512.New512_256()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(round)))
	h.Write(m0[:])
	writeIDs(h, set)
	var out events.Hash
	h.Sum(out[:0])
	return out
}

// writeIDs hashes peer ids in order, each prefixed by its 16-bit length,
// so no two id lists hash alike.
func writeIDs(h hash.Hash, ids []events.PeerID) {
	for _, id := range ids {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(id))))
		h.Write([]byte(id))
	}
}

func (r *Rounds) onChecksum(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	var c events.Checksum
	if events.Unmarshal(m.Body, &c) != nil || c.Round != r.cur.Number {
		return
	}
	r.addChecksum(&ChecksumRecord{Seq: seq, From: m.From, Sum: c.Sum})
}

func (r *Rounds) addChecksum(rec *ChecksumRecord) {
	for _, prev := range r.cur.Checksums {
		if prev.From == rec.From {
			return
		}
	}
	r.cur.Checksums = append(r.cur.Checksums, rec)
	if r.cur.Threshold != nil {
		r.checkChecksum(rec)
	}
}

// checkChecksum blocks a threshold set member whose checksum differs
// from this node's, and aborts the round.
func (r *Rounds) checkChecksum(c *ChecksumRecord) {
	cur := r.cur
	if !cur.Threshold.Found || !slices.Contains(cur.Threshold.Set, c.From) || c.Sum == cur.Expected {
		return
	}
	if slices.Contains(cur.Outliers, c.From) {
		return
	}
	cur.Outliers = append(cur.Outliers, c.From)
	r.blocks.Add(Block{Peer: c.From, Reason: BlockOutlier, Evidence: []uint64{c.Seq}, Round: cur.Number, Note: "checksum does not match"})
	if cur.Outcome == OutcomePending {
		cur.Outcome, cur.Reason = OutcomeAborted, "checksum outlier"
	}
}

// ChecksumsComplete reports whether every threshold set member's
// checksum has arrived and matches.
func (r *Rounds) ChecksumsComplete() bool {
	cur := r.cur
	if cur == nil || cur.Threshold == nil || !cur.Threshold.Found || len(cur.Outliers) > 0 {
		return false
	}
	for _, member := range cur.Threshold.Set {
		found := false
		for _, c := range cur.Checksums {
			if c.From == member && c.Sum == cur.Expected {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (r *Rounds) onPing(m *events.Signed) {
	if r.cur == nil {
		return
	}
	ps, ok := r.peers.Get(m.From)
	if !ok || ps.LastCheck != PingAccepted || ps.State != events.StateSigning || !r.listed(m.From) {
		return
	}
	if i, found := slices.BinarySearch(r.cur.SigningPeers, m.From); !found {
		r.cur.SigningPeers = slices.Insert(r.cur.SigningPeers, i, m.From)
	}
	if len(r.cur.SigningPeers) >= r.params.Threshold+1 && r.cur.Session == nil {
		r.cur.Cooldown = true
	}
}

// onSent records this node's own round messages: its proposal, its
// signing set (which counts like a received one) and its checksum.
func (r *Rounds) onSent(seq uint64, m *events.Signed) {
	if r.cur == nil || m.From != r.self {
		return
	}
	switch m.Type {
	case events.TypeProposal:
		var p events.Proposal
		if events.Unmarshal(m.Body, &p) == nil && p.Round == r.cur.Number {
			r.cur.SentProposal = true
		}
	case events.TypeSigningSet:
		var s events.SigningSet
		if events.Unmarshal(m.Body, &s) == nil && s.Round == r.cur.Number {
			r.cur.SentSet = true
			r.addSet(seq, r.self, s)
		}
	case events.TypeChecksum:
		var c events.Checksum
		if events.Unmarshal(m.Body, &c) == nil && c.Round == r.cur.Number {
			r.cur.SentChecksum = true
			r.addChecksum(&ChecksumRecord{Seq: seq, From: r.self, Sum: c.Sum})
		}
	}
}

// OwnSigningSet is this node's signing set: itself and every sender whose
// proposal it accepted, sorted.
func (r *Rounds) OwnSigningSet() []events.PeerID {
	members := []events.PeerID{r.self}
	for _, p := range r.cur.Proposals {
		if p.Accepted {
			members = append(members, p.From)
		}
	}
	slices.SortFunc(members, func(a, b events.PeerID) int { return cmp.Compare(a, b) })
	return members
}

// NodeState is the state this node announces in its pings.
func (r *Rounds) NodeState() events.NodeState {
	if r.cur == nil {
		return events.StateIdle
	}
	switch {
	case r.cur.Outcome == OutcomeSigning:
		return events.StateSigning
	case r.cur.Outcome == OutcomeSigned || r.cur.Cooldown:
		return events.StateCooldown
	}
	return events.StateIdle
}

type sessionSpends struct {
	Session events.Hash `msgpack:"n"`
	Spends  []string    `msgpack:"s"`
}

type roundsState struct {
	Current  *Round          `msgpack:"c"`
	History  []RoundSummary  `msgpack:"h"`
	Sessions []sessionSpends `msgpack:"s"`
}

// AppendState implements Projection.
func (r *Rounds) AppendState(dst []byte) []byte {
	var sessions []sessionSpends
	for nonce, spends := range r.sessions {
		sessions = append(sessions, sessionSpends{nonce, spends})
	}
	slices.SortFunc(sessions, func(a, b sessionSpends) int { return bytes.Compare(a.Session[:], b.Session[:]) })
	out, err := events.Marshal(dst, &roundsState{Current: r.cur, History: r.history, Sessions: sessions})
	if err != nil {
		panic(fmt.Sprintf("encode rounds state: %v", err))
	}
	return out
}
