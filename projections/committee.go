package projections

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/metanode/metanode/events"
)

// Attempt is one keygen or regroup attempt (PROTOCOL.md sections 4, 5).
type Attempt struct {
	Regroup bool        `msgpack:"g"`
	Epoch   int64       `msgpack:"e"` // keygen epoch, or regroup day
	Start   events.Time `msgpack:"t"`
	// Old is the regroup's old side: the t+1 most senior live share holders.
	Old []events.PeerID `msgpack:"o"`
	// Committee is the new committee: the n most senior peers.
	Committee  []events.PeerID   `msgpack:"c"`
	Sum        events.Hash       `msgpack:"s"` // the commit checksum
	Commits    []*ChecksumRecord `msgpack:"cm"`
	Mismatched []events.PeerID   `msgpack:"mm"`
	SentCommit bool              `msgpack:"sc"`
	Session    *events.Hash      `msgpack:"se"`
	Outcome    string            `msgpack:"oc"`
	Reason     string            `msgpack:"r"`
	Culprits   []events.PeerID   `msgpack:"cu"`
	// Announced tallies the key announcements of committee members, per
	// key (id and vault address); t+1 alike make every node adopt the key,
	// a member of the committee too: its own key counts as one of them.
	Announced []KeyTally `msgpack:"an"`
	// Made is the key this node's own session of the attempt made (its
	// KeyPublished, without the session): what it announces; SentKey:
	// it has.
	Made    *events.KeyPublished `msgpack:"mk"`
	SentKey bool                 `msgpack:"sk"`
	// Reported tallies, per culprit, the participants that reported it
	// after a failed session; t+1 make every node block it.
	Reported []CulpritTally `msgpack:"rp"`
	// LeftOut: participants whose commit was missing or named another sum
	// when the commit phase failed; the next attempt leaves them out.
	LeftOut []events.PeerID `msgpack:"lo"`
	// Excluded: peers this attempt left out because the previous one
	// failed on their commits or disputes.
	Excluded []events.PeerID `msgpack:"ex"`
	// Disputes: participants that reported a proof failure, and whom
	// they named (a claim only t+1 reports confirm).
	Disputes []Dispute `msgpack:"ds"`
	// SetStarted: a participant started the very session this node
	// expects (its tss message says so), so it held every commit.
	SetStarted bool `msgpack:"js"`
}

// The commit phase ends half a keygen epoch after the attempt opens: a
// session starts on complete commits only until then. A participant
// whose commits were still incomplete (one reached it a moment late: a
// participant can time its commit to straddle the end) joins the session
// when it sees another participant start exactly the session it expects,
// until joinGrace later; only then is the attempt skipped. Otherwise the
// starters would wait for honest participants that never started.
func (c *Committees) commitEnd(a *Attempt) events.Time {
	return a.Start.Add(c.params.KeygenEpoch / 2)
}

func (c *Committees) joinGrace() time.Duration { return c.params.MaxClockSkew }

// onTSSMessage notes a participant's tss message of the session this
// node expects for the current attempt.
func (c *Committees) onTSSMessage(m *events.Signed) {
	a := c.cur
	if a == nil || a.Session != nil || a.SetStarted || !slices.Contains(a.Participants(), m.From) {
		return
	}
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) == nil && msg.Session == a.Sum {
		a.SetStarted = true
	}
}

// Dispute is one participant's claim that another sent it a message that
// failed tss-lib's proof checks. The message was sealed to the reporter,
// so nobody else can check it: the claim is true (a share corrupted
// towards the reporter alone) or a lie (to knock an honest peer out).
// Nobody is blamed for it, but both sit out the next attempt, so that
// attempt succeeds whichever of the two is byzantine, and a byzantine
// reporter cannot stall keygen or regroup without sitting out too.
type Dispute struct {
	Reporter events.PeerID `msgpack:"r"`
	Culprit  events.PeerID `msgpack:"c"`
}

// CulpritTally is the participants that reported one culprit, for a
// proof failure or for a timeout.
type CulpritTally struct {
	Culprit events.PeerID   `msgpack:"c"`
	Timeout bool            `msgpack:"t"`
	From    []events.PeerID `msgpack:"f"`
	Seqs    []uint64        `msgpack:"s"`
}

// KeyTally is the committee members that announced one key alike: the
// same public data (the id binds the group key and share points; the
// vault address is not in it, so it is compared too).
type KeyTally struct {
	KeyID   events.Hash     `msgpack:"k"`
	Address string          `msgpack:"a"`
	From    []events.PeerID `msgpack:"f"`
	Seqs    []uint64        `msgpack:"s"` // the announcements' log seqs (its own KeyPublished's for this node)
}

// Participants are the peers that must commit: the committee, and for a
// regroup the old side too, sorted.
func (a *Attempt) Participants() []events.PeerID {
	all := slices.Concat(a.Old, a.Committee)
	slices.Sort(all)
	return slices.Compact(all)
}

// Committees runs keygen until keygen_until, then the daily regroup.
type Committees struct {
	params events.Params
	self   events.PeerID
	now    events.Time
	keys   *Keys
	peers  *Peers
	blocks *Blocks

	cur     *Attempt
	history []Attempt
	// early: commits for an attempt this node has not opened yet.
	early []EarlyMessage
}

// maxEarlyCommits bounds the commits one sender can park for the next
// attempt: one, and a second to prove equivocation.
const maxEarlyCommits = 2

// maxAttempts bounds the attempts kept (a keygen period of 5-minute
// epochs is short; regroups are daily): the log keeps them all.
const maxAttempts = 512

// NewCommittees returns the keygen/regroup projection over the given
// projections, which must be folded before it.
func NewCommittees(keys *Keys, peers *Peers, blocks *Blocks) *Committees {
	return &Committees{keys: keys, peers: peers, blocks: blocks}
}

// Locked reports whether keygen is over: the key no longer changes
// address, and regroups begin.
func (c *Committees) Locked() bool { return c.now >= c.params.KeygenUntil }

// Current returns the attempt under way, if any.
func (c *Committees) Current() *Attempt { return c.cur }

// History returns finished attempts, oldest first.
func (c *Committees) History() []Attempt { return c.history }

// NextAttempt says when the next keygen or regroup attempt starts.
func (c *Committees) NextAttempt() (events.Time, bool) {
	if !c.Locked() {
		epoch := int64(c.params.KeygenEpoch)
		next := events.Time((int64(c.now)/epoch + 1) * epoch)
		return next, false
	}
	day := int64(c.params.RegroupInterval)
	return events.Time((int64(c.now)/day + 1) * day), true
}

// Apply implements Projection.
func (c *Committees) Apply(seq uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		c.params, c.self = e.Params, e.Params.NodeID
	case *events.Tick:
		c.tick(e.Time)
	case *events.KeygenCommitReceived:
		c.onCommit(seq, &e.Msg)
	case *events.TSSMessageReceived:
		c.onTSSMessage(&e.Msg)
	case *events.KeyAnnouncementReceived:
		c.onAnnouncement(seq, &e.Msg)
	case *events.KeyPublished:
		if !e.Session.IsZero() {
			c.onOwnKey(seq, e)
		}
	case *events.CulpritReportReceived:
		c.onCulpritReport(seq, &e.Msg)
	case *events.MessageSent:
		if e.Msg.Type == events.TypeKeygenCommit && e.Msg.From == c.self {
			if c.cur != nil {
				c.cur.SentCommit = true
			}
			c.onCommit(seq, &e.Msg)
		}
		if e.Msg.Type == events.TypeCulprits && e.Msg.From == c.self {
			c.onCulpritReport(seq, &e.Msg) // its own report counts among the t+1
		}
		if e.Msg.Type == events.TypeKey && e.Msg.From == c.self {
			c.onAnnouncement(seq, &e.Msg) // counted already, as its KeyPublished: marks it sent
		}
	case *events.TSSSessionStarted:
		if c.cur != nil && e.Protocol != events.SessionSigning && e.Session == c.cur.Sum {
			nonce := e.Session
			c.cur.Session = &nonce
			c.cur.Outcome = "running"
		}
	case *events.TSSSessionFinished:
		if c.cur != nil && c.cur.Session != nil && *c.cur.Session == e.Session {
			if e.Outcome == events.OutcomeSuccess {
				c.cur.Outcome = "success"
			} else {
				c.cur.Outcome, c.cur.Reason, c.cur.Culprits = "failed", "tss session "+e.Outcome.String()+": "+e.Error, e.Culprits
			}
			c.finish()
		}
	}
}

func (c *Committees) tick(now events.Time) {
	c.now = now
	if c.params.KeygenEpoch <= 0 || c.params.RegroupInterval <= 0 {
		return
	}
	if c.cur != nil && c.cur.Session == nil && now >= c.commitEnd(c.cur).Add(c.joinGrace()) {
		c.cur.Outcome, c.cur.Reason = "skipped", "commits incomplete or mismatched"
		c.cur.LeftOut = c.faultyCommitters()
		c.finish()
	}
	var period int64
	regroup := c.Locked()
	if regroup {
		period = int64(c.params.RegroupInterval)
	} else {
		period = int64(c.params.KeygenEpoch)
	}
	epoch := int64(now) / period
	if int64(now)%period >= int64(c.params.PingInterval) { // only at the boundary tick
		return
	}
	if c.cur != nil || (len(c.history) > 0 && c.history[len(c.history)-1].Epoch == epoch && c.history[len(c.history)-1].Regroup == regroup) {
		return
	}
	c.open(epoch, regroup)
	c.countEarly()
}

// faultyCommitters are the participants whose commit did not arrive, or
// named another sum, by the end of the commit phase.
func (c *Committees) faultyCommitters() []events.PeerID {
	var out []events.PeerID
	for _, p := range c.cur.Participants() {
		if p == c.self {
			continue // its own commit it sent; if its view differed, others leave it out
		}
		i := slices.IndexFunc(c.cur.Commits, func(r *ChecksumRecord) bool { return r.From == p })
		if i < 0 || c.cur.Commits[i].Sum != c.cur.Sum {
			out = append(out, p)
		}
	}
	return out
}

// disputeMemory is how many past attempts count when a disputant's sit-
// out grows.
const disputeMemory = 16

// leftOut is the peers the next attempt leaves out, by rules every node
// applies alike from what every node receives:
//   - participants whose commit failed the last attempt, and those t+1
//     of its participants reported silent (timeout reports): for one
//     attempt (a peer that was merely late is back after it);
//   - disputants (a reporter of a proof failure nobody confirmed, and
//     the peer it named): for as many attempts as the recent attempts
//     they were disputants in, so a peer that disputes, or is disputed,
//     again and again sits out longer each time.
func (c *Committees) leftOut() []events.PeerID {
	if len(c.history) == 0 {
		return nil
	}
	last := &c.history[len(c.history)-1]
	out := slices.Clone(last.LeftOut)
	for _, t := range last.Reported {
		if t.Timeout && len(t.From) >= c.params.Threshold+1 {
			out = append(out, t.Culprit)
		}
	}
	count := map[events.PeerID]int{}
	lastAgo := map[events.PeerID]int{}
	for k := 0; k < disputeMemory && k < len(c.history); k++ {
		a := &c.history[len(c.history)-1-k]
		var involved []events.PeerID
		for _, d := range a.Disputes {
			if !c.confirmedCulprit(a, d.Culprit) {
				involved = append(involved, d.Reporter, d.Culprit)
			}
		}
		slices.Sort(involved)
		for _, p := range slices.Compact(involved) {
			count[p]++
			if _, seen := lastAgo[p]; !seen {
				lastAgo[p] = k
			}
		}
	}
	for p, n := range count {
		if lastAgo[p] < n {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// confirmedCulprit: t+1 participants reported the peer for a proof failure.
func (c *Committees) confirmedCulprit(a *Attempt, p events.PeerID) bool {
	return slices.ContainsFunc(a.Reported, func(t CulpritTally) bool {
		return t.Culprit == p && !t.Timeout && len(t.From) >= c.params.Threshold+1
	})
}

// disputant: the peer reported a proof failure in the attempt; its
// session stopped there, so others waiting for it is no fault of its own.
func (a *Attempt) disputant(p events.PeerID) bool {
	return slices.ContainsFunc(a.Disputes, func(d Dispute) bool { return d.Reporter == p })
}

// open starts an attempt at the epoch's boundary.
func (c *Committees) open(epoch int64, regroup bool) {
	a := &Attempt{Regroup: regroup, Epoch: epoch, Start: c.now, Outcome: "committing", Excluded: slices.Clone(c.leftOut())}
	excluded := func(p events.PeerID) bool { return slices.Contains(a.Excluded, p) }
	if regroup {
		if _, ok := c.keys.Current(); !ok {
			return // nothing to regroup
		}
		// Local block lists do not exclude anyone from regroup: only
		// evidence every node can verify does.
		eligible := c.peers.List(func(p events.PeerID) bool { return c.blocks.HasEvidenceAgainst(p) || excluded(p) })
		for _, ps := range eligible {
			// The old side must prove its share in its pings: a member
			// that cannot (it lost its share, or pings under another key)
			// would fail the resharing.
			if c.keys.IsMember(ps.ID) && ps.ProvedShare && len(a.Old) < c.params.Threshold+1 {
				a.Old = append(a.Old, ps.ID)
			}
			if len(a.Committee) < c.params.CommitteeSize {
				a.Committee = append(a.Committee, ps.ID)
			}
		}
		if len(a.Old) < c.params.Threshold+1 || len(a.Committee) < c.params.CommitteeSize {
			a.Outcome, a.Reason = "skipped", fmt.Sprintf("%d share holders and %d peers online: too few", len(a.Old), len(a.Committee))
			c.history = append(c.history, *a)
			return
		}
	} else {
		// Keygen honors blocks every node holds alike (evidence, and
		// culprits or timeouts t+1 participants reported), never one only
		// this node's own session or view produced.
		for _, ps := range c.peers.List(func(p events.PeerID) bool { return c.blocks.SharedBlock(p) || excluded(p) }) {
			if len(a.Committee) < c.params.CommitteeSize {
				a.Committee = append(a.Committee, ps.ID)
			}
		}
		if len(a.Committee) < c.params.CommitteeSize {
			a.Outcome, a.Reason = "skipped", fmt.Sprintf("%d peers listed, the committee needs %d", len(a.Committee), c.params.CommitteeSize)
			c.history = append(c.history, *a)
			return
		}
	}
	a.Sum = CommitSum(epoch, regroup, a.Old, a.Committee)
	c.cur = a
}

// attempt finds the attempt whose commit sum is sum: the current one or
// one in the history, latest first.
func (c *Committees) attempt(sum events.Hash) *Attempt {
	if c.cur != nil && c.cur.Sum == sum {
		return c.cur
	}
	for i := len(c.history) - 1; i >= 0; i-- {
		if c.history[i].Sum == sum {
			return &c.history[i]
		}
	}
	return nil
}

// onAnnouncement tallies a committee member's announcement of the key
// its attempt made.
func (c *Committees) onAnnouncement(seq uint64, m *events.Signed) {
	var ann events.KeyAnnouncement
	if events.Unmarshal(m.Body, &ann) != nil {
		return
	}
	a := c.attempt(ann.Session)
	if a == nil {
		return
	}
	if m.From == c.self {
		a.SentKey = true
	}
	c.tallyKey(seq, a, m.From, &ann.Key)
}

// onOwnKey tallies the key this node's own session made (its
// KeyPublished) as its own announcement: a member's key becomes current
// by the rule every node applies, not at once (PROTOCOL.md section 5).
func (c *Committees) onOwnKey(seq uint64, key *events.KeyPublished) {
	a := c.attempt(key.Session)
	if a == nil {
		return
	}
	if made, ok := c.tallyKey(seq, a, c.self, key); ok && a.Made == nil {
		a.Made = made
	}
}

// tallyKey counts a committee member's announcement of the key its
// attempt made, and returns the key as tallied (without a session) if it
// counts. The key must be that attempt's: its committee in order, this
// network's threshold, an id that matches its content. When t+1 members
// announced it alike, a node that does not have it yet adopts it (a
// member, whose own key counts as one announcement; a node outside the
// committee; an old-side member not on the new side; a member whose own
// session failed), and an attempt this node only watched is recorded as
// a success.
func (c *Committees) tallyKey(seq uint64, a *Attempt, from events.PeerID, announced *events.KeyPublished) (*events.KeyPublished, bool) {
	if a.Sum == (events.Hash{}) || !slices.Contains(a.Committee, from) {
		return nil, false
	}
	key := *announced
	key.Session = events.Hash{} // alike is the public data; the session is the attempt's
	if key.Threshold != c.params.Threshold || len(key.PublicKey) == 0 || len(key.SharePoints) != len(a.Committee) ||
		key.KeyID != events.KeyIDOf(key.PublicKey, key.SharePoints) {
		return nil, false
	}
	for i, sp := range key.SharePoints {
		if sp.Peer != a.Committee[i] {
			return nil, false
		}
	}
	i := slices.IndexFunc(a.Announced, func(t KeyTally) bool { return t.KeyID == key.KeyID && t.Address == key.Address })
	if i < 0 {
		a.Announced = append(a.Announced, KeyTally{KeyID: key.KeyID, Address: key.Address})
		i = len(a.Announced) - 1
	}
	tally := &a.Announced[i]
	if slices.Contains(tally.From, from) {
		return &key, true
	}
	tally.From = append(tally.From, from)
	tally.Seqs = append(tally.Seqs, seq)
	if len(tally.From) < c.params.Threshold+1 || c.keys.Known(key.KeyID) {
		return &key, true
	}
	c.keys.adopt(&key)
	if a.Session == nil && a.Outcome != "success" {
		a.Outcome, a.Reason = "success", "announced by t+1 committee members"
		if a == c.cur {
			c.finish()
		}
	}
	return &key, true
}

// onCulpritReport tallies a participant's report that the attempt's
// session failed on tss-lib's proof checks naming culprits, or timed out
// waiting for them. The failed message was sealed to the reporter, so no
// other node can check it; a culprit that t+1 participants report is
// blocked here too, for the reported reason (a culprit block, which
// regroup honors; a timeout block, which only keygen does), so every node
// leaves it out of the next committee, not only those that took part.
// With at most t byzantine participants, t+1 reports include an honest
// one.
func (c *Committees) onCulpritReport(seq uint64, m *events.Signed) {
	var r events.CulpritReport
	if events.Unmarshal(m.Body, &r) != nil {
		return
	}
	a := c.attempt(r.Session)
	if a == nil || a.Sum == (events.Hash{}) {
		return
	}
	participants := a.Participants()
	if !slices.Contains(participants, m.From) {
		return
	}
	kind := "keygen"
	if a.Regroup {
		kind = "regroup"
	}
	for _, culprit := range slices.Compact(slices.Sorted(slices.Values(r.Culprits))) {
		if culprit == m.From || !slices.Contains(participants, culprit) {
			continue
		}
		if r.Timeout && a.disputant(culprit) {
			continue // it stopped on a failure it reported: not silent
		}
		// One dispute per reporter and attempt: a liar cannot sit the
		// whole committee out with one report.
		if !r.Timeout && !a.disputant(m.From) {
			a.Disputes = append(a.Disputes, Dispute{Reporter: m.From, Culprit: culprit})
		}
		i := slices.IndexFunc(a.Reported, func(t CulpritTally) bool { return t.Culprit == culprit && t.Timeout == r.Timeout })
		if i < 0 {
			a.Reported = append(a.Reported, CulpritTally{Culprit: culprit, Timeout: r.Timeout})
			i = len(a.Reported) - 1
		}
		tally := &a.Reported[i]
		if slices.Contains(tally.From, m.From) {
			continue
		}
		tally.From = append(tally.From, m.From)
		tally.Seqs = append(tally.Seqs, seq)
		// t+1 reports of silence leave the peer out of the next attempt
		// (leftOut) but block nobody: a participant that never started
		// (a commit that reached it a moment too late) looks the same.
		reason := BlockCulprit
		if r.Timeout {
			continue
		}
		if len(tally.From) == c.params.Threshold+1 && !c.blocks.sharedBlockFor(culprit, reason) {
			c.blocks.Add(Block{Peer: culprit, Reason: reason, Evidence: slices.Clone(tally.Seqs), Round: a.Epoch,
				Note: fmt.Sprintf("reported by %d participants of %s epoch %d", len(tally.From), kind, a.Epoch)})
		}
	}
}

func (c *Committees) finish() {
	c.history = append(c.history, *c.cur)
	c.cur = nil
	if len(c.history) > maxAttempts {
		c.history = slices.Delete(c.history, 0, len(c.history)-maxAttempts)
	}
}

// CommitSum is H(epoch || committee ids); a regroup's includes its old
// side. Ids are length-prefixed, in seniority order.
func CommitSum(epoch int64, regroup bool, old, committee []events.PeerID) events.Hash {
	h := sha512.New512_256()
	kind := "keygen"
	if regroup {
		kind = "regroup"
	}
	h.Write([]byte(kind))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(epoch)))
	for _, list := range [][]events.PeerID{old, committee} {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(list))))
		writeIDs(h, list)
	}
	var out events.Hash
	h.Sum(out[:0])
	return out
}

func (c *Committees) onCommit(seq uint64, m *events.Signed) {
	var k events.KeygenCommit
	if events.Unmarshal(m.Body, &k) != nil {
		return
	}
	if c.cur == nil || k.Epoch != c.cur.Epoch || k.Regroup != c.cur.Regroup {
		c.keepEarly(seq, m, &k)
		return
	}
	if !slices.Contains(c.cur.Participants(), m.From) {
		return
	}
	for _, prev := range c.cur.Commits {
		if prev.From == m.From {
			if !bytes.Equal(prev.Msg.Body, m.Body) {
				c.blocks.Equivocated(prev.Seq, seq, &prev.Msg, m, 2*k.Epoch+boolInt(k.Regroup), "two different commits for one attempt")
			}
			return
		}
	}
	c.cur.Commits = append(c.cur.Commits, &ChecksumRecord{Seq: seq, From: m.From, Sum: k.Sum, Msg: *m})
	if k.Sum != c.cur.Sum {
		c.cur.Mismatched = append(c.cur.Mismatched, m.From)
	}
}

// keepEarly keeps a commit for an attempt this node has not opened yet
// (its clock is behind the sender's), to count when it opens: for the
// next epoch of either kind, bounded per sender.
func (c *Committees) keepEarly(seq uint64, m *events.Signed, k *events.KeygenCommit) {
	period := c.params.KeygenEpoch
	if k.Regroup {
		period = c.params.RegroupInterval
	}
	if period <= 0 {
		return
	}
	start := events.Time(k.Epoch * int64(period))
	if start <= c.now.Add(-c.params.MaxClockSkew) || start.Sub(c.now) > c.params.MaxClockSkew+c.params.PingInterval {
		return // not an attempt about to open here
	}
	held := 0
	for _, e := range c.early {
		if e.Msg.From == m.From {
			held++
		}
	}
	if held < maxEarlyCommits {
		c.early = append(c.early, EarlyMessage{Seq: seq, Msg: *m})
	}
}

// countEarly counts the kept commits of the attempt just opened.
func (c *Committees) countEarly() {
	early := c.early
	c.early = nil
	if c.cur == nil {
		return
	}
	for i := range early {
		c.onCommit(early[i].Seq, &early[i].Msg)
	}
}

// commitsComplete: every participant committed to our sum.
func (c *Committees) commitsComplete() bool {
	a := c.cur
	if a == nil || len(a.Mismatched) > 0 {
		return false
	}
	for _, p := range a.Participants() {
		if !slices.ContainsFunc(a.Commits, func(r *ChecksumRecord) bool { return r.From == p }) {
			return false
		}
	}
	return true
}

// NodeState is Keygen or Regroup while this node's session runs.
func (c *Committees) NodeState() (events.NodeState, bool) {
	if c.cur == nil || c.cur.Session == nil {
		return events.StateIdle, false
	}
	if c.cur.Regroup {
		return events.StateRegroup, true
	}
	return events.StateKeygen, true
}

// keyDuties: the key this node's latest session made is to be
// announced, once, so the nodes outside the committee, and the other
// members, can count it (a node that stopped between making the key and
// sending it sends it after its restart).
func (c *Committees) keyDuties() []Duty {
	for i := len(c.history); i >= 0; i-- {
		a := c.cur
		if i < len(c.history) {
			a = &c.history[i]
		}
		if a == nil || a.Made == nil {
			continue
		}
		if a.SentKey {
			return nil
		}
		return []Duty{{Kind: DutySendKeyAnnouncement, KeyAnnouncement: events.KeyAnnouncement{Session: a.Sum, Key: *a.Made}}}
	}
	return nil
}

// OwnKeysPending lists the keys this node made (its own sessions') that
// are not current yet: t+1 members have not announced them alike. Its
// shares of them wait in the share store.
func (c *Committees) OwnKeysPending() []*events.KeyPublished {
	var out []*events.KeyPublished
	for i := range c.history {
		if made := c.history[i].Made; made != nil && !c.keys.Known(made.KeyID) {
			out = append(out, made)
		}
	}
	if c.cur != nil && c.cur.Made != nil && !c.keys.Known(c.cur.Made.KeyID) {
		out = append(out, c.cur.Made)
	}
	return out
}

func (c *Committees) duties() []Duty {
	duties := c.keyDuties()
	a := c.cur
	if a == nil || !slices.Contains(a.Participants(), c.self) {
		return duties
	}
	if !a.SentCommit {
		duties = append(duties, Duty{Kind: DutySendKeygenCommit, KeygenCommit: events.KeygenCommit{Epoch: a.Epoch, Regroup: a.Regroup, Sum: a.Sum}})
	}
	onTime := c.commitsComplete() && c.now < c.commitEnd(a)
	if a.Session == nil && (onTime || a.SetStarted) {
		d := Duty{Kind: DutyStartKeygen, Session: a.Sum, Round: a.Epoch, Signers: slices.Clone(a.Committee)}
		if a.Regroup {
			d.Kind, d.OldParties = DutyStartResharing, slices.Clone(a.Old)
		}
		duties = append(duties, d)
	}
	return duties
}

// AppendState implements Projection.
func (c *Committees) AppendState(dst []byte) []byte {
	out, err := events.Marshal(dst, &struct {
		Current *Attempt       `msgpack:"c"`
		History []Attempt      `msgpack:"h"`
		Early   []EarlyMessage `msgpack:"e"`
	}{c.cur, c.history, c.early})
	if err != nil {
		panic(fmt.Sprintf("encode committees state: %v", err))
	}
	return out
}
